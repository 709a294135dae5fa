package auth

import (
	"context"
	"strings"
	"testing"
)

// legacyStore answers LegacyRefreshSession from a map; nothing else of the
// Store is called by refreshKey.
type legacyStore struct {
	Store
	sessions map[string]string // token hash → session id
	asked    int
}

func (l *legacyStore) LegacyRefreshSession(_ context.Context, hash string) (string, error) {
	l.asked++
	if id, ok := l.sessions[hash]; ok {
		return id, nil
	}
	return "", errNoRefreshToken
}

// A presented refresh token is "<session id>.<secret>", or a token from
// before tokens named their session; anything else is not found without a
// read of the database.
func TestRefreshKey(t *testing.T) {
	t.Parallel()
	sid := newID()
	legacy := newSecretToken()
	current := newRefreshSecret(sid)
	st := &legacyStore{sessions: map[string]string{hashToken(legacy): sid}}
	s := &issuer{store: st}
	for _, tc := range []struct {
		name, raw string
		wantSID   string // "" for not found
		reads     int
	}{
		{"current form", current, sid, 0},
		{"legacy form", legacy, sid, 1},
		{"unknown legacy token", newSecretToken(), "", 1},
		{"empty", "", "", 0},
		{"session id alone", sid, "", 0},
		{"no secret", sid + ".", "", 0},
		{"short secret", sid + "." + legacy[:42], "", 0},
		{"long secret", sid + "." + legacy + "A", "", 0},
		{"secret not base64url", sid + "." + strings.Repeat("+", 43), "", 0},
		{"not a session id", "not-a-uuid." + legacy, "", 0},
		{"an access token", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln", "", 0},
		{"two dots", sid + "." + legacy + "." + legacy, "", 0},
		{"huge", strings.Repeat("a", 100000), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.asked = 0
			key, err := s.refreshKey(context.Background(), tc.raw)
			switch {
			case tc.wantSID == "" && ErrorCode(err) != CodeNotFound:
				t.Fatalf("refreshKey = %+v, %v; want not_found", key, err)
			case tc.wantSID != "" && (err != nil || key.SessionID != tc.wantSID || key.Hash != hashToken(tc.raw)):
				t.Fatalf("refreshKey = %+v, %v; want session %s and the token's hash", key, err, tc.wantSID)
			case st.asked != tc.reads:
				t.Fatalf("%d reads of the legacy table, want %d", st.asked, tc.reads)
			}
		})
	}
}

// Whatever is presented, refreshKey either refuses it or names a session
// id of UUID form and the SHA-256 of the whole token.
func FuzzRefreshKey(f *testing.F) {
	f.Add(newRefreshSecret(newID()))
	f.Add(newSecretToken())
	f.Add("x.y")
	s := &issuer{store: &legacyStore{sessions: map[string]string{}}}
	f.Fuzz(func(t *testing.T, raw string) {
		key, err := s.refreshKey(context.Background(), raw)
		if err != nil {
			if ErrorCode(err) != CodeNotFound {
				t.Fatalf("refreshKey(%q): %v, want not_found", raw, err)
			}
			return
		}
		if key.Hash != hashToken(raw) || !strings.HasPrefix(raw, key.SessionID+".") {
			t.Fatalf("refreshKey(%q) = %+v", raw, key)
		}
	})
}
