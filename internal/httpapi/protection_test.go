package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

func withDefaultLimits(c *app.Config) {
	p := ratelimit.DefaultPolicy()
	c.Limits = &p
}

func retryAfter(t *testing.T, w *httptest.ResponseRecorder) int {
	t.Helper()
	n, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q on a 429", w.Header().Get("Retry-After"))
	}
	return n
}

func TestAddressLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDefaultLimits)
	// 20 login attempts a minute per address, whatever the route or format.
	for i := range 20 {
		var w *httptest.ResponseRecorder
		switch i % 3 {
		case 0:
			w = h.do(req{method: "POST", path: "/login", body: `{"email":"x@example.com","password":"nope nope"}`})
		case 1:
			w = h.do(req{method: "POST", path: "/set-jwt", headers: basic("x", "nope nope")})
		default:
			w = h.do(req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded", body: "identifier=x&password=nope"})
		}
		if w.Code == 429 { // the per-account lock on "x" comes first for some of them
			continue
		}
		if w.Code != 401 {
			t.Fatalf("attempt %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`})
	if w.Code != 429 || errorCode(w) != "too_many_requests" {
		t.Fatalf("21st attempt from one address: %d %s", w.Code, w.Body)
	}
	if n := retryAfter(t, w); n > 3 {
		t.Fatalf("Retry-After %d s for a 20/min bucket", n)
	}
	h.clock.Advance(3 * time.Second)
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}); w.Code != 200 {
		t.Fatalf("after the bucket refilled: %d %s", w.Code, w.Body)
	}
	// Other actions have their own buckets.
	if w := h.do(req{method: "POST", path: "/token/refresh", body: `{"refresh_token":"` + h.tokens["bob"].RefreshToken + `"}`}); w.Code != 200 {
		t.Fatalf("refresh limited by logins: %d", w.Code)
	}
}

func TestRegisterLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDefaultLimits)
	for i := range 20 {
		if w := h.do(req{method: "POST", path: "/register", body: fmt.Sprintf(`{"username":"user%d","password":"a fine long password"}`, i)}); w.Code != 201 {
			t.Fatalf("sign-up %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := h.do(req{method: "POST", path: "/signup", body: `{"username":"one-more","password":"a fine long password"}`})
	if w.Code != 429 {
		t.Fatalf("21st sign-up in an hour: %d", w.Code)
	}
	retryAfter(t, w)
}

func TestTrustedProxyDecidesTheAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withDefaultLimits, func(c *app.Config) {
		c.TrustedProxies = mustPrefixes("192.0.2.0/24") // httptest's peer address
	})
	// Behind the trusted proxy, each forwarded client has its own bucket.
	for i := range 25 {
		w := h.do(req{method: "POST", path: "/login", body: `{"email":"nobody@example.com","password":"nope nope"}`,
			headers: map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}})
		if w.Code == 429 && strings.Contains(w.Body.String(), "address") {
			t.Fatalf("client %d limited by the proxy's address", i)
		}
	}
}

func TestAccountLockout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *app.Config) {
		p := unlimited
		p.Lockout = ratelimit.DefaultPolicy().Lockout
		c.Limits = &p
	})
	wrong := func(ident string) *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/login", body: `{"identifier":"` + ident + `","password":"wrong guess here"}`})
	}
	// Five failures, alternating email and username: one account, one count.
	for i := range 5 {
		ident := "ann@example.com"
		if i%2 == 1 {
			ident = "ANN"
		}
		if w := wrong(ident); w.Code != 401 {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	if w := wrong("ann"); w.Code != 401 { // the 6th failure starts a 1 s lock
		t.Fatalf("6th failure: %d", w.Code)
	}
	// A browser's login form is told the same wait as a JSON client.
	page := h.do(req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
		body: "identifier=ann&password=" + url.QueryEscape(annPassword)})
	if page.Code != 429 || retryAfter(t, page) < 1 {
		t.Fatalf("locked login form: %d %q", page.Code, page.Header().Get("Retry-After"))
	}
	locked := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`})
	if locked.Code != 429 || errorCode(locked) != "too_many_requests" {
		t.Fatalf("right password during the lock: %d %s", locked.Code, locked.Body)
	}
	retryAfter(t, locked)
	// An unknown name locks after the same count, with the same answer.
	for range 6 {
		wrong("nobody-at-all")
	}
	unknown := wrong("nobody-at-all")
	if unknown.Code != 429 || unknown.Body.String() != locked.Body.String() {
		t.Fatalf("unknown name locked differently: %d %s vs %s", unknown.Code, unknown.Body, locked.Body)
	}
	// The lock expires: the owner gets in.
	h.clock.Advance(2 * time.Second)
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"` + annPassword + `"}`}); w.Code != 200 {
		t.Fatalf("after the lock expired: %d %s", w.Code, w.Body)
	}
	// Bob's account was never touched.
	if w := h.do(req{method: "POST", path: "/login", body: `{"email":"bob@example.com","password":"` + bobPassword + `"}`}); w.Code != 200 {
		t.Fatalf("another account locked: %d", w.Code)
	}
}

