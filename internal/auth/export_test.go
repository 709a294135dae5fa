package auth

import (
	"context"
	"slices"
	"time"
)

// HashTokenForTest is how stored tokens (mfa_tokens, refresh tokens) are hashed.
var HashTokenForTest = hashToken

// SetCheckClock replaces the check floor's clock and sleeper.
func SetCheckClock(s *Services, now func() time.Time, sleep func(context.Context, time.Duration)) {
	s.Checks.floor.now, s.Checks.floor.sleep = now, sleep
}

// CheckFloor is the floor now.
func CheckFloor(s *Services) time.Duration { return s.Checks.floor.current() }

// CheckFloorSchemes are the schemes whose cost the floor has measured.
func CheckFloorSchemes(s *Services) []string {
	s.Checks.floor.mu.Lock()
	defer s.Checks.floor.mu.Unlock()
	var out []string
	for k := range s.Checks.floor.rel {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
