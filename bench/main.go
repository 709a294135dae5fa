// Command bench is Gatehouse's load harness. It builds and starts Gatehouse
// on a temporary SQLite database, seeds users, and measures on loopback with
// keep-alive clients:
//
//   - protected GET /me with a Bearer token, login, refresh and register,
//     and a service client's client_credentials grant (client_secret_basic,
//     and private_key_jwt: an assertion signed per request, its jti stored)
//     (requests/s, p50, p99, and the CPU time per request of the server
//     process and of the load generator), and login with 8 connections on
//     one account (what a load test or a shared demo account does: its
//     429 answers are counted);
//   - the limits they are compared with: a bare net/http handler returning a
//     body of the same size as GET /me, and this machine's argon2id hash rate
//     at Gatehouse's parameters;
//   - the refresh scenario again with --sqlite-synchronous NORMAL, beside the
//     default FULL, and the raw SQLite ceiling for a one-row update
//     transaction under both (same driver and pragmas);
//   - the refresh scenario again with a token hook (--hook-token-url) served
//     by this process on loopback, answering at once: what the hook's call
//     costs every token (its own CPU is in the load generator's column);
//   - Gatehouse's start-up time and resident memory after the run;
//   - with -scale, GET /me, refresh, login, start-up and memory again on a
//     database seeded (straight into SQLite, cached under bench/out/) with
//     -scale-users users and two sessions per user.
//
// It prints a markdown table and writes BENCHMARKS.md and bench/chart.svg.
//
//	go run ./bench                          # from the repository root; a few minutes
//	go run ./bench -scale                   # and the million-user scenario (~2 GB, seeded once)
//	go run ./bench -only refresh -duration 3s   # a quick A/B of one scenario; writes nothing
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	"github.com/golang-jwt/jwt/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	flag.IntVar(&o.conns, "conns", 32, "concurrent keep-alive connections")
	flag.IntVar(&o.users, "users", 64, "users to seed")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report file")
	flag.StringVar(&o.chart, "chart", "bench/chart.svg", "chart file")
	flag.StringVar(&o.postgres, "postgres", os.Getenv("GATEHOUSE_BENCH_POSTGRES"), "also measure on this PostgreSQL (postgres:// URL; a fresh schema is used and dropped)")
	only := flag.String("only", "", "comma-separated scenarios to run (bare, me, introspect, refresh, login, login1, register, cc, ccjwt, normal, hook, raw, argon2, scale); "+
		"set, it prints the table and writes no report: for quick A/B runs")
	flag.BoolVar(&o.scale, "scale", false, "also run the scale scenario (seeds -scale-users and -scale-sessions straight into SQLite once, cached under bench/out/; the full size takes ~2 GB and some minutes)")
	flag.IntVar(&o.scaleUsers, "scale-users", 1_000_000, "users of the scale scenario")
	flag.IntVar(&o.scaleSessions, "scale-sessions", 0, "sessions of the scale scenario (default: two per user)")
	flag.StringVar(&o.synchronous, "sqlite-synchronous", "", "Gatehouse's --sqlite-synchronous for the SQLite runs (default: Gatehouse's default)")
	flag.StringVar(&o.baseline, "baseline", "", "also measure refresh on Gatehouse built from these git revisions (comma-separated; e.g. the commit before group commit), in the same run")
	flag.StringVar(&o.note, "note", "", "a paragraph to put under the report's title (e.g. how loaded the machine was)")
	flag.StringVar(&o.tags, "tags", "", "build tags for Gatehouse (pprof: profiles on 127.0.0.1:6060 while it runs)")
	bareBody := flag.Int("serve-bare", 0, "internal: serve a bare handler with a body of this size")
	flag.Parse()
	if *bareBody > 0 {
		serveBare(*bareBody)
		return
	}
	if o.scaleSessions == 0 {
		o.scaleSessions = 2 * o.scaleUsers
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, k := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(k)] = true
		}
		o.scale = o.scale || o.only["scale"]
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	duration                  time.Duration
	conns, users              int
	out, chart, postgres      string
	only                      map[string]bool // nil: everything
	scale                     bool
	scaleUsers, scaleSessions int
	synchronous               string
	tags                      string
	baseline                  string
	note                      string
}

