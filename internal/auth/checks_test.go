package auth_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
)

// recordingHasher is the real hasher, recording which verifications ran and
// optionally pausing each Verify of a stored hash at a hook.
type recordingHasher struct {
	real *password.Hasher
	mu   sync.Mutex
	ran  []string // "argon2id" (current parameters), "legacy", "dummy"
	// beforeVerify, when set, runs inside each Verify of a stored hash
	// before the hash is checked.
	beforeVerify func()
}

func (h *recordingHasher) Hash(ctx context.Context, pw string) (string, error) {
	return h.real.Hash(ctx, pw)
}

func (h *recordingHasher) Verify(ctx context.Context, pw, encoded string) (bool, bool, error) {
	if h.beforeVerify != nil {
		h.beforeVerify()
	}
	ok, rehash, err := h.real.Verify(ctx, pw, encoded)
	kind := "argon2id"
	if rehash {
		kind = "legacy"
	}
	h.record(kind)
	return ok, rehash, err
}

func (h *recordingHasher) VerifyDummy(ctx context.Context, pw string) error {
	h.record("dummy")
	return h.real.VerifyDummy(ctx, pw)
}

// VerifyCost and VerifyDummyCost record like Verify and VerifyDummy.
func (h *recordingHasher) VerifyCost(ctx context.Context, pw, encoded string) (bool, bool, time.Duration, error) {
	if h.beforeVerify != nil {
		h.beforeVerify()
	}
	ok, rehash, cost, err := h.real.VerifyCost(ctx, pw, encoded)
	kind := "argon2id"
	if rehash {
		kind = "legacy"
	}
	h.record(kind)
	return ok, rehash, cost, err
}

func (h *recordingHasher) VerifyDummyCost(ctx context.Context, pw string) (time.Duration, error) {
	h.record("dummy")
	return h.real.VerifyDummyCost(ctx, pw)
}

func (h *recordingHasher) Scheme() string { return h.real.Scheme() }

func (h *recordingHasher) record(kind string) {
	h.mu.Lock()
	h.ran = append(h.ran, kind)
	h.mu.Unlock()
}

func (h *recordingHasher) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ran := h.ran
	h.ran = nil
	return ran
}

type guardedEnv struct {
	*env
	hasher *recordingHasher
}

// newGuardedEnv is newEnv with the recording hasher and the default lockout.
func newGuardedEnv(t *testing.T) *guardedEnv {
	t.Helper()
	clk := authtest.NewClock(time.Now().UTC())
	h := &recordingHasher{real: authtest.Hasher(t)}
	a := authtest.New(t, authtest.WithClock(clk), authtest.WithHasher(h), authtest.WithDeps(func(d *auth.Deps) {
		d.Lockout = ratelimit.NewMemoryLockout(ratelimit.LockoutPolicy{}, clk.Now)
	}))
	return &guardedEnv{env: &env{svc: a.Services, clock: a.Clock, store: a.Store}, hasher: h}
}

