package main

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/golang-jwt/jwt/v5"
)

// The bookstore takes a user's API key (checked by introspection with its
// own client) and a service token (an access token Gatehouse signed for its
// audience), each within its scopes.
func TestBookstoreAcceptsAPIKeysAndServiceTokens(t *testing.T) {
	t.Parallel()
	issuer, a := apptest.Start(t, "127.0.0.1")
	rs, secret, err := a.Clients.Add(t.Context(), oidc.ClientInput{Name: "Bookstore", RedirectURIs: []string{"https://books.example/cb"}, Introspect: true})
	if err != nil {
		t.Fatal(err)
	}
	bookstore := startBookstore(t, issuer, "--client-id", rs.ID, "--client-secret", secret)

	if code, m := call(t, "POST", issuer+"/register", "", `{"username":"reader","password":"books all the way down"}`); code != 201 {
		t.Fatalf("register: %d %v", code, m)
	}
	_, tokens := call(t, "POST", issuer+"/login", "", `{"username":"reader","password":"books all the way down"}`)
	tok := tokens["access_token"].(string)
	newKey := func(scopes string) string {
		code, m := call(t, "POST", issuer+"/me/api-keys", tok, `{"name":"script","scopes":[`+scopes+`]}`)
		if code != 201 {
			t.Fatalf("create key: %d %v", code, m)
		}
		return m["key"].(string)
	}
	key := newKey(`"books:read","books:write"`)
	if code, m := call(t, "POST", bookstore+"/books", key, `{"title":"Dune","price":12}`); code != 201 {
		t.Fatalf("create book with a key: %d %v", code, m)
	}
	if code, m := call(t, "GET", bookstore+"/books", key, ""); code != 200 || len(m["books"].([]any)) != 1 {
		t.Fatalf("list with a key: %d %v", code, m)
	}
	readOnly := newKey(`"books:read"`)
	if code, m := call(t, "POST", bookstore+"/books", readOnly, `{"title":"Emma","price":3}`); code != 403 || m["error"] != guard.CodeForbidden {
		t.Fatalf("write with a read-only key: %d %v", code, m)
	}
	if code, _ := call(t, "GET", bookstore+"/books", newKey(`"me:read"`), ""); code != 403 {
		t.Fatalf("a key without books:read: %d", code)
	}

	now := time.Now()
	svc, err := a.Keys.SignAs("EdDSA", guard.TokenType, &guard.Claims{ClientID: "inventory", Scope: "books:read",
		SessionID: "0190a0a0-0000-7000-8000-00000000cafe", RegisteredClaims: jwt.RegisteredClaims{Issuer: issuer,
			Subject: "inventory", Audience: jwt.ClaimStrings{issuer}, ID: "svc-1", IssuedAt: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))}})
	if err != nil {
		t.Fatal(err)
	}
	if code, m := call(t, "GET", bookstore+"/books", svc, ""); code != 200 {
		t.Fatalf("service token: %d %v", code, m)
	}
	if code, _ := call(t, "POST", bookstore+"/books", svc, `{"title":"Emma","price":3}`); code != 403 {
		t.Fatalf("service token without books:write: %d", code)
	}
}
