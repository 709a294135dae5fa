package auth_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/mfa"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/ratelimit"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// The guarded path under concurrency: checks of one account beyond its
// lockout's free slots wait for one instead of being refused, and a burst
// still gets the checks a sequence would, for every kind of secret.

// checkGate counts the real checks of secrets (password hashes verified,
// TOTP and recovery code look-ups) and holds the first hold of them until
// release is closed.
type checkGate struct {
	mu      sync.Mutex
	n, hold int
	entered chan struct{}
	release chan struct{}
}

// arm starts counting afresh, holding the next hold checks.
func (g *checkGate) arm(hold int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n, g.hold = 0, hold
	g.entered, g.release = make(chan struct{}, hold), make(chan struct{})
}

func (g *checkGate) enter() {
	g.mu.Lock()
	g.n++
	held, entered, release := g.n <= g.hold, g.entered, g.release
	g.mu.Unlock()
	if held {
		entered <- struct{}{}
		<-release
	}
}

// held waits until every check to hold is held; an attempt answering
// meanwhile (refused instead of checked) fails the test.
func (g *checkGate) held(t *testing.T, answers <-chan error) {
	t.Helper()
	for range g.hold {
		select {
		case <-g.entered:
		case err := <-answers:
			g.open()
			t.Fatalf("answered before %d checks were in flight: %v", g.hold, err)
		}
	}
}

func (g *checkGate) open() { close(g.release) }

