package main

import (
	"fmt"
	"html"
	"os"
	"os/exec"
	"regexp"
	"runtime"
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

func table(rs []result) string {
	var t strings.Builder
	fmt.Fprintf(&t, "| scenario | requests/s | p50 | p99 | errors |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, r := range rs {
		fmt.Fprintf(&t, "| %s | %.0f | %s | %s | %d |\n", r.Name, r.Rate, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
	}
	return t.String()
}

func render(sqlite backendResult, pg *backendResult, hashRate float64, duration time.Duration, conns, users int) report {
	rs, rssMB := sqlite.results, sqlite.rssMB
	var t strings.Builder
	t.WriteString(strings.TrimSuffix(table(rs), "\n") + "\n")
	fmt.Fprintf(&t, "| argon2id limit (%d cores × hashes/s) | %.1f | | | |\n", runtime.GOMAXPROCS(0), hashRate)
	if pg != nil {
		t.WriteString("\nOn PostgreSQL:\n\n" + table(pg.results))
	}

	me, bare := find(rs, "GET /me (Bearer)"), find(rs, "bare net/http handler")
	login, refresh := find(rs, "POST /login"), find(rs, "POST /token/refresh")
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
	var m strings.Builder
	fmt.Fprintf(&m, "# Gatehouse benchmarks\n\nProduced by `go run ./bench`; every figure below comes from one run of it.\n\n")
	fmt.Fprintf(&m, "| | |\n| --- | --- |\n| machine | %s |\n| Go | %s |\n| commit | %s |\n| date | %s |\n| load | %d keep-alive connections on loopback, %s per scenario, %d seeded users; Gatehouse, the bare handler and the load generator are separate processes sharing the machine |\n\n",
		machine(), runtime.Version(), commit(), time.Now().UTC().Format("2006-01-02 15:04 MST"), conns, duration, users)
	m.WriteString("## Results on SQLite\n\n" + table(rs))
	fmt.Fprintf(&m, "| argon2id limit (%d cores × hashes/s) | %.1f | | | |\n\n", runtime.GOMAXPROCS(0), hashRate)
	fmt.Fprintf(&m, "Gatehouse's resident memory after the run: **%.0f MB**.\n\n", rssMB)
	if pg != nil {
		m.WriteString("## The same scenarios on PostgreSQL\n\nPostgreSQL 15 on the same machine (its server shares the two cores), a fresh schema, Gatehouse's pool of 20 connections.\n\n" + table(pg.results))
		fmt.Fprintf(&m, "\nGatehouse's resident memory after the run: **%.0f MB**.\n\n", pg.rssMB)
	}
	m.WriteString("## Against the targets\n\n| target | measured | |\n| --- | --- | --- |\n")
	fmt.Fprintf(&m, "| protected GET /me ≥ 80%% of the bare handler | %.0f%% (%.0f vs %.0f req/s) | %s |\n", pct(me.Rate, bare.Rate), me.Rate, bare.Rate, mark(pct(me.Rate, bare.Rate) >= 80))
	fmt.Fprintf(&m, "| login ≥ 90%% of the argon2id limit | %.0f%% (%.1f vs %.1f/s) | %s |\n", pct(login.Rate, hashRate), login.Rate, hashRate, mark(pct(login.Rate, hashRate) >= 90))
	fmt.Fprintf(&m, "| ≥ 2,000 refreshes/s on SQLite | %.0f/s | %s |\n", refresh.Rate, mark(refresh.Rate >= 2000))
	fmt.Fprintf(&m, "| p99 of GET /me < 5 ms at %d connections | %s | %s |\n", conns, me.P99.Round(time.Microsecond), mark(me.P99 < 5*time.Millisecond))
	fmt.Fprintf(&m, "| resident memory < 100 MB after the run | %.0f MB | %s |\n\n", rssMB, mark(rssMB < 100))
	m.WriteString("![Gatehouse beside the limits](bench/chart.svg)\n")

	bars := []struct {
		label      string
		value      float64
		limitLabel string
		limit      float64
		unit       string
	}{
		{"GET /me", me.Rate, "bare net/http", bare.Rate, "req/s"},
		{"login", login.Rate, "argon2id limit", hashRate, "/s"},
		{"refresh", refresh.Rate, "target", 2000, "/s"},
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