// withProductionHashing uses argon2id at Gatehouse's real parameters, so that
// timing and memory are what they are in production.
func withProductionHashing(c *app.Config) { c.Hashing = password.Options{} }

func TestEnumerationResistance(t *testing.T) {
	h := newHarness(t, withProductionHashing)
	h.do(req{method: "PATCH", path: "/users/ID:bob", as: "admin", body: `{"disabled":true}`})
	attempts := map[string]req{
		"unknown user":     {method: "POST", path: "/login", body: `{"email":"nobody@example.com","password":"` + annPassword + `"}`},
		"wrong password":   {method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"not ann's password"}`},
		"disabled account": {method: "POST", path: "/login", body: `{"email":"bob@example.com","password":"` + bobPassword + `"}`},
	}
	const rounds = 15
	durations := map[string][]time.Duration{}
	var reference *httptest.ResponseRecorder
	for range rounds { // interleaved, so drift in machine load hits all three alike
		for name, r := range attempts {
			start := time.Now()
			w := h.do(r)
			durations[name] = append(durations[name], time.Since(start))
			if reference == nil {
				reference = w
			}
			if w.Code != reference.Code || w.Body.String() != reference.Body.String() || !sameHeaders(w, reference) {
				t.Fatalf("%s answered %d %s %v; unknown user answered %d %s %v", name, w.Code, w.Body, w.Header(), reference.Code, reference.Body, reference.Header())
			}
		}
	}
	if reference.Code != 401 {
		t.Fatalf("status %d, want 401", reference.Code)
	}
	base := median(durations["wrong password"])
	for name, d := range durations {
		m := median(d)
		t.Logf("%-16s median %6s (min %s, max %s)", name, m.Round(time.Microsecond), slices.Min(d).Round(time.Microsecond), slices.Max(d).Round(time.Microsecond))
		// Without the dummy hash an unknown user answers ~100x faster; equal
		// work keeps the medians within noise of each other.
		if ratio := float64(m) / float64(base); ratio < 0.6 || ratio > 1.67 {
			t.Errorf("%s median %s vs wrong password %s: timing tells them apart", name, m, base)
		}
	}
}

func sameHeaders(a, b *httptest.ResponseRecorder) bool {
	strip := func(w *httptest.ResponseRecorder) map[string][]string {
		h := w.Header().Clone()
		h.Del("X-Request-Id") // random per request
		return h
	}
	return fmt.Sprint(strip(a)) == fmt.Sprint(strip(b))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestConcurrentLoginsStayWithinMemoryBound(t *testing.T) {
	h := newHarness(t, withProductionHashing)
	srv := httptest.NewServer(h.app.Handler)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample the heap while the logins run
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	const n = 256
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(srv.URL+"/login", "application/json",
				strings.NewReader(`{"email":"ann@example.com","password":"`+annPassword+`"}`))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	growth := (peak.Load() - min(peak.Load(), before.HeapInuse)) >> 20
	workers := runtime.GOMAXPROCS(0)
	t.Logf("%d concurrent logins: %v; heap in use grew by %d MiB at peak (%d hashing workers × 19 MiB each)", n, count, growth, workers)
	if count[200]+count[503] != n {
		t.Fatalf("answers %v: every login must succeed or be told to retry", count)
	}
	// Unbounded, 256 concurrent argon2id hashes would need 256 × 19 MiB = 4.75 GiB.
	// Bounded, the workers' 19 MiB each plus garbage the collector has not
	// reclaimed yet, and the requests themselves.
	if limit := uint64(workers*19*3 + 64); growth > limit {
		t.Fatalf("heap grew by %d MiB, bound %d MiB", growth, limit)
	}
}
