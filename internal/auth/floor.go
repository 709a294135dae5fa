package auth

import (
	"context"
	"crypto/rand"
	"math"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// Every failed check ends no sooner than the check floor after it began: the
// slowest check this instance has reason to expect. Without it, the cost of
// the stored hash tells accounts apart: a wrong password for an imported
// werkzeug pbkdf2:sha256:600000 account costs several argon2ids, for an
// unknown name one.
//
// What the instance expects is measured, side by side, as each scheme's cost
// relative to the dummy argon2id at the current parameters (the base): one
// wrong password against one sample hash of every scheme present in the
// database (password.Scheme), at start in the background (SeedCheckFloor),
// again every hour (WatchCheckFloor), and at once for the scheme of an
// imported hash not measured yet. Relative costs follow the machine's load:
// a check of a scheme comparable to the base (an unknown name's dummy, an
// argon2id account) measures how slow hashing is right now, and the failure
// is padded to that times the slowest scheme's relative cost. Absolute
// floors come on top: the slowest relative cost times the base's cost (as
// last measured, or as real checks of it cost lately, if more), and the
// costs of real checks (hashing only, not the wait for a
// worker), each a maximum halving every floorHalfLife, so a slow moment
// raises the floor for a while rather than for ever. All is capped at
// floorCap.
//
// Padding sleeps on a timer after the check has given its hash worker back:
// it costs no CPU and holds no worker, so it cannot be used to fill the hash
// pool.
const (
	floorCap      = 2 * time.Second
	floorHalfLife = 10 * time.Minute
	// comparable is the least relative cost of a scheme whose checks scale
	// the floor: dividing by the cost of a microsecond hash would amplify
	// noise.
	comparable = 0.5
)

// decaying is a maximum that halves every floorHalfLife.
type decaying struct {
	d  time.Duration
	at time.Time
}

func (x decaying) value(now time.Time) time.Duration {
	if x.d == 0 {
		return 0
	}
	elapsed := max(now.Sub(x.at), 0)
	return time.Duration(float64(x.d) * math.Exp2(-float64(elapsed)/float64(floorHalfLife)))
}

func (x *decaying) raise(now time.Time, d time.Duration) {
	x.d, x.at = max(x.value(now), min(d, floorCap)), now
}

// checkFloor is the floor and its clock; now and sleep are replaced in tests.
type checkFloor struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration)

	mu       sync.Mutex
	base     string             // the dummy hash's scheme: the unit of rel
	rel      map[string]float64 // cost of each scheme present, in base costs
	baseCost time.Duration      // what the base cost when last measured
	unit     decaying           // what real checks of the base cost lately
	observed decaying           // what real checks cost lately
}

func newCheckFloor() *checkFloor {
	return &checkFloor{now: time.Now, sleep: sleepCtx, rel: map[string]float64{}}
}

// sleepCtx sleeps for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// target is how long a failed check of scheme, whose hash cost cost, must
// take at least; scheme "" (no hash, or not told) gets the absolute floor.
func (f *checkFloor) target(scheme string, cost time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	slowest := 0.0
	for _, r := range f.rel {
		slowest = max(slowest, r)
	}
	unit := max(f.baseCost, f.unit.value(now))
	d := max(f.observed.value(now), time.Duration(slowest*float64(unit)))
	if r, ok := f.rel[scheme]; ok && r >= comparable {
		d = max(d, time.Duration(float64(cost)*slowest/r))
	}
	return min(d, floorCap)
}

// current is the absolute floor now.
func (f *checkFloor) current() time.Duration { return f.target("", 0) }

// observe records the cost of a real check of scheme.
func (f *checkFloor) observe(scheme string, cost time.Duration) {
	if cost <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	f.observed.raise(now, cost)
	if scheme != "" && scheme == f.base {
		f.unit.raise(now, cost)
	}
}

// setSchemes replaces the measured schemes with a fresh sample of the
// database, measured side by side with the base (schemes no hash has any
// more stop counting).
func (f *checkFloor) setSchemes(base string, baseCost time.Duration, costs map[string]time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	baseCost = max(baseCost, time.Nanosecond)
	f.base, f.rel, f.baseCost = base, map[string]float64{base: 1}, baseCost
	for s, c := range costs {
		f.rel[s] = float64(c) / float64(baseCost)
	}
}