func (g *checkGate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// gatedStore passes each code look-up of a check through the gate.
type gatedStore struct {
	*store.Store
	gate *checkGate
}

func (s gatedStore) TOTP(ctx context.Context, userID string) (auth.TOTPFactor, error) {
	s.gate.enter()
	return s.Store.TOTP(ctx, userID)
}

func (s gatedStore) UseRecoveryCode(ctx context.Context, u auth.RecoveryUse) (int, bool, error) {
	s.gate.enter()
	return s.Store.UseRecoveryCode(ctx, u)
}

// probedLockout tells began each time a check asks for a slot.
type probedLockout struct {
	auth.Lockout
	began chan<- struct{}
}

func (l probedLockout) Begin(ctx context.Context, key string) (ratelimit.Slot, error) {
	l.began <- struct{}{}
	return l.Lockout.Begin(ctx, key)
}

// burstEnv is ann (TOTP and recovery codes) and bob (a password alone),
// each with a session, on one or more Services (instances) sharing the
// store and the lockout, their checks through a gate.
type burstEnv struct {
	*mfaEnv
	gate          *checkGate
	began         chan struct{} // a check of svcs asked the lockout for a slot
	svcs          []*auth.Services
	secret        string   // ann's TOTP secret
	codes         []string // ann's recovery codes not yet used
	ann, bob      auth.User
	annSID        string
	bobSID        string
	passwords     map[string]string // user ID → password
	rightAttempts int
}

// newBurstEnv builds the env on one instance with the in-memory lockout, or
// on two sharing a Redis lockout (skipped without GATEHOUSE_TEST_REDIS).
func newBurstEnv(t *testing.T, instances int) *burstEnv {
	t.Helper()
	policy := ratelimit.LockoutPolicy{BaseLock: time.Minute, Wait: time.Minute} // no test waits out either
	e := newMFAEnv(t, &policy)
	b := &burstEnv{mfaEnv: e, gate: &checkGate{}, ann: e.user, began: make(chan struct{}, 1024)}
	ctx := context.Background()
	b.secret, b.codes = e.enrol(t)
	mt := e.challenge(t)
	tok, err := e.svc.Sessions.LoginMFA(ctx, auth.MFALoginInput{Token: mt, Code: e.code(t, b.secret, 0)})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(mfa.Period) // the step is spent
	b.annSID = tok.SessionID
	if b.bob, err = e.svc.Accounts.Register(ctx, auth.RegisterInput{Email: "bob@example.com", Password: bobPW}); err != nil {
		t.Fatal(err)
	}
	if tok, err = e.svc.Sessions.Login(ctx, auth.LoginInput{Identifier: "bob@example.com", Password: bobPW}); err != nil {
		t.Fatal(err)
	}
	b.bobSID = tok.SessionID
	b.passwords = map[string]string{b.ann.ID: annPW, b.bob.ID: bobPW}

	d := e.deps
	d.Hasher = &recordingHasher{real: e.deps.Hasher.(*password.Hasher), beforeVerify: b.gate.enter}
	d.Store = gatedStore{Store: e.store, gate: b.gate}
	if instances == 1 {
		d.Lockout = probedLockout{Lockout: d.Lockout, began: b.began}
		b.svcs = []*auth.Services{auth.New(e.cfg, d)}
		return b
	}
	client := testsupport.Redis(t)
	namespace := "test-" + rand.Text()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for range instances {
		d.Lockout = probedLockout{Lockout: ratelimit.NewRedisLockout(client, namespace, policy, ratelimit.NewMemoryLockout(policy, e.clock.Now), log), began: b.began}
		b.svcs = append(b.svcs, auth.New(e.cfg, d))
	}
	return b
}

// attempt is one check, prepared before a burst, made on an instance.
type attempt func(ctx context.Context, svc *auth.Services) error

// secretKind is a kind of check people choose the secret of, on the
// account whose checks it makes.
type secretKind struct {
	name  string
	owner func(b *burstEnv) auth.User
	wrong string // the answer to a wrong secret
	// try prepares an attempt with the right secret or a wrong one.
	try func(t *testing.T, b *burstEnv, right bool) attempt
}

func ann(b *burstEnv) auth.User { return b.ann }
func bob(b *burstEnv) auth.User { return b.bob }

// code is ann's TOTP code of this step, or one that is not.
func (b *burstEnv) totp(t *testing.T, right bool) string {
	c := b.code(t, b.secret, 0)
	if !right {
		n, _ := strconv.Atoi(c)
		c = fmt.Sprintf("%06d", (n+1)%1_000_000)
	}
	return c
}

// recovery is one of ann's recovery codes, or a well-formed one of no one.
func (b *burstEnv) recovery(right bool) string {
	if !right {
		return mfa.NewRecoveryCodes()[0]
	}
	c := b.codes[0]
	b.codes = b.codes[1:]
	return c
}

func (b *burstEnv) pw(u auth.User, right bool) string {
	if right {
		return b.passwords[u.ID]
	}
	return "wrong horse battery staple"
}

var secretKinds = []secretKind{
	{"login", bob, auth.CodeInvalidCredentials, func(t *testing.T, b *burstEnv, right bool) attempt {
		in := auth.LoginInput{Identifier: "bob@example.com", Password: b.pw(b.bob, right)}
		return func(ctx context.Context, svc *auth.Services) error { _, err := svc.Sessions.Login(ctx, in); return err }
	}},
	{"password change", bob, auth.CodeInvalidCredentials, func(t *testing.T, b *burstEnv, right bool) attempt {
		in := auth.ChangePasswordInput{UserID: b.bob.ID, SessionID: b.bobSID, Current: b.pw(b.bob, right), New: "a brand new staple for bob"}
		return func(ctx context.Context, svc *auth.Services) error {
			_, err := svc.Sessions.ChangePassword(ctx, in)
			return err
		}
	}},
	{"re-authentication with a password", bob, auth.CodeInvalidCredentials, func(t *testing.T, b *burstEnv, right bool) attempt {
		in := auth.ReauthInput{UserID: b.bob.ID, SessionID: b.bobSID, Password: b.pw(b.bob, right)}
		return func(ctx context.Context, svc *auth.Services) error {
			_, err := svc.Sessions.Reauthenticate(ctx, in)
			return err
		}
	}},
	{"TOTP code, a login's second step", ann, auth.CodeInvalidCode, func(t *testing.T, b *burstEnv, right bool) attempt {
		in := auth.MFALoginInput{Token: b.challenge(t), Code: b.totp(t, right)}
		return func(ctx context.Context, svc *auth.Services) error {
			_, err := svc.Sessions.LoginMFA(ctx, in)
			return err
		}
	}},
	{"TOTP code, re-authentication", ann, auth.CodeInvalidCode, func(t *testing.T, b *burstEnv, right bool) attempt {
		in := auth.ReauthInput{UserID: b.ann.ID, SessionID: b.annSID, Code: b.totp(t, right)}
		return func(ctx context.Context, svc *auth.Services) error {
			_, err := svc.Sessions.Reauthenticate(ctx, in)
			return err
		}
	}},
	{"recovery code", ann, auth.CodeInvalidCode, func(t *testing.T, b *burstEnv, right bool) attempt {
		in := auth.ReauthInput{UserID: b.ann.ID, SessionID: b.annSID, RecoveryCode: b.recovery(right)}
		return func(ctx context.Context, svc *auth.Services) error {
			_, err := svc.Sessions.Reauthenticate(ctx, in)
			return err
		}
	}},
}

// rightPassword is a right password re-authentication of u: a check of its
// account that succeeds, whatever the kind under test.
func rightPassword(b *burstEnv, u auth.User) attempt {
	sid := b.bobSID
	if u.ID == b.ann.ID {
		sid = b.annSID
	}
	in := auth.ReauthInput{UserID: u.ID, SessionID: sid, Password: b.passwords[u.ID]}
	return func(ctx context.Context, svc *auth.Services) error {
		_, err := svc.Sessions.Reauthenticate(ctx, in)
		return err
	}
}

// begun waits until n checks have asked the lockout for a slot.
func (b *burstEnv) begun(n int) {
	for range n {
		<-b.began
	}
}

// launch makes each attempt concurrently, attempt i on instance i mod n,
// and returns where their answers arrive.
func (b *burstEnv) launch(attempts []attempt) <-chan error {
	answers := make(chan error, len(attempts))
	for i, a := range attempts {
		svc := b.svcs[i%len(b.svcs)]
		go func() { answers <- a(context.Background(), svc) }()
	}
	return answers
}

// tally counts n answers by error code ("" for success).
func tally(t *testing.T, answers <-chan error, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		err := <-answers
		code := auth.ErrorCode(err)
		if err != nil && code == "" {
			t.Errorf("unexpected answer: %v", err)
		}
		got[code]++
	}
	return got
}

