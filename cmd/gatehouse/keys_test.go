package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// On an ES256 server, "keys rotate" without --signing-alg makes an ES256 key
// (it used to make an EdDSA key that became active, whose tokens the server's
// own guard refused). Asked for another algorithm, it makes that; a server
// configured for ES256 still signs ES256 and accepts its own tokens.
func TestKeysRotateKeepsTheServersAlgorithm(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "es256.db")
	s := startServer(t, db, "--signing-alg", "ES256")
	s.stop()

	out, code := cliRun(t, "", "keys", "rotate", "--db", db)
	if code != 0 || !strings.HasPrefix(out, "new ES256 key ") {
		t.Fatalf("keys rotate on an ES256 database: %d %q", code, out)
	}
	if out, code := cliRun(t, "", "keys", "rotate", "--db", db, "--signing-alg", "EdDSA"); code != 0 || !strings.HasPrefix(out, "new EdDSA key ") {
		t.Fatalf("keys rotate --signing-alg EdDSA: %d %q", code, out)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	records, err := st.SigningKeys(context.Background())
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	states := token.States(records, 0, records[0].CreatedAt)
	var algs []string
	for _, k := range states {
		algs = append(algs, k.Algorithm)
	}
	if strings.Join(algs, ",") != "ES256,ES256,EdDSA" {
		t.Fatalf("stored keys %v, want ES256,ES256,EdDSA", algs)
	}

	// keys list shows, per algorithm, the key its servers sign with: the
	// newest ES256 key is active for ES256 (not "verifying until"), the first
	// ES256 key is being replaced, the EdDSA key is active for EdDSA.
	listing, code := cliRun(t, "", "keys", "list", "--db", db)
	if code != 0 {
		t.Fatalf("keys list: %d %s", code, listing)
	}
	want := map[string]string{states[0].ID: "verifying until ", states[1].ID: "active for ES256", states[2].ID: "active for EdDSA"}
	for id, state := range want {
		line := ""
		for _, l := range strings.Split(listing, "\n") {
			if strings.HasPrefix(l, id+" ") {
				line = l
			}
		}
		if !strings.Contains(line, state) {
			t.Errorf("keys list: key %s is %q, want %q\n%s", id, line, state, listing)
		}
	}

	// The ES256 server, with a newer EdDSA key in its database, signs with
	// the newest ES256 key and accepts what it signs.
	s = startServer(t, db, "--signing-alg", "ES256")
	c := newClient(t, s)
	expect(t, c.json("POST", "/register", `{"email":"es256@example.com","password":"elliptic curves only"}`), 201)
	r := c.json("POST", "/login", `{"email":"es256@example.com","password":"elliptic curves only"}`)
	expect(t, r, 200)
	tok := r.json(t)["access_token"].(string)
	expect(t, c.json("GET", "/me", "", "Authorization", "Bearer "+tok), 200)
	if kid := kidOfToken(t, tok); kid != states[1].ID {
		t.Fatalf("signed with key %s, want the rotated ES256 key %s", kid, states[1].ID)
	}
}

func kidOfToken(t *testing.T, tok string) string {
	t.Helper()
	head, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}
