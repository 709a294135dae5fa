package app

import (
	"testing"
	"time"
)

// TestWithDefaults: New fills every zero field from Defaults, keeps what is
// set, and keeps a zero ReuseGrace (no grace) as zero.
func TestWithDefaults(t *testing.T) {
	def := Defaults()
	c := Config{}.withDefaults()
	if c.AccessTTL != def.AccessTTL || c.RefreshTTL != def.RefreshTTL || c.SessionMaxAge != def.SessionMaxAge ||
		c.IdleTimeout != def.IdleTimeout || c.RevocationPoll != def.RevocationPoll || c.SigningAlg != def.SigningAlg ||
		c.Limits == nil || *c.Limits != *def.Limits || c.Now == nil || c.Log == nil {
		t.Fatalf("zero Config filled as %+v, want Defaults() %+v", c, def)
	}
	if c.ReuseGrace != 0 {
		t.Fatalf("a zero ReuseGrace became %s: zero means no grace", c.ReuseGrace)
	}
	set := Config{AccessTTL: time.Minute, SigningAlg: "ES256", ReuseGrace: time.Second}.withDefaults()
	if set.AccessTTL != time.Minute || set.SigningAlg != "ES256" || set.ReuseGrace != time.Second {
		t.Fatalf("set fields changed: %+v", set)
	}
}