// runs reports whether scenario key is to be measured.
func (o options) runs(key string) bool { return o.only == nil || o.only[key] }

// baselines are the revisions of -baseline.
func (o options) baselines() []string {
	if o.baseline == "" {
		return nil
	}
	return strings.Split(o.baseline, ",")
}

// result is one scenario's measurement.
type result struct {
	Name     string
	Requests int
	Errors   int
	Refused  int     // of the errors, answers 429 too_many_requests
	Rate     float64 // per second
	P50, P99 time.Duration
	// CPU time per request over the scenario's window, of the server
	// process and of the load generator (this process); 0: not measured.
	ServerCPU, LoadCPU time.Duration
}

// figures is everything one run measured.
type figures struct {
	sqlite, pg, scale *backendResult
	hashRate          float64
	raw               map[string]float64 // synchronous → one-row update transactions/s
	o                 options
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "gatehouse-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-tags", o.tags, "-o", bin, "./cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build gatehouse (run from the repository root): %w", err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.conns * 2, MaxConnsPerHost: o.conns * 2}}
	fmt.Fprintf(os.Stderr, "measuring %s per scenario with %d connections...\n", o.duration, o.conns)
	f := figures{o: o, raw: map[string]float64{}}

	if o.runs("raw") {
		for _, mode := range []string{"FULL", "NORMAL"} {
			r, err := rawSQLite(filepath.Join(dir, "raw-"+mode+".db"), mode, o.duration/2)
			if err != nil {
				return err
			}
			f.raw[mode] = r
			fmt.Fprintf(os.Stderr, "  raw SQLite, one-row update transactions (synchronous=%s): %.0f/s\n", mode, r)
		}
	}
	// The introspection scenario's client calls from one address: its
	// per-address bucket is lifted like the others (baselines predate the flag).
	sqliteArgs := []string{"--limit-client", "100000000/1s"}
	if o.synchronous != "" {
		sqliteArgs = append(sqliteArgs, "--sqlite-synchronous", o.synchronous)
	}
	sqliteDB := filepath.Join(dir, "bench.db")
	if r, err := measureGatehouse(client, bin, sqliteDB, o, run1{label: "SQLite", withBare: true, register: true, args: sqliteArgs}); err != nil {
		return err
	} else {
		f.sqlite = &r
	}
	if o.runs("normal") {
		// The same database restarted with synchronous=NORMAL: what FULL costs.
		r, err := measureGatehouse(client, bin, sqliteDB, o, run1{label: "SQLite, synchronous=NORMAL", only: []string{"refresh"},
			suffix: " (synchronous=NORMAL)", args: []string{"--sqlite-synchronous", "NORMAL"}})
		if err != nil {
			return err
		}
		f.sqlite.results = append(f.sqlite.results, r.results...)
	}
	if o.runs("hook") {
		// The same database restarted with a token hook: what calling it costs.
		hookURL, secretFile, stopHook, err := startTokenHook(dir)
		if err != nil {
			return err
		}
		r, err := measureGatehouse(client, bin, sqliteDB, o, run1{label: "SQLite, token hook", only: []string{"refresh"},
			suffix: " (token hook)", args: append(slices.Clone(sqliteArgs), "--hook-token-url", hookURL,
				"--hook-token-secret-file", secretFile, "--webhook-allow-private")})
		stopHook()
		if err != nil {
			return err
		}
		f.sqlite.results = append(f.sqlite.results, r.results...)
	}
	baselines := map[string]string{} // revision → its gatehouse binary
	for _, rev := range o.baselines() {
		old, err := buildRevision(dir, rev)
		if err != nil {
			return err
		}
		baselines[rev] = old
		r, err := measureGatehouse(client, old, filepath.Join(dir, "baseline-"+rev+".db"), o, run1{label: "SQLite, Gatehouse at " + rev,
			only: []string{"me", "refresh"}, register: true, suffix: " (before: " + rev + ")"})
		if err != nil {
			return err
		}
		f.sqlite.results = append(f.sqlite.results, r.results...)
	}
	if o.postgres != "" {
		dsn, drop, err := freshSchema(o.postgres)
		if err != nil {
			return err
		}
		defer drop()
		r, err := measureGatehouse(client, bin, dsn, o, run1{label: "PostgreSQL", register: true, args: []string{"--limit-client", "100000000/1s"}})
		if err != nil {
			return err
		}
		f.pg = &r
		for _, rev := range o.baselines() {
			dsn, drop, err := freshSchema(o.postgres)
			if err != nil {
				return err
			}
			r, err := measureGatehouse(client, baselines[rev], dsn, o, run1{label: "PostgreSQL, Gatehouse at " + rev,
				only: []string{"refresh"}, register: true, suffix: " (before: " + rev + ")"})
			drop()
			if err != nil { // e.g. a revision from before --master-key-file
				fmt.Fprintf(os.Stderr, "  not measured on PostgreSQL: %v\n", err)
				continue
			}
			f.pg.results = append(f.pg.results, r.results...)
		}
	}
	if o.scale {
		db, err := scaleDB(bin, o.scaleUsers, o.scaleSessions)
		if err != nil {
			return err
		}
		r, err := measureGatehouse(client, bin, db, o, run1{label: fmt.Sprintf("SQLite with %d users, %d sessions", o.scaleUsers, o.scaleSessions),
			only: []string{"me", "refresh", "login"}, scaleUsers: o.scaleUsers, args: sqliteArgs})
		if err != nil {
			return err
		}
		f.scale = &r
	}
	if o.runs("argon2") {
		f.hashRate = argon2Rate(o.duration / 2)
		fmt.Fprintf(os.Stderr, "  argon2id: %.1f hashes/s on %d cores\n", f.hashRate, runtime.GOMAXPROCS(0))
	}

	report := render(f)
	fmt.Print(report.table)
	if o.only != nil {
		return nil
	}
	if err := os.WriteFile(o.out, []byte(report.markdown), 0o644); err != nil {
		return err
	}
	return os.WriteFile(o.chart, []byte(report.svg), 0o644)
}

