package guard_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
)

// A multi-tenant service lets each organization's members read its data,
// and those whose role holds a permission change it. OrgID says which
// organization the token acts in: the service compares it with the
// resource's own.
func ExampleRequirePermission() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	g, _ := guard.New(guard.Config{Issuer: "https://auth.example.com", Audience: "https://auth.example.com",
		Algorithms: []string{"EdDSA"}, Keys: keySet{"k1": {Algorithm: "EdDSA", Public: pub}}})

	invoiceOrg := "org-1" // the organization the invoice belongs to
	mux := http.NewServeMux()
	mux.Handle("GET /invoices/1", g.Require(guard.RequireOrgRole("owner", "admin", "member"))(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if guard.OrgID(r.Context()) != invoiceOrg {
				http.NotFound(w, r) // another organization's: not found, never forbidden
				return
			}
			fmt.Fprint(w, "invoice 1")
		})))
	mux.Handle("PATCH /invoices/1", g.Require(guard.RequirePermission("invoices:write"))(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "updated") })))

	// What Gatehouse issues to a session acting in organization org, with role.
	token := func(org, role string, perms ...string) string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &guard.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "https://auth.example.com", Audience: jwt.ClaimStrings{"https://auth.example.com"},
				Subject: "ann", ID: "j-" + org + role, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
			},
			SessionID: "s1", Role: "user", OrgID: org, OrgRole: role, Permissions: perms, OrgGrant: "g-" + org + role,
		})
		tok.Header["typ"], tok.Header["kid"] = guard.TokenType, "k1"
		signed, _ := tok.SignedString(priv)
		return signed
	}
	for _, c := range []struct{ method, token string }{
		{"GET", token("org-1", "member", "invoices:read")},
		{"GET", token("org-2", "owner", "invoices:read", "invoices:write")},
		{"PATCH", token("org-1", "member", "invoices:read")},
		{"PATCH", token("org-1", "accountant", "invoices:read", "invoices:write")},
	} {
		r := httptest.NewRequest(c.method, "/invoices/1", nil)
		r.Header.Set("Authorization", "Bearer "+c.token)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(c.method, w.Code, w.Body.String())
	}
	// Output:
	// GET 200 invoice 1
	// GET 404 404 page not found
	//
	// PATCH 403 {"error":"forbidden","message":"This action needs the invoices:write permission in the organization."}
	//
	// PATCH 200 updated
}
