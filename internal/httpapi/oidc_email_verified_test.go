package httpapi_test

import (
	"testing"
)

// Regression: the ID token and userinfo said email_verified=false for every
// user, also one who verified the address (email verification has landed):
// relying parties that trust only verified addresses refused every user.
func TestEmailVerifiedClaimFollowsVerification(t *testing.T) {
	t.Parallel()
	f := newOIDC(t, noRecoveryLimits)
	f.do(req{method: "POST", path: "/email/verify/request", as: "ann"})
	link := tokenOf(t, linkTo(t, f.mails(t), "ann@example.com", "/verify-email"))
	if w := f.do(req{method: "POST", path: "/email/verify", body: `{"token":"` + link + `"}`}); w.Code != 200 || field(decode(t, w), "user", "email_verified") != true {
		t.Fatalf("verify: %d %s", w.Code, w.Body)
	}
	verifier, challenge := pkcePair("e")
	tok := f.exchange(f.codeFor("ann", authParams(f.web, rpRedirect, challenge)), verifier)
	if idc := f.idClaims(t, tok["id_token"].(string), "EdDSA"); idc["email_verified"] != true {
		t.Fatalf("ID token of a verified address: email_verified %v", idc["email_verified"])
	}
	w := f.do(req{method: "GET", path: "/userinfo", headers: map[string]string{"Authorization": "Bearer " + tok["access_token"].(string)}})
	if m := decode(t, w); w.Code != 200 || m["email_verified"] != true {
		t.Fatalf("userinfo of a verified address: %d %v", w.Code, m)
	}
	// bob never verified.
	tok = f.exchange(f.codeFor("bob", authParams(f.web, rpRedirect, challenge)), verifier)
	if idc := f.idClaims(t, tok["id_token"].(string), "EdDSA"); idc["email_verified"] != false {
		t.Fatalf("ID token of an unverified address: email_verified %v", idc["email_verified"])
	}
}
