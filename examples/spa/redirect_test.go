package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/app/apptest"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
	"github.com/gatehouse-auth/gatehouse/internal/upstream/upstreamtest"
)

// A page on another origin (localhost) signs in with the browser client's
// signInWithRedirect({ provider }): Gatehouse's /authorize (code + PKCE,
// idp_hint) goes straight to the upstream provider and back, and the
// page's callback exchanges the code and reads the user.
func TestSPARedirectSignInThroughAProvider(t *testing.T) {
	ctx := newBrowser(t)
	dist := buildClient(t)
	spaLn := listen(t, "127.0.0.1") // as localhost: another origin than Gatehouse's 127.0.0.1, and a redirect URI http may use
	_, port, _ := net.SplitHostPort(spaLn.Addr().String())
	spa := "http://localhost:" + port
	base, gatehouse := apptest.Start(t, "127.0.0.1", func(c *app.Config) { c.CORSOrigins = []string{spa} })
	idp := upstreamtest.NewOIDC(t)
	idp.SignIn(upstreamtest.User{Subject: "grace-1", Email: "grace@example.com", EmailVerified: true, Name: "Grace"}, upstreamtest.Bend{})
	bg := context.Background()
	if _, err := gatehouse.Upstream.AddProvider(bg, upstream.ProviderInput{ID: "idp", Issuer: &idp.URL, ClientID: &idp.ClientID,
		ClientSecret: idp.ClientSecret}); err != nil {
		t.Fatal(err)
	}
	noConsent := false
	cl, _, err := gatehouse.Clients.Add(bg, oidc.ClientInput{Name: "SPA", Public: true, RedirectURIs: []string{spa + "/cb.html"},
		RequireConsent: &noConsent})
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`<!doctype html><meta charset="utf-8"><p id="out"></p><script type="module">
import { GatehouseClient } from "/gatehouse/index.js";
window.gatehouse = new GatehouseClient({ url: %q });
if (location.pathname === "/cb.html") {
  gatehouse.handleRedirectCallback().then(
    (u) => { document.getElementById("out").textContent = "signed in " + u.email + " " + gatehouse.session.clientId; document.getElementById("out").id = "done"; },
    (e) => { document.getElementById("out").textContent = "failed " + e.code + " " + e.message; document.getElementById("out").id = "done"; });
}
</script>`, base)
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, script) }
	mux.HandleFunc("GET /start.html", page)
	mux.HandleFunc("GET /cb.html", page)
	mux.Handle("GET /gatehouse/", http.StripPrefix("/gatehouse/", http.FileServer(http.Dir(dist))))
	serveOn(t, spaLn, mux)

	var out string
	apptest.Step(ctx, t, "sign in with the provider",
		chromedp.Navigate(spa+"/start.html"), chromedp.WaitReady("#out", chromedp.ByID),
		chromedp.Evaluate(fmt.Sprintf(`gatehouse.signInWithRedirect({ clientId: %q, redirectUri: %q, provider: "idp" })`, cl.ID, spa+"/cb.html"), nil),
		chromedp.WaitVisible("#done", chromedp.ByID), chromedp.Text("#done", &out, chromedp.ByID))
	if out != "signed in grace@example.com "+cl.ID {
		t.Fatalf("the callback page says %q", out)
	}
	var idpClaim string
	apptest.Step(ctx, t, "the access token names the provider",
		chromedp.Evaluate(`JSON.parse(atob(gatehouse.session.accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).idp`, &idpClaim))
	if idpClaim != "idp" {
		t.Fatalf("idp claim %q", idpClaim)
	}
}
