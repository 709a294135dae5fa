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

// A service protects its routes with guard. Here the key is made in place; a
// real service gets Gatehouse's public keys from its JWKS.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	g, err := guard.New(guard.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "https://auth.example.com",
		Algorithms: []string{"EdDSA"},
		Keys:       keySet{"k1": {Algorithm: "EdDSA", Public: pub}},
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /hello", g.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := guard.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", claims.Subject)
	})))

	// What Gatehouse would issue at login.
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &guard.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "https://auth.example.com", Audience: jwt.ClaimStrings{"https://auth.example.com"},
			Subject: "ann", ID: "j1", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
		SessionID: "s1", Role: "user",
	})
	tok.Header["typ"], tok.Header["kid"] = guard.TokenType, "k1"
	signed, _ := tok.SignedString(priv)

	for _, auth := range []string{"", "Bearer " + signed} {
		r := httptest.NewRequest("GET", "/hello", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 401 {"error":"unauthorized","message":"An access token is required."}
	//
	// 200 hello ann
}

// Routes that a stolen session should not reach ask for more than a valid
// token: RequireMFA wants a sign-in with two kinds of factor (amr "mfa"),
// MaxAuthAge a sign-in (or re-authentication) at most d ago. Both answer
// 403 reauthentication_required otherwise.
func ExampleRequireMFA() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	g, _ := guard.New(guard.Config{
		Issuer: "https://auth.example.com", Audience: "https://auth.example.com",
		Algorithms: []string{"EdDSA"}, Keys: keySet{"k1": {Algorithm: "EdDSA", Public: pub}},
	})
	mux := http.NewServeMux()
	strict := g.Require(guard.RequireMFA(), guard.MaxAuthAge(10*time.Minute))
	mux.Handle("DELETE /books/{id}", strict(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))

	now := time.Now()
	token := func(amr []string, authTime time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &guard.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "https://auth.example.com", Audience: jwt.ClaimStrings{"https://auth.example.com"},
				Subject: "ann", ID: "j1", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
			},
			SessionID: "s1", Role: "user", AMR: amr, AuthTime: jwt.NewNumericDate(authTime),
		})
		tok.Header["typ"], tok.Header["kid"] = guard.TokenType, "k1"
		signed, _ := tok.SignedString(priv)
		return signed
	}
	for _, tok := range []string{
		token([]string{"pwd"}, now),                               // password only
		token([]string{"pwd", "otp", "mfa"}, now.Add(-time.Hour)), // two factors, an hour ago
		token([]string{"pwd", "otp", "mfa"}, now),                 // two factors, just now
	} {
		r := httptest.NewRequest("DELETE", "/books/1", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 403 {"error":"reauthentication_required","message":"This action needs a sign-in with a second factor."}
	//
	// 403 {"error":"reauthentication_required","message":"This action needs a recent sign-in; sign in again and retry."}
	//
	// 204
}

// An application registered with Gatehouse as an OpenID Connect client
// accepts the access tokens Gatehouse issued to it (audience: its client_id)
// and asks for the scopes a route needs.
func ExampleScope() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	g, _ := guard.New(guard.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "my-client-id",
		Algorithms: []string{"EdDSA"},
		Keys:       keySet{"k1": {Algorithm: "EdDSA", Public: pub}},
	})
	mux := http.NewServeMux()
	mux.Handle("GET /profile/email", g.Require(guard.Scope("email"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "your email")
	})))

	now := time.Now()
	for _, scope := range []string{"openid profile", "openid email"} {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &guard.Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: "https://auth.example.com", Audience: jwt.ClaimStrings{"my-client-id"},
				Subject: "ann", ID: "j-" + scope, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
			},
			SessionID: "s1", ClientID: "my-client-id", Scope: scope,
		})
		tok.Header["typ"], tok.Header["kid"] = guard.TokenType, "k1"
		signed, _ := tok.SignedString(priv)
		r := httptest.NewRequest("GET", "/profile/email", nil)
		r.Header.Set("Authorization", "Bearer "+signed)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Body.String())
	}
	// Output:
	// 403 {"error":"forbidden","message":"This action needs the email scope."}
	//
	// 200 your email
}
