package main

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// tcpProxy stands between Gatehouse and its database, so a test can cut the
// database off (drop every connection, refuse new ones) and bring it back.
type tcpProxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	p.up.Store(true)
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				c.Close()
				continue
			}
			d, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock() // decided under the lock cut holds, so no connection outlives a cut
			if !p.up.Load() {
				p.mu.Unlock()
				c.Close()
				d.Close()
				continue
			}
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			go func() { io.Copy(d, c); d.Close() }()
			go func() { io.Copy(c, d); c.Close() }()
		}
	}()
	return p
}

// cut drops every connection and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	p.up.Store(false)
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
}

func (p *tcpProxy) restore() { p.up.Store(true) }

func TestDatabaseOutage(t *testing.T) {
	pg := storetest.PostgresURL(t) // skips without GATEHOUSE_TEST_POSTGRES
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s := startServer(t, u.String())
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"email":"outage@example.com","password":"keeps working offline"}`), 201)
	tok := c.json("POST", "/login", `{"email":"outage@example.com","password":"keeps working offline"}`).json(t)
	access := tok["access_token"].(string)
	expect(t, c.json("GET", "/me", "", "Authorization", "Bearer "+access), 200)

	proxy.cut()
	start := time.Now()
	for c.json("GET", "/readyz", "").status != 503 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("/readyz still 200 with the database cut off")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("/readyz answered 503 %s after the database was cut off", time.Since(start).Round(time.Millisecond))

	// Reads of a token need no database.
	expect(t, c.json("GET", "/me", "", "Authorization", "Bearer "+access), 200)
	// Writes say "try again", never 500 and never a false success.
	for _, w := range []struct{ path, body string }{
		{"/register", `{"email":"late@example.com","password":"written after the outage"}`},
		{"/token/refresh", `{"refresh_token":"` + tok["refresh_token"].(string) + `"}`},
		{"/books", `{"title":"Lost?"}`},
	} {
		r := c.json("POST", w.path, w.body, "Authorization", "Bearer "+access)
		if r.status != 503 || r.json(t)["error"] != "unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("POST %s with the database down: %d %s", w.path, r.status, r.body)
		}
	}

	proxy.restore()
	start = time.Now()
	for c.json("GET", "/readyz", "").status != 200 {
		if time.Since(start) > 15*time.Second {
			t.Fatal("did not recover after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	expect(t, c.json("POST", "/register", `{"email":"late@example.com","password":"written after the outage"}`), 201)
	// Nothing acknowledged was lost, and nothing refused was half-written.
	r := c.json("POST", "/books", `{"title":"After"}`, "Authorization", "Bearer "+access)
	expect(t, r, 201)
	if books := c.json("GET", "/books", "", "Authorization", "Bearer "+access).json(t)["books"].([]any); len(books) != 1 {
		t.Fatalf("%d books after the outage, want only the one acknowledged", len(books))
	}
}

func TestRedisDownDoesNotFailRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--redis", "redis://127.0.0.1:1/0")
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"email":"noredis@example.com","password":"limits fall back"}`), 201)
	expect(t, c.json("POST", "/login", `{"email":"noredis@example.com","password":"limits fall back"}`), 200)
}