// backendResult is one database's run.
type backendResult struct {
	results []result
	rssMB   float64
	startup time.Duration // from the process's start to its first healthy /healthz
}

// run1 says what one start of Gatehouse measures.
type run1 struct {
	label      string
	withBare   bool     // measure the bare handler first, on the same machine state
	register   bool     // seed users through /register (else they exist)
	only       []string // scenarios of this start (default: all that options allow)
	suffix     string   // added to each scenario's name
	scaleUsers int      // the users exist as seeded by the scale scenario
	args       []string
}

func (r run1) runs(o options, key string) bool {
	if len(r.only) > 0 && !slices.Contains(r.only, key) {
		return false
	}
	return o.runs(key) || (r.scaleUsers > 0 && o.only["scale"])
}

// masterKeyFile writes a fresh 32-byte master key, 0600, for one run.
func masterKeyFile() (string, error) {
	f, err := os.CreateTemp("", "gatehouse-bench-*.key")
	if err != nil {
		return "", err
	}
	defer f.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if _, err := f.Write(key); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// measureGatehouse starts Gatehouse on db, seeds it and measures it.
func measureGatehouse(client *http.Client, bin, db string, o options, r1 run1) (backendResult, error) {
	fmt.Fprintf(os.Stderr, "%s:\n", r1.label)
	// All load comes from one address, so the per-address limits are lifted;
	// the per-account lockout stays (no login here fails).
	args := append([]string{"--addr", "127.0.0.1:0", "--db", db, "--log-format", "json",
		"--limit-login", "100000000/1s", "--limit-register", "100000000/1s", "--limit-refresh", "100000000/1s",
		"--limit-client", "100000000/1s"}, r1.args...)
	if strings.HasPrefix(db, "postgres") { // PostgreSQL needs the master key named (SQLite makes <db>.key)
		keyFile, err := masterKeyFile()
		if err != nil {
			return backendResult{}, err
		}
		defer os.Remove(keyFile)
		args = append(args, "--master-key-file", keyFile)
	}
	began := time.Now()
	gh, base, err := start(bin, args...)
	if err != nil {
		return backendResult{}, err
	}
	defer stop(gh)
	if err := healthy(client, base); err != nil {
		return backendResult{}, err
	}
	startup := time.Since(began)
	fmt.Fprintf(os.Stderr, "  start-up %s\n", startup.Round(time.Millisecond))
	var seeded []seededUser
	if r1.scaleUsers > 0 {
		seeded, err = loginSpread(client, base, o.users, r1.scaleUsers)
	} else {
		seeded, err = seed(client, base, o.users, r1.register)
	}
	if err != nil {
		return backendResult{}, err
	}
	meBody, err := get(client, base+"/me", seeded[0].access)
	if err != nil {
		return backendResult{}, err
	}
	time.Sleep(2 * time.Second) // seeding was a burst of logins: let its memory release finish first

	var results []result
	measure := func(name string, server int, work func(worker int, i int) error) {
		r := load(name+r1.suffix, o.duration, o.conns, server, work)
		fmt.Fprintf(os.Stderr, "  %-40s %9.0f/s  p50 %-9s p99 %-9s errors %d%s\n", r.Name, r.Rate, r.P50, r.P99, r.Errors, cpuNote(r))
		results = append(results, r)
	}
	if r1.withBare && r1.runs(o, "bare") {
		self, err := os.Executable()
		if err != nil {
			return backendResult{}, err
		}
		bare, bareBase, err := start(self, "-serve-bare", fmt.Sprint(len(meBody)))
		if err != nil {
			return backendResult{}, err
		}
		measure("bare net/http handler", bare.Process.Pid, func(_, _ int) error { _, err := get(client, bareBase+"/me", ""); return err })
		stop(bare)
	}
	if r1.runs(o, "me") {
		measure("GET /me (Bearer)", gh.Process.Pid, func(w, i int) error { _, err := get(client, base+"/me", seeded[(w+i)%len(seeded)].access); return err })
	}
	if r1.runs(o, "introspect") {
		if err := measureIntrospection(client, bin, db, base, args, seeded, measure, gh.Process.Pid); err != nil {
			return backendResult{}, err
		}
	}
	if r1.runs(o, "refresh") {
		refresh := make([]string, o.conns) // one refresh chain per connection, each its own session
		for w := range refresh {
			t, err := login(client, base, seeded[w%len(seeded)])
			if err != nil {
				return backendResult{}, err
			}
			refresh[w] = t.Refresh
		}
		measure("POST /token/refresh", gh.Process.Pid, func(w, _ int) error {
			var t tokens
			if err := post(client, base+"/token/refresh", `{"refresh_token":"`+refresh[w]+`"}`, &t); err != nil {
				return err
			}
			refresh[w] = t.Refresh
			return nil
		})
	}
	if r1.runs(o, "login") {
		measure("POST /login", gh.Process.Pid, func(w, i int) error { _, err := login(client, base, seeded[(w+i)%len(seeded)]); return err })
	}
	if r1.scaleUsers == 0 && r1.runs(o, "login1") {
		// Every connection logs in to one account with its right password:
		// the lockout must neither refuse these nor let them pile up.
		r := load(oneAccountLogin+r1.suffix, o.duration, oneAccountConns, gh.Process.Pid, func(_, _ int) error { _, err := login(client, base, seeded[0]); return err })
		fmt.Fprintf(os.Stderr, "  %-40s %9.0f/s  p50 %-9s p99 %-9s errors %d (429: %d)%s\n", r.Name, r.Rate, r.P50, r.P99, r.Errors, r.Refused, cpuNote(r))
		results = append(results, r)
	}
	if r1.scaleUsers == 0 && r1.runs(o, "cc") {
		id, secret, err := serviceClient(bin, db)
		if err != nil {
			return backendResult{}, err
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		measure(clientCredentials, gh.Process.Pid, func(_, _ int) error { return grant(client, base+"/oauth/token", basic, "") })
	}
	if r1.scaleUsers == 0 && r1.runs(o, "ccjwt") {
		id, key, err := keyedServiceClient(bin, db)
		if err != nil {
			return backendResult{}, err
		}
		measure(clientCredentialsJWT, gh.Process.Pid, func(_, _ int) error {
			return grant(client, base+"/oauth/token", "", "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="+
				clientAssertion(key, id, base+"/oauth/token"))
		})
	}
	if r1.register && r1.runs(o, "register") {
		var n atomic.Int64
		measure("POST /register", gh.Process.Pid, func(_, _ int) error {
			return post(client, base+"/register", fmt.Sprintf(`{"username":"bench-new-%d","password":"a bench password %d"}`, n.Add(1), n.Load()), nil)
		})
	}
	time.Sleep(2 * time.Second) // "after the run": load has stopped and the server is idle
	rss := residentMB(gh.Process.Pid)
	fmt.Fprintf(os.Stderr, "  resident memory after the run: %.0f MB\n", rss)
	return backendResult{results: results, rssMB: rss, startup: startup}, nil
}

// clientCredentials and clientCredentialsJWT are the scenarios of a
// service client's grants, with its secret and with private_key_jwt.
const (
	clientCredentials    = "POST /oauth/token, client_credentials"
	clientCredentialsJWT = "POST /oauth/token, client_credentials, private_key_jwt"
)

// keyedServiceClient registers a service client with an Ed25519 key
// (private_key_jwt) and returns its id and key.
func keyedServiceClient(bin, db string) (string, ed25519.PrivateKey, error) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	f, err := os.CreateTemp("", "gatehouse-bench-jwks-*.json")
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(f.Name())
	fmt.Fprintf(f, `{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"bench","x":%q}]}`, base64.RawURLEncoding.EncodeToString(pub))
	f.Close()
	out, err := exec.Command(bin, "client", "add", "--db", db, "--service", "--name", "bench signer", "--scopes", "bench:read",
		"--audiences", "https://bench.example", "--jwks-file", f.Name()).Output()
	if err != nil {
		return "", nil, fmt.Errorf("client add --jwks-file: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "client_id: "); ok {
			return v, key, nil
		}
	}
	return "", nil, fmt.Errorf("client add --jwks-file printed no id: %s", out)
}

// clientAssertion signs a fresh private_key_jwt assertion (its own jti).
func clientAssertion(key ed25519.PrivateKey, id, aud string) string {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{Issuer: id, Subject: id, Audience: jwt.ClaimStrings{aud},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()})
	t.Header["kid"] = "bench"
	raw, _ := t.SignedString(key)
	return raw
}

