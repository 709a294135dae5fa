package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// proc is the gatehouse binary running as a process of its own, so it can be
// killed without a chance to finish anything.
type proc struct {
	cmd  *exec.Cmd
	base string
}

func startProcess(t *testing.T, bin, db string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--log-format", "json",
		"--refresh-reuse-grace", "1ms", "--limit-refresh", "100000000/1s", "--limit-login", "100000000/1s",
		"--limit-register", "100000000/1s"}, extra...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	line := regexp.MustCompile(`serving on (http://\S+)`)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			p.base = m[1]
			go io.Copy(io.Discard, out)
			return p
		}
	}
	t.Fatal("the gatehouse process did not start")
	return nil
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// refreshAt posts a refresh token; status 0 means no answer came.
func refreshAt(c *http.Client, base, token string) (int, string) {
	resp, err := c.Post(base+"/token/refresh", "application/json", strings.NewReader(`{"refresh_token":"`+token+`"}`))
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var body struct {
		Refresh string `json:"refresh_token"`
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, ""
	}
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body.Refresh
}

// Group commit answers a rotation only after the COMMIT that holds it. Under
// refresh load the process is killed (SIGKILL: nothing is flushed or closed)
// and restarted on the same database: every successor a client received
// still works, and every token it spent is still known as spent, so
// replaying it (outside the 1ms grace window) ends the session.
//
// Half the chains stop, each just after an answered rotation, while the
// other half keeps the writer busy up to the kill: their newest successor
// must work after the restart. The busy chains may have had a rotation in
// flight at the kill, whose outcome no client learned; for them, the spent
// token before the newest one must be detected as reuse.
func TestKilledUnderRefreshLoadLosesNoAnsweredRotation(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills the gatehouse binary; skipped with -short")
	}
	bin, db := gatehouseBinary(t), filepath.Join(t.TempDir(), "gatehouse.db")
	p := startProcess(t, bin, db)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

	const chains = 16 // even: steady, odd: busy until the kill
	history := make([][]string, chains)
	for i := range chains {
		u := fmt.Sprintf(`{"username":"durable-%d","password":"a durable password %d"}`, i, i)
		for _, path := range []string{"/register", "/login"} {
			resp, err := c.Post(p.base+path, "application/json", strings.NewReader(u))
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Refresh string `json:"refresh_token"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
			if body.Refresh != "" {
				history[i] = []string{body.Refresh}
			}
		}
	}

	var answered atomic.Int64
	var stopSteady atomic.Bool
	var steady, busy sync.WaitGroup
	for i := range chains {
		wg := &busy
		if i%2 == 0 {
			wg = &steady
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if i%2 == 0 && stopSteady.Load() {
					return
				}
				status, next := refreshAt(c, p.base, history[i][len(history[i])-1])
				if status == 0 {
					return // killed: this rotation's outcome is unknown
				}
				if status != 200 || next == "" {
					t.Errorf("chain %d: refresh answered %d under load", i, status)
					return
				}
				history[i] = append(history[i], next)
				answered.Add(1)
			}
		}()
	}
	for answered.Load() < 400 {
		time.Sleep(5 * time.Millisecond)
	}
	stopSteady.Store(true)
	steady.Wait()
	for mark := answered.Load(); answered.Load() < mark+100; {
		time.Sleep(time.Millisecond)
	}
	p.kill()
	busy.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d rotations answered before SIGKILL", answered.Load())

	p = startProcess(t, bin, db)
	time.Sleep(5 * time.Millisecond) // every spent token is now outside the 1ms grace
	for i, h := range history {
		newest := h[len(h)-1]
		if i%2 == 0 {
			status, next := refreshAt(c, p.base, newest)
			if status != 200 {
				t.Errorf("steady chain %d: its newest successor answered %d after the restart, want 200", i, status)
				continue
			}
			spent := h[(len(h)-1)*i/chains] // a different depth per chain
			if status, _ := refreshAt(c, p.base, spent); status != 401 {
				t.Errorf("steady chain %d: a spent token answered %d after the restart, want 401", i, status)
			}
			if status, _ := refreshAt(c, p.base, next); status != 401 {
				t.Errorf("steady chain %d: the session lived on after its spent token was replayed (%d)", i, status)
			}
			continue
		}
		if len(h) < 2 {
			t.Fatalf("busy chain %d never rotated", i)
		}
		if status, _ := refreshAt(c, p.base, h[len(h)-2]); status != 401 {
			t.Errorf("busy chain %d: its last answered spent token answered %d after the restart, want 401", i, status)
		}
		if status, _ := refreshAt(c, p.base, newest); status != 401 {
			t.Errorf("busy chain %d: the session lived on after its spent token was replayed (%d)", i, status)
		}
	}
}
