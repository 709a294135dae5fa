package oidc

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// The note that a fresh sign-in was asked for opens only for the user,
// client, redirect URI and state it was sealed for, under the server's
// master key, within FreshLoginTTL.
func TestFreshLoginNoteOpensOnlyForItsRequest(t *testing.T) {
	key, _ := seal.Generate()
	s := NewService(Config{}, Deps{Sealer: key})
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	note, err := s.freshLoginNote("ann", "app", "https://rp.example/cb", "st", at)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.freshLoginAsked(note, "ann", "app", "https://rp.example/cb", "st", at.Add(time.Minute)); !got.Equal(at) {
		t.Fatalf("its own request: %v, want %v", got, at)
	}
	otherKey, _ := seal.Generate()
	tampered := []byte(note)
	tampered[len(tampered)/2] ^= 1
	for name, try := range map[string]func() time.Time{
		"another user":     func() time.Time { return s.freshLoginAsked(note, "bob", "app", "https://rp.example/cb", "st", at) },
		"another client":   func() time.Time { return s.freshLoginAsked(note, "ann", "app2", "https://rp.example/cb", "st", at) },
		"another redirect": func() time.Time { return s.freshLoginAsked(note, "ann", "app", "https://rp.example/cb2", "st", at) },
		"another state":    func() time.Time { return s.freshLoginAsked(note, "ann", "app", "https://rp.example/cb", "st2", at) },
		// The parts are length-prefixed: moving bytes from one to the next
		// is another request.
		"shifted parts": func() time.Time { return s.freshLoginAsked(note, "ann", "ap", "phttps://rp.example/cb", "st", at) },
		"after its lifetime": func() time.Time {
			return s.freshLoginAsked(note, "ann", "app", "https://rp.example/cb", "st", at.Add(FreshLoginTTL+time.Millisecond))
		},
		"before it was made": func() time.Time {
			return s.freshLoginAsked(note, "ann", "app", "https://rp.example/cb", "st", at.Add(-time.Second))
		},
		"another server's key": func() time.Time {
			return NewService(Config{}, Deps{Sealer: otherKey}).freshLoginAsked(note, "ann", "app", "https://rp.example/cb", "st", at)
		},
		"changed": func() time.Time {
			return s.freshLoginAsked(string(tampered), "ann", "app", "https://rp.example/cb", "st", at)
		},
		"a bare time": func() time.Time {
			return s.freshLoginAsked("1796590932496", "ann", "app", "https://rp.example/cb", "st", at)
		},
		"too long": func() time.Time {
			return s.freshLoginAsked(strings.Repeat("A", 300), "ann", "app", "https://rp.example/cb", "st", at)
		},
		"no master key": func() time.Time {
			return NewService(Config{}, Deps{}).freshLoginAsked(note, "ann", "app", "https://rp.example/cb", "st", at)
		},
	} {
		if got := try(); !got.IsZero() {
			t.Errorf("%s: the note opened (%v)", name, got)
		}
	}
}