// serviceClient registers a service client with the command line and
// returns its id and secret.
func serviceClient(bin, db string) (id, secret string, err error) {
	args := []string{"client", "add", "--db", db, "--service", "--name", "bench service", "--scopes", "bench:read,bench:write",
		"--audiences", "https://bench.example"}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "", "", fmt.Errorf("client add --service: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "client_id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "client_secret: "); ok {
			secret = v
		}
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("client add --service printed no id and secret: %s", out)
	}
	return id, secret, nil
}

// grant asks for a client_credentials token with client_secret_basic
// (basic) or with the form's extra parameters (an assertion).
func grant(c *http.Client, tokenURL, basic, extra string) error {
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials&scope=bench%3Aread"+extra))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", basic)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"access_token"`)) {
		return &statusError{url: tokenURL, status: resp.StatusCode, body: b}
	}
	return nil
}

// buildRevision builds Gatehouse as it was at rev (git archive into dir).
func buildRevision(dir, rev string) (string, error) {
	src := filepath.Join(dir, "baseline-src-"+rev)
	if err := os.MkdirAll(src, 0o700); err != nil {
		return "", err
	}
	archive := exec.Command("sh", "-c", "git archive \"$0\" | tar -x -C \"$1\"", rev, src)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %w", rev, err)
	}
	bin := filepath.Join(dir, "gatehouse-"+rev)
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Dir, build.Stdout, build.Stderr = src, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build gatehouse at %s: %w", rev, err)
	}
	return bin, nil
}

// healthy waits for /healthz to answer 200.
func healthy(c *http.Client, base string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s/healthz never answered", base)
}

// rawSQLite is the machine's ceiling for what a rotation must do at least:
// one transaction updating one row, committed, on the same driver with the
// pragmas Gatehouse uses (WAL, busy timeout, foreign keys, BEGIN IMMEDIATE)
// and the given synchronous mode, one transaction after another.
func rawSQLite(path, synchronous string, d time.Duration) (float64, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous("+synchronous+")&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
		return 0, err
	}
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		INSERT INTO t SELECT i, 0 FROM n`); err != nil {
		return 0, err
	}
	st, err := db.PrepareContext(ctx, `UPDATE t SET v = v + 1 WHERE id = ?`)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	n := 0
	began := time.Now()
	for deadline := began.Add(d); time.Now().Before(deadline); n++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, n%1000+1); err != nil {
			tx.Rollback()
			return 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(began).Seconds(), nil
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

// loginSpread logs in n of the scale scenario's seeded users, spread over all
// of them.
func loginSpread(c *http.Client, base string, n, users int) ([]seededUser, error) {
	out := make([]seededUser, n)
	for i := range out {
		u := seededUser{name: scaleUserName(i * (users / n)), pw: scaleUserPassword}
		t, err := login(c, base, u)
		if err != nil {
			return nil, fmt.Errorf("scale: %w", err)
		}
		u.access = t.Access
		out[i] = u
	}
	return out, nil
}

// seed registers (when register is set) and logs in n users.
func seed(c *http.Client, base string, n int, register bool) ([]seededUser, error) {
	out := make([]seededUser, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// A few at a time: a login refused 503 by a full hashing pool counts as
	// a failure in the account's lockout, so a burst could lock the seed out.
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			u := seededUser{name: fmt.Sprintf("bench-%d", i), pw: fmt.Sprintf("bench password number %d", i)}
			if register {
				if err := post(c, base+"/register", fmt.Sprintf(`{"username":%q,"password":%q}`, u.name, u.pw), nil); err != nil {
					errs <- fmt.Errorf("seed: %w", err)
					return
				}
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

// statusError is an answer other than 2xx (or 503, which post retries).
type statusError struct {
	url    string
	status int
	body   []byte
}

func (e *statusError) Error() string { return fmt.Sprintf("POST %s: %d %s", e.url, e.status, e.body) }

// oneAccountLogin is the scenario of oneAccountConns connections logging in
// to one account.
const (
	oneAccountLogin = "POST /login, one account"
	oneAccountConns = 8
)

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
			return &statusError{url: url, status: resp.StatusCode, body: b}
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

// load runs work on conns workers for d and collects latencies, and the CPU
// time per request of process server and of this one. A request answered
// 503 (hashing pool full) is retried inside work and counted once, with its
// whole latency, as a client would experience it.
func load(name string, d time.Duration, conns, server int, work func(worker, i int) error) result {
	deadline := time.Now().Add(d)
	lat := make([][]time.Duration, conns)
	errs, refused := make([]int, conns), make([]int, conns)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuNow(server)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				t := time.Now()
				if err := work(w, i); err != nil {
					errs[w]++
					if se, ok := errors.AsType[*statusError](err); ok && se.status == http.StatusTooManyRequests {
						refused[w]++
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuNow(server)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := result{Name: name, Requests: len(all)}
	for w := range errs {
		r.Errors += errs[w]
		r.Refused += refused[w]
	}
	if len(all) > 0 {
		r.Rate = float64(len(all)) / elapsed.Seconds()
		r.P50, r.P99 = all[len(all)/2], all[len(all)*99/100]
	}
	r.ServerCPU, r.LoadCPU = cpu0.perRequest(cpu, len(all))
	return r
}

// cpuNote is the console's CPU figures of r, those measured.
func cpuNote(r result) string {
	s := ""
	if r.ServerCPU > 0 {
		s += "  server " + micros(r.ServerCPU) + "/req"
	}
	if r.LoadCPU > 0 {
		s += "  load generator " + micros(r.LoadCPU) + "/req"
	}
	return s
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
