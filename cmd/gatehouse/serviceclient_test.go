package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const booksAudience = "https://books.example"

// ecJWKS writes key's public JWK Set to a file and returns its path.
func ecJWKS(t *testing.T, key *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":%q,"x":%q,"y":%q}]}`,
		kid, b64(pub[1:33]), b64(pub[33:]))
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(set), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientAssertion is a private_key_jwt assertion of clientID for audience.
func clientAssertion(t *testing.T, key *ecdsa.PrivateKey, kid, clientID, audience string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{Issuer: clientID, Subject: clientID,
		Audience: jwt.ClaimStrings{audience}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()})
	tok.Header["kid"] = kid
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// protectedService is a resource server on guard (guard.NewRemote) that
// trusts Gatehouse's issuer but fetches its keys and revocations from one
// instance (reached whatever the issuer's host is).
func protectedService(t *testing.T, issuer, instance string) *httptest.Server {
	t.Helper()
	addr := strings.TrimPrefix(instance, "http://")
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g, err := guard.NewRemote(ctx, guard.RemoteConfig{Issuer: issuer, Audience: booksAudience, PollInterval: 100 * time.Millisecond, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Require(guard.Scope("books:read"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := guard.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", c.ClientID)
	})))
	t.Cleanup(srv.Close)
	return srv
}

