package auth_test

// Adversarial tests of the refresh-token layout of migration
// 00012 (tokens "<session id>.<secret>") and of the group commit without
// savepoints. Run on SQLite by default, on PostgreSQL with
// GATEHOUSE_TEST_STORE=postgres GATEHOUSE_TEST_POSTGRES=postgres://...

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
)

// twin is two Gatehouse instances (two stores, two services) on
// one database, sharing a clock.
type twin struct {
	a, b   *auth.Services
	sa, sb *store.Store
	guard  *guard.Guard
	clock  *authtest.Clock
}

func newTwin(t *testing.T) *twin {
	t.Helper()
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "gatehouse.db")
	if os.Getenv("GATEHOUSE_TEST_STORE") == "postgres" {
		dsn = storetest.PostgresURL(t)
	}
	open := func() *store.Store {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	}
	sa := open()
	sb := open()
	clk := authtest.NewClock(time.Now().UTC())
	a := authtest.New(t, authtest.WithStore(sa), authtest.WithClock(clk))
	b := authtest.New(t, authtest.WithStore(sb), authtest.WithClock(clk))
	g, err := guard.New(guard.Config{Issuer: issuer, Audience: issuer, Algorithms: []string{"EdDSA"},
		Keys: a.Keys, Revocations: auth.NewRevocations(clk.Now), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &twin{a: a.Services, b: b.Services, sa: sa, sb: sb, guard: g, clock: clk}
}

func (w *twin) register(t *testing.T, email string) {
	t.Helper()
	if _, err := w.a.Accounts.Register(context.Background(), auth.RegisterInput{Email: email, Password: "correct horse battery"}); err != nil &&
		auth.ErrorCode(err) != auth.CodeAlreadyExists {
		t.Fatal(err)
	}
}

func (w *twin) login(t *testing.T, svc *auth.Services, email string) *auth.Tokens {
	t.Helper()
	w.register(t, email)
	tok, err := svc.Sessions.Login(context.Background(), auth.LoginInput{Identifier: email, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Every other spelling of a real session's id, with that session's real
// secrets (of its live token and of a spent one), and session A's secret
// under session B's id: none rotates, none ends anything, on either
// instance; the live tokens of both sessions keep working afterwards.
func TestForgedSpellingsOfARealSessionEndNothing(t *testing.T) {
	t.Parallel()
	w := newTwin(t)
	ctx := context.Background()
	a0 := w.login(t, w.a, "ann@example.com")
	b0 := w.login(t, w.a, "bob@example.com")
	a1, err := w.a.Sessions.Refresh(ctx, a0.RefreshToken) // a0 is now spent
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute) // past the grace: a real reuse would end the session
	secret := func(raw string) string { return raw[strings.IndexByte(raw, '.')+1:] }
	id := a1.SessionID
	spellings := []string{
		strings.ToUpper(id),
		strings.ToUpper(id[:1]) + id[1:],
		"{" + id + "}",
		"urn:uuid:" + id,
		strings.ReplaceAll(id, "-", ""),
		" " + id,
		id + " ",
		"\t" + id,
		id + "\x00",
		"\u00a0" + id,
		id + "\u200b",
		strings.Replace(id, "0", "\uff10", 1), // fullwidth zero
		strings.Replace(id, "-", "\u2010", 1), // unicode hyphen
		strings.Replace(id, "a", "\u0430", 1), // cyrillic a
		strings.Replace(id, "-", "", 1) + "0", // 36 characters, a hyphen moved
		id[:35] + "G",
	}
	var forged []string
	for _, sp := range spellings {
		if sp == id {
			continue // a spelling that changed nothing (no such character)
		}
		for _, sec := range []string{secret(a1.RefreshToken), secret(a0.RefreshToken)} {
			forged = append(forged, sp+"."+sec, sp+". "+sec, sp+"."+sec+" ", sp+".."+sec)
		}
	}
	forged = append(forged,
		b0.SessionID+"."+secret(a1.RefreshToken), // A's live secret, B's id
		b0.SessionID+"."+secret(a0.RefreshToken), // A's spent secret, B's id
		a1.SessionID+"."+secret(b0.RefreshToken), // B's secret, A's id
		id+"."+secret(a1.RefreshToken)+"."+secret(a1.RefreshToken),
		id+"."+secret(a1.RefreshToken)[:42], // one character short
		id+"."+secret(a1.RefreshToken)+"=",
		secret(a1.RefreshToken),  // the secret alone (a legacy-looking token)
		a1.RefreshToken+"\n",     // trailing newline
		"\ufeff"+a1.RefreshToken, // BOM
	)
	for _, f := range forged {
		for _, svc := range []*auth.Services{w.a, w.b} {
			if _, err := svc.Sessions.Refresh(ctx, f); auth.ErrorCode(err) != auth.CodeInvalidGrant {
				t.Fatalf("refresh with forged %q: %v, want invalid_grant", f, err)
			}
			if err := svc.Sessions.LogoutRefresh(ctx, f, true); auth.ErrorCode(err) != auth.CodeInvalidGrant {
				t.Fatalf("logout with forged %q: %v, want invalid_grant", f, err)
			}
			if _, _, err := svc.Sessions.RefreshTokenState(ctx, f); auth.ErrorCode(err) != auth.CodeNotFound {
				t.Fatalf("state of forged %q: %v, want not_found", f, err)
			}
		}
	}
	// Nothing rotated: the live tokens of both sessions are still the live ones.
	for _, live := range []string{a1.RefreshToken, b0.RefreshToken} {
		st, _, err := w.b.Sessions.RefreshTokenState(ctx, live)
		if err != nil || !st.SpentAt.IsZero() {
			t.Fatalf("live token %q after forgeries: %+v, %v", live, st, err)
		}
		if _, err := w.b.Sessions.Refresh(ctx, live); err != nil {
			t.Fatalf("live token stopped working after forgeries: %v", err)
		}
	}
}

// Many concurrent refreshes of one token, half on each instance: every one
// that succeeds hands out the same successor (one lineage), none fails with
// anything but invalid_grant (and within the grace window none should fail
// at all), and the successor then rotates.
func TestConcurrentRotationsAcrossInstancesOneLineage(t *testing.T) {
	t.Parallel()
	w := newTwin(t)
	ctx := context.Background()
	raw := w.login(t, w.a, "ann@example.com").RefreshToken
	for round := 0; round < 8; round++ {
		const n = 16
		got := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := w.a
				if i%2 == 1 {
					svc = w.b
				}
				<-start
				tok, err := svc.Sessions.Refresh(ctx, raw)
				if err == nil {
					got[i] = tok.RefreshToken
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		var successor string
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: refresh %d (instance %d) within grace: %v", round, i, i%2, errs[i])
			}
			if successor == "" {
				successor = got[i]
			} else if got[i] != successor {
				t.Fatalf("round %d: two lineages: %q and %q", round, successor, got[i])
			}
		}
		raw = successor
		w.clock.Advance(time.Minute)
	}
	if _, err := w.b.Sessions.Refresh(ctx, raw); err != nil {
		t.Fatalf("the last successor: %v", err)
	}
}

// A rotation on instance A racing an ending of the session on instance B
// (logout, password change, admin disable, user deletion): no deadlock, no
// error other than invalid_grant from the refresh, the ending succeeds,
// and afterwards no token of the session refreshes on either instance.
func TestRotationRacesSessionEndAcrossInstances(t *testing.T) {
	t.Parallel()
	w := newTwin(t)
	ctx := context.Background()
	admin := w.login(t, w.a, "admin@example.com")
	for round := 0; round < 6; round++ {
		for _, kind := range []string{"logout", "logout-all", "password", "disable", "delete"} {
			email := fmt.Sprintf("u%d-%s@example.com", round, kind)
			var toks []*auth.Tokens
			for range 4 {
				toks = append(toks, w.login(t, w.a, email))
			}
			userID := toks[0].User.ID
			// Spend one of each, so the replays below are reuse.
			var nexts []*auth.Tokens
			for _, tk := range toks {
				nx, err := w.a.Sessions.Refresh(ctx, tk.RefreshToken)
				if err != nil {
					t.Fatal(err)
				}
				nexts = append(nexts, nx)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			refreshErrs := make([]error, 2*len(toks))
			fresh := make([]string, 2*len(toks))
			for i, nx := range nexts {
				for k, raw := range []string{nx.RefreshToken, toks[i].RefreshToken} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						svc := w.a
						if k == 1 {
							svc = w.b
						}
						tok, err := svc.Sessions.Refresh(ctx, raw)
						refreshErrs[2*i+k] = err
						if err == nil {
							fresh[2*i+k] = tok.RefreshToken
						}
					}()
				}
			}
			var endErr error
			var pwTokens *auth.Tokens
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch kind {
				case "logout":
					endErr = w.b.Sessions.Logout(ctx, auth.LogoutInput{SessionID: toks[0].SessionID, UserID: userID})
				case "logout-all":
					endErr = w.b.Sessions.Logout(ctx, auth.LogoutInput{SessionID: toks[0].SessionID, UserID: userID, All: true})
				case "password":
					pwTokens, endErr = w.b.Sessions.ChangePassword(ctx, auth.ChangePasswordInput{UserID: userID, SessionID: toks[0].SessionID,
						Current: "correct horse battery", New: "another horse battery staple"})
				case "disable":
					_, endErr = w.b.Accounts.AdminUpdate(ctx, admin.User.ID, userID, nil, ptr(true))
				case "delete":
					endErr = w.b.Accounts.DeleteUser(ctx, admin.User.ID, userID)
				}
			}()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			close(start)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("round %d %s: stuck (deadlock?)", round, kind)
			}
			if endErr != nil && !(kind == "password" && auth.ErrorCode(endErr) == auth.CodeNotFound) {
				t.Errorf("round %d %s: the ending failed: %v", round, kind, endErr)
			}
			for i, err := range refreshErrs {
				if err != nil && auth.ErrorCode(err) != auth.CodeInvalidGrant {
					t.Errorf("round %d %s: refresh %d: %v (want success or invalid_grant)", round, kind, i, err)
				}
			}
			// What must be dead afterwards.
			dead := map[int]bool{0: true} // session 0 ends in every case
			switch kind {
			case "logout-all", "disable", "delete":
				dead = map[int]bool{0: true, 1: true, 2: true, 3: true}
			case "password":
				dead = map[int]bool{1: true, 2: true, 3: true}
			}
			for i := range toks {
				if !dead[i] {
					continue
				}
				for _, raw := range []string{fresh[2*i], fresh[2*i+1], nexts[i].RefreshToken} {
					if raw == "" {
						continue
					}
					for _, svc := range []*auth.Services{w.a, w.b} {
						if tok, err := svc.Sessions.Refresh(ctx, raw); err == nil {
							t.Fatalf("round %d %s: session %d refreshed after it ended: %s", round, kind, i, tok.RefreshToken)
						}
					}
				}
			}
			if kind == "password" && pwTokens != nil {
				if _, err := w.a.Sessions.Refresh(ctx, pwTokens.RefreshToken); err != nil {
					t.Fatalf("round %d: the kept session's new token after a password change: %v", round, err)
				}
			}
			w.clock.Advance(time.Minute)
		}
	}
}

// A replay on instance B inside the grace window racing the rotation of
// the same token on instance A: B must get A's successor, never
// invalid_grant, and the session must live on.
func TestReplayInsideGraceRacesRotationAcrossInstances(t *testing.T) {
	t.Parallel()
	w := newTwin(t)
	ctx := context.Background()
	raw := w.login(t, w.a, "ann@example.com").RefreshToken
	for round := 0; round < 40; round++ {
		var ta, tb *auth.Tokens
		var ea, eb error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ta, ea = w.a.Sessions.Refresh(ctx, raw) }()
		go func() { defer wg.Done(); tb, eb = w.b.Sessions.Refresh(ctx, raw) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("round %d: a %v, b %v", round, ea, eb)
		}
		if ta.RefreshToken != tb.RefreshToken {
			t.Fatalf("round %d: two successors", round)
		}
		raw = ta.RefreshToken
		w.clock.Advance(11 * time.Second)
	}
	// And now a replay outside grace of an older one ends it.
	if _, err := w.a.Sessions.Refresh(ctx, raw); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(11 * time.Second)
	_, err := w.b.Sessions.Refresh(ctx, raw)
	wantCode(t, err, auth.CodeInvalidGrant)
	var e *auth.Error
	_ = errors.As(err, &e)
}
