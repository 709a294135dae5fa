// Command bench is Gatehouse's load harness. It builds and starts Gatehouse
// on a temporary SQLite database, seeds users, and measures on loopback with
// keep-alive clients:
//
//   - protected GET /me with a Bearer token, login, refresh and register
//     (requests/s, p50, p99);
//   - the limits they are compared with: a bare net/http handler returning a
//     body of the same size as GET /me, and this machine's argon2id hash rate
//     at Gatehouse's parameters;
//   - Gatehouse's resident memory after the run.
//
// It prints a markdown table and writes BENCHMARKS.md and bench/chart.svg.
//
//	go run ./bench            # from the repository root; about a minute
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each scenario runs")
	conns := flag.Int("conns", 32, "concurrent keep-alive connections")
	users := flag.Int("users", 64, "users to seed")
	out := flag.String("out", "BENCHMARKS.md", "report file")
	chart := flag.String("chart", "bench/chart.svg", "chart file")
	postgres := flag.String("postgres", os.Getenv("GATEHOUSE_BENCH_POSTGRES"), "also measure on this PostgreSQL (postgres:// URL; a fresh schema is used and dropped)")
	bareBody := flag.Int("serve-bare", 0, "internal: serve a bare handler with a body of this size")
	flag.Parse()
	if *bareBody > 0 {
		serveBare(*bareBody)
		return
	}
	if err := run(*duration, *conns, *users, *out, *chart, *postgres); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one scenario's measurement.
type result struct {
	Name     string
	Requests int
	Errors   int
	Rate     float64 // per second
	P50, P99 time.Duration
}

func run(duration time.Duration, conns, users int, out, chart, postgres string) error {
	dir, err := os.MkdirTemp("", "gatehouse-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build gatehouse (run from the repository root): %w", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns * 2, MaxConnsPerHost: conns * 2}}
	fmt.Fprintf(os.Stderr, "measuring %s per scenario with %d connections...\n", duration, conns)

	sqlite, err := measureGatehouse(client, bin, filepath.Join(dir, "bench.db"), duration, conns, users, true)
	if err != nil {
		return err
	}
	var pg *backendResult
	if postgres != "" {
		dsn, drop, err := freshSchema(postgres)
		if err != nil {
			return err
		}
		defer drop()
		r, err := measureGatehouse(client, bin, dsn, duration, conns, users, false)
		if err != nil {
			return err
		}
		pg = &r
	}
	hashRate := argon2Rate(duration / 2)
	fmt.Fprintf(os.Stderr, "  argon2id: %.1f hashes/s on %d cores; Gatehouse resident memory after the run: %.0f MB\n",
		hashRate, runtime.GOMAXPROCS(0), sqlite.rssMB)

	report := render(sqlite, pg, hashRate, duration, conns, users)
	fmt.Print(report.table)
	if err := os.WriteFile(out, []byte(report.markdown), 0o644); err != nil {
		return err
	}
	return os.WriteFile(chart, []byte(report.svg), 0o644)
}

// backendResult is one database's run.
type backendResult struct {
	results []result
	rssMB   float64
}

// measureGatehouse starts Gatehouse on db, seeds it and measures it; with
// withBare it measures the bare handler first, on the same machine state.
func measureGatehouse(client *http.Client, bin, db string, duration time.Duration, conns, users int, withBare bool) (backendResult, error) {
	label := "SQLite"
	if strings.HasPrefix(db, "postgres") {
		label = "PostgreSQL"
	}
	fmt.Fprintf(os.Stderr, "%s:\n", label)
	// All load comes from one address, so the per-address limits are lifted;
	// the per-account lockout stays (no login here fails).
	gh, base, err := start(bin, "--addr", "127.0.0.1:0", "--db", db, "--log-format", "json",
		"--limit-login", "100000000/1s", "--limit-register", "100000000/1s", "--limit-refresh", "100000000/1s")
	if err != nil {
		return backendResult{}, err
	}
	defer stop(gh)
	seeded, err := seed(client, base, users)
	if err != nil {
		return backendResult{}, err
	}
	meBody, err := get(client, base+"/me", seeded[0].access)
	if err != nil {
		return backendResult{}, err
	}
	time.Sleep(2 * time.Second) // seeding was a burst of logins: let its memory release finish first

	var results []result
	measure := func(name string, work func(worker int, i int) error) {
		r := load(name, duration, conns, work)
		fmt.Fprintf(os.Stderr, "  %-28s %9.0f/s  p50 %-9s p99 %-9s errors %d\n", name, r.Rate, r.P50, r.P99, r.Errors)
		results = append(results, r)
	}
	if withBare {
		self, err := os.Executable()
		if err != nil {
			return backendResult{}, err
		}
		bare, bareBase, err := start(self, "-serve-bare", fmt.Sprint(len(meBody)))
		if err != nil {
			return backendResult{}, err
		}
		measure("bare net/http handler", func(_, _ int) error { _, err := get(client, bareBase+"/me", ""); return err })
		stop(bare)
	}
	measure("GET /me (Bearer)", func(w, i int) error { _, err := get(client, base+"/me", seeded[(w+i)%len(seeded)].access); return err })
	refresh := make([]string, conns) // one refresh chain per connection, each its own session
	for w := range refresh {
		t, err := login(client, base, seeded[w%len(seeded)])
		if err != nil {
			return backendResult{}, err
		}
		refresh[w] = t.Refresh
	}
	measure("POST /token/refresh", func(w, _ int) error {
		var t tokens
		if err := post(client, base+"/token/refresh", `{"refresh_token":"`+refresh[w]+`"}`, &t); err != nil {
			return err
		}
		refresh[w] = t.Refresh
		return nil
	})
	measure("POST /login", func(w, i int) error { _, err := login(client, base, seeded[(w+i)%len(seeded)]); return err })
	var n atomic.Int64
	measure("POST /register", func(_, _ int) error {
		return post(client, base+"/register", fmt.Sprintf(`{"username":"bench-new-%d","password":"a bench password %d"}`, n.Add(1), n.Load()), nil)
	})
	time.Sleep(2 * time.Second) // "after the run": load has stopped and the server is idle
	return backendResult{results: results, rssMB: residentMB(gh.Process.Pid)}, nil
}

