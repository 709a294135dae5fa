package httpapi_test

import (
	"net/http/httptest"
	"testing"
)

// Review of issue 10: the lockout must not tell an existing username from
// an unknown one through any spelling. Unknown names are keyed by
// foldEmail (NFKC + case folding) while the username lookup only matches
// ASCII case variants, so a fullwidth or Kelvin-sign spelling of a real
// username is "unknown" and shares the lock of the folded unknown name:
// lock "ann" (real) and "ＡＮＮ" answers 401; lock "alice" (no such
// account) and "ＡＬＩＣＥ" answers 429.
func TestReviewLockoutUnicodeVariantsDoNotRevealAccounts(t *testing.T) {
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
