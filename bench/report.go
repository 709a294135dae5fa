package main

import (
	"fmt"
	"html"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type report struct{ table, markdown, svg string }

func find(rs []result, name string) result {
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	return result{}
}

const tableHead = "| scenario | requests/s | p50 | p99 | errors | server CPU/req | load generator CPU/req |"

func table(rs []result) string {
	var t strings.Builder
	t.WriteString(tableHead + "\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rs {
		t.WriteString(row(r) + "\n")
	}
	return t.String()
}

// row is r's cells of a table.
func row(r result) string {
	return fmt.Sprintf("| %s | %.0f | %s | %s | %d | %s | %s |", r.Name, r.Rate, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors,
		micros(r.ServerCPU), micros(r.LoadCPU))
}

// micros is d in whole microseconds; empty for 0, a figure not measured.
func micros(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func render(f figures) report {
	o := f.o
	var rs []result
	if f.sqlite != nil {
		rs = f.sqlite.results
	}
	pct := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return 100 * a / b
	}
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	limits := func(b *strings.Builder) {
		if f.hashRate > 0 {
			fmt.Fprintf(b, "| argon2id limit (%d cores × hashes/s) | %.1f | | | | | |\n", runtime.GOMAXPROCS(0), f.hashRate)
		}
		for _, mode := range []string{"FULL", "NORMAL"} {
			if r, ok := f.raw[mode]; ok {
				fmt.Fprintf(b, "| raw SQLite limit: one-row update transactions, synchronous=%s | %.0f | | | | | |\n", mode, r)
			}
		}
	}
	var t strings.Builder
	t.WriteString(table(rs))
	limits(&t)
	if f.pg != nil {
		t.WriteString("\nOn PostgreSQL:\n\n" + table(f.pg.results))
	}
	if f.scale != nil {
		fmt.Fprintf(&t, "\nAt scale (%d users, %d sessions):\n\n%s", o.scaleUsers, o.scaleSessions, table(f.scale.results))
	}
	for _, b := range []struct {
		name string
		r    *backendResult
	}{{"SQLite", f.sqlite}, {"PostgreSQL", f.pg}, {"scale", f.scale}} {
		if b.r != nil {
			fmt.Fprintf(&t, "%s: start-up %s, resident memory after the run %.0f MB\n", b.name, b.r.startup.Round(time.Millisecond), b.r.rssMB)
		}
	}

	me, bare := find(rs, "GET /me (Bearer)"), find(rs, "bare net/http handler")
	login, refresh := find(rs, "POST /login"), find(rs, "POST /token/refresh")
	normal := find(rs, "POST /token/refresh (synchronous=NORMAL)")
	var m strings.Builder
	fmt.Fprintf(&m, "# Gatehouse benchmarks\n\nProduced by `%s` (see bench/main.go and README.md, Benchmarks); every figure below comes from one run of it.\n\n", command())
	if o.note != "" {
		m.WriteString("> " + o.note + "\n\n")
	}
	fmt.Fprintf(&m, "| | |\n| --- | --- |\n| machine | %s |\n| Go | %s |\n| commit | %s |\n| date | %s |\n| load | %d keep-alive connections on loopback, %s per scenario, %d seeded users; Gatehouse, the bare handler and the load generator are separate processes sharing the machine |\n\n",
		machine(), runtime.Version(), commit(), time.Now().UTC().Format("2006-01-02 15:04 MST"), o.conns, o.duration, o.users)
	m.WriteString("## Results on SQLite\n\nGatehouse's default `--sqlite-synchronous FULL` (a commit survives power loss), rotations group-committed; the NORMAL row restarts the same server with `--sqlite-synchronous NORMAL`. Each figure sits beside its limit: the bare handler for GET /me, argon2id for login and register, the raw SQLite transaction rate (same driver and pragmas, one transaction after another) for refresh. " +
		"The CPU columns are the CPU time per request of the server process and of the load generator over the scenario's window: steadier than requests/s on this shared machine, and server CPU per request × requests/s is how much of the cores the server had.\n\n" + table(rs))
	limits(&m)
	if f.sqlite != nil {
		fmt.Fprintf(&m, "\nStart-up: **%s**; resident memory after the run: **%.0f MB**.\n\n", f.sqlite.startup.Round(time.Millisecond), f.sqlite.rssMB)
	}
	if f.pg != nil {
		m.WriteString("## The same scenarios on PostgreSQL\n\nPostgreSQL 15 on the same machine (its server shares the two cores), a fresh schema, Gatehouse's pool of 20 connections, four group-commit lanes; the server CPU column is Gatehouse's alone, not PostgreSQL's.\n\n" + table(f.pg.results))
		fmt.Fprintf(&m, "\nStart-up: **%s**; resident memory after the run: **%.0f MB**.\n\n", f.pg.startup.Round(time.Millisecond), f.pg.rssMB)
	}
	if f.scale != nil {
		fmt.Fprintf(&m, "## At scale\n\n%d users and %d sessions (each with a spent and a live refresh-token row) written straight into the SQLite file (`-scale`, cached under bench/out/), then the same scenarios against it; the ratio is to the small database above.\n\n", o.scaleUsers, o.scaleSessions)
		m.WriteString(tableHead + " of the small database |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range f.scale.results {
			fmt.Fprintf(&m, "%s %.0f%% |\n", row(r), pct(r.Rate, find(rs, r.Name).Rate))
		}
		fmt.Fprintf(&m, "\nStart-up: **%s**; resident memory after the run: **%.0f MB**.\n\n", f.scale.startup.Round(time.Millisecond), f.scale.rssMB)
	}
	m.WriteString("## Against the targets\n\n| target | measured | |\n| --- | --- | --- |\n")
	fmt.Fprintf(&m, "| protected GET /me ≥ 85%% of the bare handler | %.0f%% (%.0f vs %.0f req/s) | %s |\n", pct(me.Rate, bare.Rate), me.Rate, bare.Rate, mark(pct(me.Rate, bare.Rate) >= 85))
	fmt.Fprintf(&m, "| login ≥ 90%% of the argon2id limit | %.0f%% (%.1f vs %.1f/s) | %s |\n", pct(login.Rate, f.hashRate), login.Rate, f.hashRate, mark(pct(login.Rate, f.hashRate) >= 90))
	if one := find(rs, oneAccountLogin); one.Requests+one.Errors > 0 {
		fmt.Fprintf(&m, "| login to one account (%d connections): no 429, ≥ 90%% of the argon2id limit | %d × 429; %.0f%% (%.1f vs %.1f/s) | %s |\n",
			oneAccountConns, one.Refused, pct(one.Rate, f.hashRate), one.Rate, f.hashRate, mark(one.Refused == 0 && pct(one.Rate, f.hashRate) >= 90))
	}
	fmt.Fprintf(&m, "| ≥ 6,000 refreshes/s on SQLite, synchronous=FULL | %.0f/s (raw one-transaction limit %.0f/s) | %s |\n", refresh.Rate, f.raw["FULL"], mark(refresh.Rate >= 6000))
	if refresh.ServerCPU > 0 && refresh.LoadCPU > 0 {
		// What the CPU columns allow: the machine's cores spent on nothing else.
		cores := float64(runtime.NumCPU()) * float64(time.Second)
		fmt.Fprintf(&m, "| what %d cores allow at this run's CPU per refresh (server %s + load generator %s) | at most %.0f/s; %.0f/s with the load generator on another machine | |\n",
			runtime.NumCPU(), micros(refresh.ServerCPU), micros(refresh.LoadCPU),
			cores/float64(refresh.ServerCPU+refresh.LoadCPU), cores/float64(refresh.ServerCPU))
	}
	if normal.Rate > 0 {
		fmt.Fprintf(&m, "| synchronous=FULL costs little with group commit | FULL %.0f/s vs NORMAL %.0f/s (%.0f%%) | |\n", refresh.Rate, normal.Rate, pct(refresh.Rate, normal.Rate))
	}
	// cpuThen compares the server CPU per refresh, the steadier figure, where both were measured.
	cpuThen := func(before, now result) string {
		if before.ServerCPU == 0 || now.ServerCPU == 0 {
			return ""
		}
		return fmt.Sprintf("; server CPU per refresh before %s, now %s", micros(before.ServerCPU), micros(now.ServerCPU))
	}
	for _, rev := range o.baselines() {
		if before := find(rs, "GET /me (Bearer) (before: "+rev+")"); before.Rate > 0 {
			fmt.Fprintf(&m, "| SQLite GET /me, Gatehouse at %s and now | before %.0f/s, now %.0f/s (%.2f×); server CPU per request before %s, now %s | |\n",
				rev, before.Rate, me.Rate, me.Rate/max(before.Rate, 1), micros(before.ServerCPU), micros(me.ServerCPU))
		}
		before := find(rs, "POST /token/refresh (before: "+rev+")")
		fmt.Fprintf(&m, "| SQLite refresh, Gatehouse at %s and now | before %.0f/s, now %.0f/s (%.2f×)%s | |\n",
			rev, before.Rate, refresh.Rate, refresh.Rate/max(before.Rate, 1), cpuThen(before, refresh))
		if f.pg != nil {
			if before := find(f.pg.results, "POST /token/refresh (before: "+rev+")"); before.Rate > 0 {
				now := find(f.pg.results, "POST /token/refresh")
				fmt.Fprintf(&m, "| PostgreSQL refresh, Gatehouse at %s and now | before %.0f/s, now %.0f/s (%.2f×)%s | |\n",
					rev, before.Rate, now.Rate, now.Rate/max(before.Rate, 1), cpuThen(before, now))
			}
		}
	}
	if f.pg != nil {
		pr := find(f.pg.results, "POST /token/refresh")
		fmt.Fprintf(&m, "| ≥ 3,000 refreshes/s on PostgreSQL | %.0f/s | %s |\n", pr.Rate, mark(pr.Rate >= 3000))
	}
	if cc := find(rs, clientCredentials); cc.Rate > 0 {
		fmt.Fprintf(&m, "| ≥ 3,000 client_credentials grants/s on SQLite, ≤ 150 µs server CPU per grant | %.0f/s, %s | %s |\n",
			cc.Rate, micros(cc.ServerCPU), mark(cc.Rate >= 3000 && cc.ServerCPU > 0 && cc.ServerCPU <= 150*time.Microsecond))
		fmt.Fprintf(&m, "| client_credentials beside published figures: Hydra 411 grants/s on 2 CPUs (it bcrypts client secrets), Keycloak's sizing guide 120/s per vCPU | %.1f× Hydra; %.1f× Keycloak's %d vCPUs | |\n",
			cc.Rate/411, cc.Rate/(120*float64(runtime.NumCPU())), runtime.NumCPU())
	}
	for _, name := range []string{"POST /oauth/introspect (access token)", "POST /oauth/introspect (API key)"} {
		if r := find(rs, name); r.Rate > 0 {
			fmt.Fprintf(&m, "| %s ≥ 10,000/s (Hydra publishes 7,934/s on 2 CPUs, in memory) | %.0f/s; server CPU %s per request | %s |\n",
				name, r.Rate, micros(r.ServerCPU), mark(r.Rate >= 10000))
		}
	}
	fmt.Fprintf(&m, "| p99 of GET /me < 5 ms at %d connections | %s | %s |\n", o.conns, me.P99.Round(time.Microsecond), mark(me.P99 < 5*time.Millisecond))
	if f.sqlite != nil {
		fmt.Fprintf(&m, "| resident memory < 100 MB after the run | %.0f MB | %s |\n", f.sqlite.rssMB, mark(f.sqlite.rssMB < 100))
	}
	if f.scale != nil {
		for _, name := range []string{"GET /me (Bearer)", "POST /token/refresh", "POST /login"} {
			r := pct(find(f.scale.results, name).Rate, find(rs, name).Rate)
			fmt.Fprintf(&m, "| at scale, %s within 15%% of the small database | %.0f%% | %s |\n", name, r, mark(r >= 85))
		}
		fmt.Fprintf(&m, "| at scale, start-up < 2 s | %s | %s |\n", f.scale.startup.Round(time.Millisecond), mark(f.scale.startup < 2*time.Second))
		fmt.Fprintf(&m, "| at scale, resident memory < 100 MB | %.0f MB | %s |\n", f.scale.rssMB, mark(f.scale.rssMB < 100))
	}
	m.WriteString(`
## Where a refresh's time goes

Rotations are group-committed (README.md, "Why refresh is fast and still
durable"). The server CPU column is the figure to read here: requests/s
moves with whatever else the two cores are doing, CPU per request much
less. What that CPU is, from profiles of the refresh scenario
(` + "`go run ./bench -only refresh -tags pprof`" + `, then ` + "`go tool pprof`" + ` on
http://127.0.0.1:6060/debug/pprof/profile) and of the same route through
the handler tree in-process
(` + "`go test -run XXX -bench RefreshHandler -cpuprofile cpu.out ./internal/httpapi`" + `,
32 chains, about 330 to 390 µs of CPU per rotation): about a third on the
writer (a fifth in the rotation's three statements, a ninth in its share of
the COMMIT: one pwrite per WAL frame, and the fsync), an eighth in the EdDSA
signature (39 µs a signature on this CPU, after the commit, off the
writer), a tenth in the handler tree (JSON, the request log, metrics), and
a tenth to a sixth in allocation and GC. Loopback HTTP adds what the bare
handler's own server CPU shows. With ` + "`synchronous=FULL`" + ` the writer was
busy about 93% of the time, in batches of about 9 rotations taking 3.5 ms,
2.3 ms of it in the COMMIT (the fsync, then waiting for a core); with
NORMAL the batches shrink to about 4, the writer idles a quarter of the
time, and the rate stays the same: what bounds refresh here is the CPU of
two cores shared by the server, the load generator and the kernel, which
the row "what 2 cores allow" above puts in figures.

Measured and not kept: reading the token's session on the read pool and
leaving the writer only a compare-and-swap (10 to 15% more CPU per
rotation on SQLite, where every such read is a read transaction of its own
that re-reads the pages each commit invalidated; slower on PostgreSQL too,
whose server shares the cores); spent tokens in a WITHOUT ROWID table
(slower); a batch that lingers for more rotations, GOGC=300, eight
PostgreSQL lanes (within noise). Before group commit each rotation paid
its own COMMIT (with synchronous=FULL its own fsync: the raw
one-transaction ceiling above), six statements, and the access token was
signed inside the transaction, on the single writer.

At a million sessions, refresh used to fall to about 65% of the small
database. The profile at scale showed why: the seeding ran ANALYZE, and
with its sqlite_stat4 samples SQLite re-prepared every statement that looks
a row up by a bound key at each use (sqlite3Reprepare was most of the
rotation's read). The seeding no longer runs ANALYZE (Gatehouse never does),
Gatehouse warns at start-up when a database has the samples, and
docs/production.md says how to remove them. The token layout of migration
00012 keeps a rotation on its session's rows (the live token's hash in the
session row, spent tokens keyed by session) instead of an index keyed by a
random hash.
`)
	m.WriteString("\n![Gatehouse beside the limits](bench/chart.svg)\n")

	bars := []struct {
		label      string
		value      float64
		limitLabel string
		limit      float64
		unit       string
	}{
		{"GET /me", me.Rate, "bare net/http", bare.Rate, "req/s"},
		{"login", login.Rate, "argon2id limit", f.hashRate, "/s"},
		{"refresh", refresh.Rate, "raw SQLite tx, FULL", f.raw["FULL"], "/s"},
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="%d" font-family="sans-serif" font-size="13">`+"\n", 40+len(bars)*80)
	s.WriteString(`<text x="10" y="22" font-size="15" font-weight="bold">Gatehouse (blue) beside its limit (grey)</text>` + "\n")
	for i, b := range bars {
		y := 40 + i*80
		scale := 400 / max(b.value, b.limit, 1)
		fmt.Fprintf(&s, `<text x="10" y="%d">%s</text>`+"\n", y+16, html.EscapeString(b.label))
		fmt.Fprintf(&s, `<rect x="120" y="%d" width="%.0f" height="22" fill="#0b5cad"/><text x="%.0f" y="%d">%.0f %s</text>`+"\n",
			y, b.value*scale, 126+b.value*scale, y+16, b.value, b.unit)
		fmt.Fprintf(&s, `<rect x="120" y="%d" width="%.0f" height="22" fill="#8c959f"/><text x="%.0f" y="%d">%.0f %s (%s)</text>`+"\n",
			y+28, b.limit*scale, 126+b.limit*scale, y+44, b.limit, b.unit, html.EscapeString(b.limitLabel))
	}
	s.WriteString("</svg>\n")
	return report{table: t.String(), markdown: m.String(), svg: s.String()}
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.+)`).FindSubmatch(b); m != nil {
			cpu = strings.TrimSpace(string(m[1]))
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s+(\d+) kB`).FindSubmatch(b); m != nil {
			var kb float64
			fmt.Sscan(string(m[1]), &kb)
			mem = fmt.Sprintf(", %.0f GiB", kb/1024/1024)
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH)
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

var postgresURL = regexp.MustCompile(`postgres(ql)?://\S*`)

// command is how this report was made, with the PostgreSQL URL named by the
// variable it usually comes from.
func command() string {
	args := []string{"go run ./bench"}
	for i := 1; i < len(os.Args); i++ {
		a := postgresURL.ReplaceAllString(os.Args[i], "$$GATEHOUSE_BENCH_POSTGRES")
		if strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}