// freshSchema creates a schema for this run and returns a URL that uses it,
// and a function that drops it.
func freshSchema(base string) (string, func(), error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema on -postgres: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() }, nil
}

type seededUser struct{ name, pw, access string }

type tokens struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func seed(c *http.Client, base string, n int) ([]seededUser, error) {
	out := make([]seededUser, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := seededUser{name: fmt.Sprintf("bench-%d", i), pw: fmt.Sprintf("bench password number %d", i)}
			if err := post(c, base+"/register", fmt.Sprintf(`{"username":%q,"password":%q}`, u.name, u.pw), nil); err != nil {
				errs <- fmt.Errorf("seed: %w", err)
				return
			}
			t, err := login(c, base, u)
			if err != nil {
				errs <- fmt.Errorf("seed: %w", err)
				return
			}
			u.access = t.Access
			out[i] = u
		}()
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

func login(c *http.Client, base string, u seededUser) (tokens, error) {
	var t tokens
	err := post(c, base+"/login", fmt.Sprintf(`{"username":%q,"password":%q}`, u.name, u.pw), &t)
	return t, err
}

func post(c *http.Client, url, body string, into any) error {
	for {
		resp, err := c.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable { // hashing pool full: told to retry
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
		}
		if into != nil {
			return json.Unmarshal(b, into)
		}
		return nil
	}
}

func get(c *http.Client, url, bearer string) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b, err
}

// load runs work on conns workers for d and collects latencies. A request
// answered 503 (hashing pool full) is retried inside work and counted once,
// with its whole latency, as a client would experience it.
func load(name string, d time.Duration, conns int, work func(worker, i int) error) result {
	deadline := time.Now().Add(d)
	lat := make([][]time.Duration, conns)
	errs := make([]int, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				t := time.Now()
				if err := work(w, i); err != nil {
					errs[w]++
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := result{Name: name, Requests: len(all)}
	for _, e := range errs {
		r.Errors += e
	}
	if len(all) > 0 {
		r.Rate = float64(len(all)) / elapsed.Seconds()
		r.P50, r.P99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// argon2Rate is this machine's argon2id hashes per second at Gatehouse's
// parameters with every core hashing: the physical limit of login.
func argon2Rate(d time.Duration) float64 {
	h, err := password.NewHasher(password.Options{Queue: 1 << 16, MaxWait: time.Hour})
	if err != nil {
		return 0
	}
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := h.Hash(context.Background(), "bench password"); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// start runs a server process and waits for the address it prints.
func start(bin string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, args...) // its logs go to the null device
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr := regexp.MustCompile(`serving on (http://\S+)`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			return cmd, m[1], nil
		}
	}
	stop(cmd)
	return nil, "", fmt.Errorf("%s did not start", bin)
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
	}
}

// serveBare is the limit GET /me is compared with: net/http returning a
// body of the same size, doing nothing else.
func serveBare(size int) {
	body := bytes.Repeat([]byte("x"), size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	fmt.Printf("bare handler serving on http://%s\n", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
}

// residentMB reads a process's resident set size from /proc.
func residentMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	var kb float64
	if m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b); m != nil {
		fmt.Sscan(string(m[1]), &kb)
	}
	return kb / 1024
}
