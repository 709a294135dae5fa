package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
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