// addScheme records the cost of one more scheme, measured with the base's.
func (f *checkFloor) addScheme(base string, baseCost time.Duration, scheme string, cost time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	baseCost = max(baseCost, time.Nanosecond)
	f.base, f.rel[base], f.baseCost = base, 1, baseCost
	f.rel[scheme] = float64(cost) / float64(baseCost)
}

func (f *checkFloor) known(scheme string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.rel[scheme]
	return ok
}

// pad sleeps until target(scheme, cost) has passed since start (or ctx
// ends).
func (f *checkFloor) pad(ctx context.Context, start time.Time, scheme string, cost time.Duration) {
	if wait := start.Add(f.target(scheme, cost)).Sub(f.now()); wait > 0 {
		f.sleep(ctx, wait)
	}
}

// costHasher is a Hasher that tells what a verification cost, hashing only
// (password.Hasher is one).
type costHasher interface {
	VerifyCost(ctx context.Context, password, encoded string) (ok, needsRehash bool, cost time.Duration, err error)
	VerifyDummyCost(ctx context.Context, password string) (time.Duration, error)
	Scheme() string
}

// hashSampler finds one stored hash per scheme (internal/store.Store).
type hashSampler interface {
	PasswordHashSamples(ctx context.Context, skip string, scheme func(string) string) ([]string, error)
}

// verify is the hasher's Verify with its cost; a hasher that cannot tell
// is timed around the call.
func (s *Checks) verify(ctx context.Context, pw, hash string) (ok, needsRehash bool, cost time.Duration, err error) {
	if h, is := s.hasher.(costHasher); is {
		return h.VerifyCost(ctx, pw, hash)
	}
	start := s.floor.now()
	ok, needsRehash, err = s.hasher.Verify(ctx, pw, hash)
	return ok, needsRehash, s.floor.now().Sub(start), err
}

// verifyDummy is the hasher's VerifyDummy with its cost, as verify.
func (s *Checks) verifyDummy(ctx context.Context, pw string) (time.Duration, error) {
	if h, is := s.hasher.(costHasher); is {
		return h.VerifyDummyCost(ctx, pw)
	}
	start := s.floor.now()
	err := s.hasher.VerifyDummy(ctx, pw)
	return s.floor.now().Sub(start), err
}

// SeedCheckFloor measures the floor afresh: one wrong password against the
// dummy hash and against one sample of every other scheme in the database.
// A sample that does not verify (a malformed hash) is skipped. A hasher
// that cannot tell its scheme (a test's) leaves the floor to real checks.
func (s *Checks) SeedCheckFloor(ctx context.Context) error {
	h, is := s.hasher.(costHasher)
	if !is {
		return nil
	}
	base := h.Scheme()
	wrong := rand.Text()
	baseCost, err := h.VerifyDummyCost(ctx, wrong)
	if err != nil {
		return err
	}
	costs := map[string]time.Duration{}
	slowest := base
	if st, is := s.store.(hashSampler); is {
		samples, err := st.PasswordHashSamples(ctx, base+"$", password.Scheme)
		if err != nil {
			return err
		}
		for _, hash := range samples {
			_, _, cost, err := h.VerifyCost(ctx, wrong, hash)
			if err != nil {
				continue
			}
			scheme := password.Scheme(hash)
			costs[scheme] = cost
			if cost > costs[slowest] {
				slowest = scheme
			}
		}
	}
	s.floor.setSchemes(base, baseCost, costs)
	s.log.Info("failed checks end no sooner than the slowest password check expected",
		"floor", s.floor.current().Round(time.Millisecond).String(), "schemes", len(costs)+1, "slowest", slowest)
	return nil
}

// WatchCheckFloor seeds the floor, then again every interval, until ctx ends.
func (s *Checks) WatchCheckFloor(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.SeedCheckFloor(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("measuring the check floor failed; real checks still raise it", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// noteHash measures the scheme of a hash just stored (an import) beside the
// dummy, unless its cost is known: the floor covers a new scheme before its
// first login.
func (s *Checks) noteHash(ctx context.Context, hash string) {
	h, is := s.hasher.(costHasher)
	scheme := password.Scheme(hash)
	if !is || scheme == "" || s.floor.known(scheme) {
		return
	}
	wrong := rand.Text()
	baseCost, err := h.VerifyDummyCost(ctx, wrong)
	var cost time.Duration
	if err == nil {
		_, _, cost, err = h.VerifyCost(ctx, wrong, hash)
	}
	if err != nil {
		s.log.Warn("measuring an imported hash's cost failed", "err", err)
		return
	}
	s.floor.addScheme(h.Scheme(), baseCost, scheme, cost)
}