func (e *guardedEnv) user(t *testing.T, email, pw, role string) auth.User {
	t.Helper()
	u, err := e.svc.Accounts.CreateUser(context.Background(), auth.RegisterInput{Email: email, Password: pw}, role)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// every failed check ends no sooner than the check
// floor, whatever the stored hash (a werkzeug sha256$ hash costs a
// microsecond, pbkdf2:sha256:600000 several argon2ids) and for unknown
// users, by sleeping, not by hashing more; a successful check pads nothing.
// The floor's clock is frozen, so each failure sleeps its whole target.
func TestFailedChecksEndNoSoonerThanTheFloor(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t)
	ctx := context.Background()
	frozen := time.Unix(1_800_000_000, 0)
	var slept []time.Duration
	auth.SetCheckClock(e.svc, func() time.Time { return frozen }, func(_ context.Context, d time.Duration) { slept = append(slept, d) })
	e.user(t, "ann@example.com", "correct horse battery", auth.RoleUser)
	const werkzeugHMAC = "sha256$ZkQ8XyWm3pLq0aBc$f94c16699e28c2539bcca91bfc591c58654314e4540486868378366469332dc7"               // "correct horse"
	const werkzeugPBKDF2 = "pbkdf2:sha256:1000$ZkQ8XyWm3pLq0aBc$b1d4f7620d6b2fb595070b7c634b700168a655593240c3fb03c852f6e11f5272" // "pässwörd ✓"
	for _, in := range []auth.ImportInput{{Email: "old@example.com", PasswordHash: werkzeugHMAC}, {Email: "pb@example.com", PasswordHash: werkzeugPBKDF2}} {
		if _, err := e.svc.Accounts.ImportUser(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// The import measured each new scheme, once, beside the dummy.
	if ran := e.hasher.take(); !slices.Equal(ran, []string{"dummy", "legacy", "dummy", "legacy"}) {
		t.Fatalf("verifications of the imports %v, want one per new scheme", ran)
	}
	if got, want := auth.CheckFloorSchemes(e.svc), []string{"$argon2id$v=19$m=64,t=1,p=1", "pbkdf2:sha256:1000", "sha256"}; !slices.Equal(got, want) {
		t.Fatalf("floor schemes %v, want %v", got, want)
	}
	for _, c := range []struct {
		name, ident string
		want        []string
	}{
		{"argon2id account", "ann@example.com", []string{"argon2id"}},
		{"legacy account", "old@example.com", []string{"legacy"}},
		{"pbkdf2 account", "pb@example.com", []string{"legacy"}},
		{"unknown account", "nobody@example.com", []string{"dummy"}},
		{"unknown username", "nobody", []string{"dummy"}},
	} {
		slept = nil
		_, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: c.ident, Password: "wrong horse battery"})
		wantCode(t, err, auth.CodeInvalidCredentials)
		if ran := e.hasher.take(); !slices.Equal(ran, c.want) {
			t.Errorf("%s: verifications %v, want %v", c.name, ran, c.want)
		}
		if floor := auth.CheckFloor(e.svc); floor <= 0 || len(slept) != 1 || slept[0] < floor {
			t.Errorf("%s: padding slept %v, want once, at least the floor %v", c.name, slept, floor)
		}
	}
	// The same for the current password of a password change.
	ann, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	slept = nil
	_, err = e.svc.Sessions.ChangePassword(ctx, auth.ChangePasswordInput{UserID: ann.User.ID, SessionID: ann.SessionID, Current: "wrong horse battery", New: "a new passphrase here"})
	wantCode(t, err, auth.CodeInvalidCredentials)
	if floor := auth.CheckFloor(e.svc); len(slept) != 1 || slept[0] < floor {
		t.Errorf("password change: padding slept %v, want once, at least the floor %v", slept, floor)
	}
	e.hasher.take()
	slept = nil
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "old@example.com", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if ran := e.hasher.take(); !slices.Equal(ran, []string{"legacy"}) || len(slept) != 0 {
		t.Errorf("legacy login that succeeds: verifications %v, slept %v; want [legacy], nothing", ran, slept)
	}
}

// The floor is seeded from the database: one wrong password against one
// hash of each scheme present (here written by another process, so no
// import measured them), and the dummy argon2id.
func TestSeedCheckFloorSamplesEachSchemeOnce(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t)
	ctx := context.Background()
	for i, h := range []string{
		"sha256$ZkQ8XyWm3pLq0aBc$f94c16699e28c2539bcca91bfc591c58654314e4540486868378366469332dc7",
		"sha256$ZkQ8XyWm3pLq0aBd$f94c16699e28c2539bcca91bfc591c58654314e4540486868378366469332dc7",
		"pbkdf2:sha256:1000$ZkQ8XyWm3pLq0aBc$b1d4f7620d6b2fb595070b7c634b700168a655593240c3fb03c852f6e11f5272",
	} {
		u := auth.User{ID: "seed-" + string(rune('a'+i)), Username: "seed" + string(rune('a'+i)), Role: auth.RoleUser, CreatedAt: e.clock.Now()}
		if err := e.store.CreateUser(ctx, u, h); err != nil {
			t.Fatal(err)
		}
	}
	e.user(t, "ann@example.com", "correct horse battery", auth.RoleUser)
	e.hasher.take()
	if err := e.svc.Checks.SeedCheckFloor(ctx); err != nil {
		t.Fatal(err)
	}
	ran := e.hasher.take()
	slices.Sort(ran)
	if !slices.Equal(ran, []string{"dummy", "legacy", "legacy"}) {
		t.Fatalf("seeding verified %v, want the dummy and one per legacy scheme", ran)
	}
	want := []string{"$argon2id$v=19$m=64,t=1,p=1", "pbkdf2:sha256:1000", "sha256"}
	if got := auth.CheckFloorSchemes(e.svc); !slices.Equal(got, want) {
		t.Fatalf("floor schemes %v, want %v", got, want)
	}
}

