package auth

import (
	"context"
	"slices"
	"time"
)

// HashTokenForTest is how stored tokens (mfa_tokens, refresh tokens) are hashed.
var HashTokenForTest = hashToken

// SetCheckClock replaces the check floor's clock and sleeper.
func SetCheckClock(s *Service, now func() time.Time, sleep func(context.Context, time.Duration)) {
	s.floor.now, s.floor.sleep = now, sleep
}

// CheckFloor is the floor now.
func CheckFloor(s *Service) time.Duration { return s.floor.current() }

// CheckFloorSchemes are the schemes whose cost the floor has measured.
func CheckFloorSchemes(s *Service) []string {
	s.floor.mu.Lock()
	defer s.floor.mu.Unlock()
	var out []string
	for k := range s.floor.rel {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
