package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// clientAlg is the ID token algorithm "client list" shows for client id.
func clientAlg(t *testing.T, db, id string) string {
	t.Helper()
	out, code := cliRun(t, "", "client", "list", "--db", db)
	if code != 0 {
		t.Fatalf("client list: %d %s", code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == id {
			return f[3]
		}
	}
	t.Fatalf("client %s not in %s", id, out)
	return ""
}

// "client add" without --id-token-alg gives the client the servers'
// --signing-alg, as its help says: on an EdDSA server EdDSA, also after a
// client asked for RS256 (whose RSA key is then the newest key); and
// GATEHOUSE_SIGNING_ALG when the environment sets it, before any server
// has started on the database.
func TestClientAddDefaultsToTheServersAlgorithm(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	s.stop()
	id, _ := addClient(t, s.db, "--name", "Plain", "--redirect-uri", "https://rp.example/cb")
	if alg := clientAlg(t, s.db, id); alg != "EdDSA" {
		t.Errorf("on an EdDSA server: %s", alg)
	}
	addClient(t, s.db, "--name", "Legacy", "--redirect-uri", "https://legacy.example/cb", "--id-token-alg", "RS256")
	id, _ = addClient(t, s.db, "--name", "After", "--redirect-uri", "https://rp.example/cb")
	if alg := clientAlg(t, s.db, id); alg != "EdDSA" {
		t.Errorf("after an RS256 client: %s", alg)
	}
	// keys rotate reads the servers' algorithm the same way: the RS256 key
	// made for a client is not the one it rotates.
	if out, code := cliRun(t, "", "keys", "rotate", "--db", s.db); code != 0 || !strings.HasPrefix(out, "new EdDSA key ") {
		t.Errorf("keys rotate after an RS256 client: %d %q", code, out)
	}

	fresh := filepath.Join(t.TempDir(), "gatehouse.db")
	var out, errs bytes.Buffer
	env := func(k string) string { return map[string]string{"GATEHOUSE_SIGNING_ALG": "ES256"}[k] }
	if code := run(context.Background(), []string{"client", "add", "--db", fresh, "--name", "Early", "--redirect-uri", "https://rp.example/cb"},
		env, strings.NewReader(""), &out, &errs); code != 0 {
		t.Fatalf("client add: %d %s", code, &errs)
	}
	id, _ = strings.CutPrefix(strings.Split(out.String(), "\n")[0], "client_id: ")
	if alg := clientAlg(t, fresh, id); alg != "ES256" {
		t.Errorf("with GATEHOUSE_SIGNING_ALG=ES256 before the first start: %s", alg)
	}
}
