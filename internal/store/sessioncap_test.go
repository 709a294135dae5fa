package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/store"
)

// capWorld is a user with a browser session and two OpenID Connect clients
// the user has allowed.
type capWorld struct {
	s       *store.Store
	user    auth.User
	browser auth.Session
	codes   int
}

func newCapWorld(t *testing.T) *capWorld {
	t.Helper()
	ctx := context.Background()
	w := &capWorld{s: openTemp(t), user: newUser("cap@example.com", "cap")}
	if err := w.s.CreateUser(ctx, w.user, "h"); err != nil {
		t.Fatal(err)
	}
	w.browser = auth.Session{ID: "browser", UserID: w.user.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := w.s.CreateSession(ctx, w.browser, auth.RefreshToken{Hash: "hb", SessionID: "browser", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app-a", "app-b"} {
		if err := w.s.CreateClient(ctx, oidc.Client{ID: id, Name: id, RedirectURIs: []string{"https://rp.example/cb"},
			Scopes: []string{"openid"}, IDTokenAlg: "EdDSA", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := w.s.SaveGrant(ctx, oidc.Grant{UserID: w.user.ID, ClientID: id, Scope: "openid", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// exchange creates a session of client as a code exchange does, at at, with
// a cap of maxLive sessions of that client; it returns the sessions ended.
func (w *capWorld) exchange(t *testing.T, client, id string, at time.Time, maxLive int) []string {
	t.Helper()
	ctx := context.Background()
	w.codes++
	hash := fmt.Sprint("code-", w.codes)
	if err := w.s.CreateCode(ctx, oidc.Code{Hash: hash, ClientID: client, UserID: w.user.ID, SessionID: w.browser.ID,
		RedirectURI: "https://rp.example/cb", Scope: "openid", AuthTime: now, CreatedAt: at, ExpiresAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	sess := auth.Session{ID: id, UserID: w.user.ID, CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(24 * time.Hour),
		ClientID: client, Scope: "openid", ParentID: w.browser.ID, AuthTime: now}
	rt := &auth.RefreshToken{Hash: "r-" + id, SessionID: id, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	ended, err := w.s.StartClientSession(ctx, auth.ClientSessionStart{Session: sess, Refresh: rt, CodeHash: hash,
		AccessLiveUntil: at.Add(time.Minute), MaxLive: maxLive, IdleSince: at.Add(-time.Hour), LiveUntil: at.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return ended
}

// live reports which of ids are live sessions of the user.
func (w *capWorld) live(t *testing.T, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		if _, err := w.s.Session(context.Background(), id, w.user.ID); err == nil {
			out = append(out, id)
		} else if auth.ErrorCode(err) != auth.CodeNotFound {
			t.Fatal(err)
		}
	}
	return out
}

// A code exchange beyond the cap ends the least recently used sessions of
// that client alone: never the browser session that authorized it, nor
// another client's.
func TestClientSessionCapEndsThatClientsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	w := newCapWorld(t)
	if ended := w.exchange(t, "app-b", "b1", now.Add(time.Second), 2); len(ended) != 0 {
		t.Fatalf("the first session of app-b ended %v", ended)
	}
	for i := range 5 {
		at := now.Add(time.Duration(2+i) * time.Second)
		ended := w.exchange(t, "app-a", fmt.Sprint("a", i), at, 2)
		var want []string
		if i >= 2 {
			want = []string{fmt.Sprint("a", i-2)}
		}
		if !slices.Equal(ended, want) {
			t.Fatalf("exchange %d ended %v, want the least recently used app-a session", i, ended)
		}
	}
	if got := w.live(t, "browser", "b1", "a0", "a1", "a2", "a3", "a4"); !slices.Equal(got, []string{"browser", "b1", "a3", "a4"}) {
		t.Fatalf("live after five exchanges of app-a under a cap of 2: %v", got)
	}
	// A session used recently is not the least recently used, however old.
	w.exchange(t, "app-b", "b2", now.Add(10*time.Second), 2)
	used := now.Add(11 * time.Second)
	next := auth.RefreshToken{Hash: "r-b1-next", SessionID: "b1", CreatedAt: used, ExpiresAt: used.Add(time.Hour)}
	if err := w.s.Rotate(context.Background(), auth.RefreshKey{SessionID: "b1", Hash: "r-b1"}, func(auth.RefreshState) (auth.Rotation, error) {
		return auth.Rotation{Successor: &next, SealedSuccessor: []byte("sealed"), Now: used}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ended := w.exchange(t, "app-b", "b3", now.Add(12*time.Second), 2); !slices.Equal(ended, []string{"b2"}) {
		t.Fatalf("ended %v, want b2 (b1 was used since)", ended)
	}
}

// A first-party login counts first-party sessions only: however many
// client sessions the user has, it does not end the browser session (and
// with it those client sessions).
func TestLoginCapCountsFirstPartySessionsOnly(t *testing.T) {
	t.Parallel()
	w := newCapWorld(t)
	for i := range 4 {
		w.exchange(t, "app-a", fmt.Sprint("a", i), now.Add(time.Duration(1+i)*time.Second), 100)
	}
	at := now.Add(time.Minute)
	login := auth.Session{ID: "login", UserID: w.user.ID, CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(time.Hour)}
	ended, err := w.s.StartSession(context.Background(), auth.SessionStart{Session: login, PasswordHash: "h", Role: w.user.Role,
		Refresh: auth.RefreshToken{Hash: "hl", SessionID: "login", CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		MaxLive: 2, IdleSince: at.Add(-time.Hour), LiveUntil: at.Add(time.Minute)})
	if err != nil || len(ended) != 0 {
		t.Fatalf("a second first-party session under a cap of 2 ended %v, %v", ended, err)
	}
	if got := w.live(t, "browser", "a0", "a1", "a2", "a3", "login"); len(got) != 6 {
		t.Fatalf("live: %v", got)
	}
	// A third ends the least recently used first-party session, the
	// browser, and the client sessions it authorized with it.
	at = at.Add(time.Second)
	third := auth.Session{ID: "third", UserID: w.user.ID, CreatedAt: at, LastUsedAt: at, ExpiresAt: at.Add(time.Hour)}
	ended, err = w.s.StartSession(context.Background(), auth.SessionStart{Session: third, PasswordHash: "h", Role: w.user.Role,
		Refresh: auth.RefreshToken{Hash: "ht", SessionID: "third", CreatedAt: at, ExpiresAt: at.Add(time.Hour)},
		MaxLive: 2, IdleSince: at.Add(-time.Hour), LiveUntil: at.Add(time.Minute)})
	slices.Sort(ended)
	if err != nil || !slices.Equal(ended, []string{"a0", "a1", "a2", "a3", "browser"}) {
		t.Fatalf("a third first-party session ended %v, %v", ended, err)
	}
}
