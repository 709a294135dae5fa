// Package authtest gives tests auth's services on a database of their own
// (storetest: SQLite in a temporary directory, or PostgreSQL with
// GATEHOUSE_TEST_STORE=postgres) and a manual clock:
//
//	e := authtest.New(t)
//	tok, err := e.Sessions.Login(ctx, in)
//	e.Clock.Advance(time.Hour)
//
// Options change the configuration and the collaborators before the
// services are wired; Env.Config and Env.Deps are what they were wired
// with, for a second instance over the same database.
package authtest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// Issuer is the issuer and audience of the services' tokens.
const Issuer = "http://gatehouse.test"

// Clock is the shared manual clock of tests.
type Clock = testsupport.Clock

// NewClock is a clock standing at t.
func NewClock(t time.Time) *Clock { return testsupport.NewClock(t) }

// Env is the services over one database and one clock.
type Env struct {
	*auth.Services
	Store       *store.Store
	Clock       *Clock
	Keys        *token.KeyRing
	Revocations *auth.Revocations
	Config      auth.Config
	Deps        auth.Deps
}

type options struct {
	store  *store.Store
	clock  *Clock
	hasher auth.Hasher
	cfg    []func(*auth.Config)
	deps   []func(*auth.Deps)
}

// Option changes what New wires.
type Option func(*options)

// WithStore wires the services over st (another Env's database: a second
// instance) instead of a new database.
func WithStore(st *store.Store) Option { return func(o *options) { o.store = st } }

// WithClock wires the services to c instead of a new clock at the present.
func WithClock(c *Clock) Option { return func(o *options) { o.clock = c } }

// WithHasher wires h instead of a new Hasher.
func WithHasher(h auth.Hasher) Option { return func(o *options) { o.hasher = h } }

// WithConfig changes the configuration (after the defaults, before wiring).
func WithConfig(f func(*auth.Config)) Option { return func(o *options) { o.cfg = append(o.cfg, f) } }

// WithDeps changes the collaborators (after the defaults, before wiring).
func WithDeps(f func(*auth.Deps)) Option { return func(o *options) { o.deps = append(o.deps, f) } }

// Hasher is a fast Argon2id hasher (64 KiB, one pass) with room for every
// check a test makes at once.
func Hasher(t testing.TB) *password.Hasher {
	t.Helper()
	h, err := password.NewHasher(password.Options{Params: password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		Queue: 256, MaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// masterKey seals the signing keys of every Env's key ring: Envs over one
// database load the same keys.
var masterKey, _ = seal.Generate()

// New wires the services: a fresh database (or WithStore's), a clock at
// the present (or WithClock's), a fast hasher, an EdDSA key ring in the
// database, the revocation set, a silent log, and the lifetimes of a
// deployment's defaults (15 min access tokens, 30 day refresh and session,
// a week idle, 10 s reuse grace).
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.store == nil {
		o.store = storetest.New(t)
	}
	if o.clock == nil {
		o.clock = NewClock(time.Now().UTC())
	}
	if o.hasher == nil {
		o.hasher = Hasher(t)
	}
	keys, err := token.Load(context.Background(), token.Options{Store: o.store, Algorithm: "EdDSA", RetireAfter: time.Hour,
		Now: o.clock.Now, MasterKey: masterKey})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Store: o.store, Clock: o.clock, Keys: keys, Revocations: auth.NewRevocations(o.clock.Now)}
	e.Config = auth.Config{
		Issuer: Issuer, Audience: Issuer, AccessTTL: 15 * time.Minute, RefreshTTL: 720 * time.Hour,
		ReuseGrace: 10 * time.Second, MaxAge: 720 * time.Hour, IdleTimeout: 168 * time.Hour, Now: o.clock.Now,
	}
	e.Deps = auth.Deps{Store: o.store, Hasher: o.hasher, Signer: keys, Revocations: e.Revocations,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range o.cfg {
		f(&e.Config)
	}
	for _, f := range o.deps {
		f(&e.Deps)
	}
	e.Revocations = e.Deps.Revocations
	e.Services = auth.New(e.Config, e.Deps)
	return e
}