func callService(t *testing.T, srv *httptest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A Go service with golang.org/x/oauth2/clientcredentials gets tokens from
// one instance with its secret and with private_key_jwt; a guard-protected
// service fed by a second instance accepts them, and refuses them once the
// client is removed (through Redis too, when GATEHOUSE_TEST_REDIS is set),
// as the second instance refuses the client.
func TestServiceClientGoClientcredentials(t *testing.T) {
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	issuer := "http://gatehouse-" + strings.ToLower(rand.Text()[:8]) + ".test"
	flags := []string{"--issuer", issuer}
	if redisURL := os.Getenv("GATEHOUSE_TEST_REDIS"); redisURL != "" {
		flags = append(flags, "--redis", redisURL)
	}
	a := startServer(t, db, flags...)
	b := startServer(t, db, flags...)
	if out, code := cliRun(t, "root passphrase for clients\n", "user", "add", "--db", db, "--email", "root@example.com", "--admin"); code != 0 {
		t.Fatalf("user add: %s", out)
	}
	ca := newClient(t, a)
	admin := ca.json("POST", "/login", `{"email":"root@example.com","password":"root passphrase for clients"}`).json(t)["access_token"].(string)

	id, secret := addClient(t, db, "--service", "--name", "Nightly report", "--scopes", "books:read,books:write", "--audiences", booksAudience)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signerID, signerSecret := addClient(t, db, "--grant", "client_credentials", "--name", "Signer", "--scopes", "books:read",
		"--audiences", booksAudience, "--jwks-file", ecJWKS(t, key, "ci-1"))
	if secret == "" || signerSecret != "" {
		t.Fatalf("secrets: %q, %q (a client with keys has none)", secret, signerSecret)
	}
	if out, _ := cliRun(t, "", "client", "list", "--db", db); !strings.Contains(out, "service") || !strings.Contains(out, booksAudience) {
		t.Fatalf("client list: %s", out)
	}

	ctx := context.Background()
	withSecret := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: a.base + "/oauth/token",
		Scopes: []string{"books:read"}, EndpointParams: url.Values{"resource": {booksAudience}}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := withSecret.Token(ctx)
	if err != nil || tok.RefreshToken != "" || tok.Expiry.IsZero() {
		t.Fatalf("token with the secret: %+v %v", tok, err)
	}
	withKey := clientcredentials.Config{ClientID: signerID, TokenURL: a.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {clientAssertion(t, key, "ci-1", signerID, issuer+"/oauth/token")}}}
	signed, err := withKey.Token(ctx)
	if err != nil {
		t.Fatalf("token with private_key_jwt: %v", err)
	}
	if _, err := withKey.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("the same assertion again: %v, want invalid_client", err)
	}

	svc := protectedService(t, issuer, b.base)
	if code := callService(t, svc, tok.AccessToken); code != 200 {
		t.Fatalf("the protected service refused the secret client's token: %d", code)
	}
	if code := callService(t, svc, signed.AccessToken); code != 200 {
		t.Fatalf("the protected service refused the private_key_jwt client's token: %d", code)
	}
	// Instance B serves the client too (its cache now holds it).
	onB := withSecret
	onB.TokenURL = b.base + "/oauth/token"
	if _, err := onB.Token(ctx); err != nil {
		t.Fatalf("token from the second instance: %v", err)
	}

	expect(t, ca.json("DELETE", "/clients/"+id, "", "Authorization", "Bearer "+admin), 204)
	removed := time.Now()
	for callService(t, svc, tok.AccessToken) != 401 {
		if time.Since(removed) > 2*time.Second {
			t.Fatal("the protected service still accepts the removed client's token")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the protected service refused the token %s after the removal", time.Since(removed).Round(time.Millisecond))
	for {
		_, err := onB.Token(ctx)
		if err != nil && strings.Contains(err.Error(), "invalid_client") {
			break
		}
		if time.Since(removed) > time.Second+200*time.Millisecond {
			t.Fatalf("the second instance still serves the removed client %s after: %v", time.Since(removed), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the second instance refused the client %s after the removal", time.Since(removed).Round(time.Millisecond))
	if code := callService(t, svc, signed.AccessToken); code != 200 {
		t.Fatalf("another client's token was refused too: %d", code)
	}
	// Disabling from the command line ends the other client's tokens.
	if out, code := cliRun(t, "", "client", "disable", "--db", db, signerID); code != 0 {
		t.Fatalf("client disable: %s", out)
	}
	disabled := time.Now()
	for callService(t, svc, signed.AccessToken) != 401 {
		if time.Since(disabled) > 2*time.Second {
			t.Fatal("the protected service still accepts the disabled client's token")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An outside client nobody here wrote: Debian's python3-authlib
// (OAuth2Session, client_credentials) with a secret and with
// private_key_jwt.
func TestServiceClientPythonAuthlib(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import authlib.oauth2.rfc7523, requests").CombinedOutput(); err != nil {
		t.Skipf("the authlib client test needs /usr/bin/python3 with authlib and requests (apt-get install python3-authlib python3-requests): %s", out)
	}
	s := startServer(t, "")
	id, secret := addClient(t, s.db, "--service", "--name", "Authlib job", "--scopes", "books:read,books:write", "--audiences", booksAudience)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signerID, _ := addClient(t, s.db, "--service", "--name", "Authlib signer", "--scopes", "books:read",
		"--audiences", booksAudience, "--jwks-file", ecJWKS(t, key, "py-1"))
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pemFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := guard.New(guard.Config{Issuer: s.base, Audience: booksAudience, Algorithms: []string{"EdDSA"},
		Keys: mustRemoteKeys(t, s.base)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, client, kind, credential string }{
		{"client_secret_basic", id, "secret", secret},
		{"private_key_jwt", signerID, "key", pemFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("/usr/bin/python3", "testdata/authlib_service.py", s.base+"/oauth/token", tc.client, tc.kind,
				tc.credential, booksAudience).CombinedOutput()
			if err != nil {
				t.Fatalf("authlib: %v\n%s", err, out)
			}
			var got struct {
				TokenType    string  `json:"token_type"`
				Scope        string  `json:"scope"`
				RefreshToken *string `json:"refresh_token"`
				AccessToken  string  `json:"access_token"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("authlib output %q: %v", out, err)
			}
			if got.TokenType != "Bearer" || got.Scope != "books:read" || got.RefreshToken != nil {
				t.Fatalf("authlib got %+v", got)
			}
			claims, err := g.Verify(got.AccessToken)
			if err != nil || claims.ClientID != tc.client || claims.Subject != tc.client {
				t.Fatalf("the token authlib got: %+v %v", claims, err)
			}
		})
	}
}

func mustRemoteKeys(t *testing.T, base string) *guard.RemoteKeys {
	t.Helper()
	k, err := guard.NewRemoteKeys(t.Context(), base+"/.well-known/jwks.json", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