// a login whose check ran before its user's password changed, or
// before the user was disabled or demoted, starts no session.
func TestLoginRacingAChangeMakesNoSession(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		role   string
		change func(t *testing.T, e *guardedEnv, u auth.User)
	}{
		{"password changed", auth.RoleUser, func(t *testing.T, e *guardedEnv, u auth.User) {
			changePasswordInStore(t, e, u, "a new passphrase here")
		}},
		{"disabled", auth.RoleUser, func(t *testing.T, e *guardedEnv, u auth.User) {
			if _, err := e.svc.Accounts.AdminUpdate(context.Background(), "cli", u.ID, nil, ptr(true)); err != nil {
				t.Fatal(err)
			}
		}},
		{"demoted", auth.RoleAdmin, func(t *testing.T, e *guardedEnv, u auth.User) {
			if _, err := e.svc.Accounts.AdminUpdate(context.Background(), "cli", u.ID, ptr(auth.RoleUser), nil); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newGuardedEnv(t)
			ctx := context.Background()
			u := e.user(t, "ann@example.com", "correct horse battery", c.role)
			entered, release := make(chan struct{}), make(chan struct{})
			e.hasher.beforeVerify = func() { close(entered); <-release }
			done := make(chan error)
			go func() {
				_, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "ann@example.com", Password: "correct horse battery"})
				done <- err
			}()
			<-entered // the login has read the user and is checking the password
			e.hasher.beforeVerify = nil
			c.change(t, e, u)
			close(release)
			wantCode(t, <-done, auth.CodeInvalidCredentials)
			if live, err := e.store.Sessions(ctx, auth.SessionListFilter{UserID: u.ID, Limit: 10, Now: e.clock.Now()}); err != nil || len(live) != 0 {
				t.Fatalf("sessions after the racing login: %d (%v), want 0", len(live), err)
			}
		})
	}
}

// the rehash of a legacy hash at login never writes the old
// password back over one changed meanwhile.
func TestLoginRehashNeverOverwritesANewerPassword(t *testing.T) {
	t.Parallel()
	e := newGuardedEnv(t)
	ctx := context.Background()
	const werkzeugHMAC = "sha256$ZkQ8XyWm3pLq0aBc$f94c16699e28c2539bcca91bfc591c58654314e4540486868378366469332dc7" // "correct horse"
	u, err := e.svc.Accounts.ImportUser(ctx, auth.ImportInput{Email: "old@example.com", PasswordHash: werkzeugHMAC})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	e.hasher.beforeVerify = func() { close(entered); <-release }
	done := make(chan error)
	go func() {
		_, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "old@example.com", Password: "correct horse"})
		done <- err
	}()
	<-entered
	e.hasher.beforeVerify = nil
	changePasswordInStore(t, e, u, "a new passphrase here")
	close(release)
	wantCode(t, <-done, auth.CodeInvalidCredentials)
	if _, err := e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "old@example.com", Password: "a new passphrase here"}); err != nil {
		t.Fatalf("the new password no longer logs in: %v", err)
	}
	_, err = e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "old@example.com", Password: "correct horse"})
	wantCode(t, err, auth.CodeInvalidCredentials)
	// And the compare-and-swap itself: a rehash based on a stale hash is refused.
	hash, err := e.store.PasswordHash(ctx, u.ID)
	if err != nil || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("hash after the change: %q %v", hash, err)
	}
	swapped, err := e.store.SetPasswordHash(ctx, u.ID, werkzeugHMAC, "$argon2id$stale")
	if err != nil || swapped {
		t.Fatalf("rehash from a stale hash: swapped %v, %v", swapped, err)
	}
	if now, _ := e.store.PasswordHash(ctx, u.ID); now != hash {
		t.Fatal("a stale rehash overwrote the password")
	}
}

// changePasswordInStore sets u's password as another request would: through
// a session of its own (the store's ChangePassword), not through the hasher
// under test.
func changePasswordInStore(t *testing.T, e *guardedEnv, u auth.User, pw string) {
	t.Helper()
	ctx := context.Background()
	hash, err := e.hasher.real.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().UTC().Truncate(time.Millisecond)
	sess := auth.Session{ID: "changer-" + u.ID, UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	rt := auth.RefreshToken{Hash: "changer-" + u.ID, SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := e.store.CreateSession(ctx, sess, rt); err != nil {
		t.Fatal(err)
	}
	next := auth.RefreshToken{Hash: "changer-next-" + u.ID, SessionID: sess.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if _, err := e.store.ChangePassword(ctx, u.ID, hash, sess, next, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RevokeSessions(ctx, auth.SessionFilter{SessionID: sess.ID}, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}