// 20 right-password logins to one account at once, on
// one instance or spread over two sharing Redis, all succeed. The first 6
// stay in their hash until 6 are there, so the rest find every slot taken.
func TestConcurrentRightPasswordLoginsAllSucceed(t *testing.T) {
	t.Parallel()
	for _, instances := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d instances", instances), func(t *testing.T) {
			t.Parallel()
			b := newBurstEnv(t, instances)
			var attempts []attempt
			for range 20 {
				attempts = append(attempts, secretKinds[0].try(t, b, true))
			}
			b.gate.arm(6)
			answers := b.launch(attempts)
			b.gate.held(t, answers)
			b.begun(20)
			b.gate.open()
			if got := tally(t, answers, 20); got[""] != 20 || b.gate.count() != 20 {
				t.Fatalf("20 concurrent right logins: answers %v, %d hashes; want 20 successes, 20 hashes", got, b.gate.count())
			}
		})
	}
}

// 50 wrong secrets at once get the real checks 50 one after another would:
// 5 free failures and the sixth, which locks; the other 44 wait for a slot
// and the lock refuses them.
func TestConcurrentWrongSecretsGetTheChecksOfASequence(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, k secretKind, instances int) {
		t.Parallel()
		b := newBurstEnv(t, instances)
		var attempts []attempt
		for range 50 {
			attempts = append(attempts, k.try(t, b, false))
		}
		b.gate.arm(6)
		answers := b.launch(attempts)
		b.gate.held(t, answers)
		b.begun(50)
		b.gate.open()
		got := tally(t, answers, 50)
		if got[k.wrong] != 6 || got[auth.CodeTooManyRequests] != 44 || b.gate.count() != 6 {
			t.Fatalf("50 concurrent wrong: answers %v, %d real checks; want 6 × %s, 44 × 429, 6 checks", got, b.gate.count(), k.wrong)
		}
	}
	for _, k := range secretKinds {
		t.Run(k.name, func(t *testing.T) { run(t, k, 1) })
	}
	t.Run("login, two instances sharing Redis", func(t *testing.T) { run(t, secretKinds[0], 2) })
}

// A mixed burst, wrong secrets in flight first and then the right one,
// ends as that sequence: after 5 wrong the right one is checked at once
// (a slot is free) and succeeds; after 6 it waits, and the lock the sixth
// failure starts refuses it.
func TestMixedBurstEndsAsTheSequence(t *testing.T) {
	t.Parallel()
	for _, k := range secretKinds {
		for _, wrong := range []int{5, 6} {
			t.Run(fmt.Sprintf("%s, %d wrong", k.name, wrong), func(t *testing.T) {
				t.Parallel()
				b := newBurstEnv(t, 1)
				var attempts []attempt
				for range wrong {
					attempts = append(attempts, k.try(t, b, false))
				}
				right := k.try(t, b, true)
				b.gate.arm(wrong)
				answers := b.launch(attempts)
				b.gate.held(t, answers)
				rightAnswer := b.launch([]attempt{right})
				b.begun(wrong + 1)
				if wrong == 5 {
					if err := <-rightAnswer; err != nil {
						t.Fatalf("the right secret after 5 wrong in flight: %v", err)
					}
				}
				b.gate.open()
				if got := tally(t, answers, wrong); got[k.wrong] != wrong {
					t.Fatalf("%d wrong: answers %v", wrong, got)
				}
				if wrong == 6 {
					if err := <-rightAnswer; auth.ErrorCode(err) != auth.CodeTooManyRequests {
						t.Fatalf("the right secret after 6 wrong in flight: %v, want too_many_requests", err)
					}
				}
				if want := min(wrong+1, 6); b.gate.count() != want { // the right one's too, after 5
					t.Fatalf("%d real checks, want %d", b.gate.count(), want)
				}
			})
		}
	}
}

// A right secret of every kind that finds the account's slots all taken by
// checks in flight (here 6 right passwords held in their hash) waits for
// one and succeeds.
func TestRightSecretBeyondTheSlotsWaits(t *testing.T) {
	t.Parallel()
	for _, k := range secretKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			b := newBurstEnv(t, 1)
			owner := k.owner(b)
			var held []attempt
			for range 6 {
				held = append(held, rightPassword(b, owner))
			}
			right := k.try(t, b, true)
			b.gate.arm(6)
			answers := b.launch(held)
			b.gate.held(t, answers)
			rightAnswer := b.launch([]attempt{right})
			b.begun(7) // it asks while the 6 hold every slot
			b.gate.open()
			if err := <-rightAnswer; err != nil {
				t.Fatalf("the right secret beyond the slots: %v", err)
			}
			if got := tally(t, answers, 6); got[""] != 6 {
				t.Fatalf("the checks in flight: %v", got)
			}
		})
	}
}
