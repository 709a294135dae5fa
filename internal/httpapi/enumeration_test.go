package httpapi_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// Regression: the lockout must not tell an existing username from
// an unknown one through any spelling. Unknown names are keyed by
// foldEmail (NFKC + case folding) while the username lookup only matches
// ASCII case variants, so a fullwidth or Kelvin-sign spelling of a real
// username is "unknown" and shares the lock of the folded unknown name:
// lock "ann" (real) and "ＡＮＮ" answers 401; lock "alice" (no such
// account) and "ＡＬＩＣＥ" answers 429.
func TestLockoutUnicodeVariantsDoNotRevealAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withLockoutOnly)
	wrong := func(ident string) *httptest.ResponseRecorder {
		return h.do(req{method: "POST", path: "/login", body: `{"identifier":"` + ident + `","password":"wrong guess here"}`})
	}
	answers := map[string]int{}
	for _, names := range [][2]string{{"ann", "ＡＮＮ"}, {"alice", "ＡＬＩＣＥ"}} {
		for range 6 {
			wrong(names[0])
		}
		answers[names[0]] = wrong(names[1]).Code
	}
	if answers["ann"] != answers["alice"] {
		t.Fatalf("after locking the ASCII spelling, its fullwidth spelling answers %d for the real account ann and %d for the unknown alice: the lockout enumerates usernames",
			answers["ann"], answers["alice"])
	}
}

// Regression: padding makes every failure cost *at least*
// one argon2id, but an imported werkzeug pbkdf2:sha256:600000 hash (the
// werkzeug default, so the common case of `gatehouse import flask`) costs
// several argon2ids by itself and is then padded further: a wrong password
// for such an account takes ~165 ms on the quick-start server against
// ~35 ms for an unknown name, so imported accounts are still found by
// timing. Measured here with the default argon2id parameters.
func TestImportedPBKDF2AccountsNotFoundByTiming(t *testing.T) {
	h := newHarness(t, func(c *app.Config) { c.Hashing.Params = password.DefaultParams })
	ctx := context.Background()
	const pw = "legacy password one"
	salt := "abcdefgh12345678"
	key, err := pbkdf2.Key(sha256.New, pw, []byte(salt), 600000, 32)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.app.Services.Accounts.ImportUser(ctx, auth.ImportInput{Username: "legacypb",
		PasswordHash: "pbkdf2:sha256:600000$" + salt + "$" + hex.EncodeToString(key)}); err != nil {
		t.Fatal(err)
	}
	login := func(ident string) time.Duration {
		start := time.Now()
		w := h.do(req{method: "POST", path: "/login", body: `{"username":"` + ident + `","password":"a wrong guess"}`})
		d := time.Since(start)
		if w.Code != 401 {
			t.Fatalf("%s: %d %s", ident, w.Code, w.Body)
		}
		return d
	}
	login("warmup")
	var unknowns, importeds []time.Duration
	for range 7 { // interleaved, so drift in machine load hits both alike
		unknowns = append(unknowns, login("nobody"))
		importeds = append(importeds, login("legacypb"))
	}
	unknown, imported := median(unknowns), median(importeds)
	if imported > 2*unknown {
		t.Fatalf("wrong password: imported pbkdf2 account %v, unknown name %v (median of 7): the account is found by timing", imported, unknown)
	}
}
