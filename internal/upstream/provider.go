// Package upstream signs users in through other identity providers ("Sign
// in with Google, GitHub, ..."): the providers an administrator configured
// (kinds oidc and github, with presets), the login flow through them, and
// the linking rules that decide which account an upstream identity opens.
// Gatehouse stays the one issuer of the app's tokens: an upstream login
// ends in auth.Sessions, like a password's.
package upstream

import (
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// Provider kinds.
const (
	KindOIDC   = "oidc"   // any OpenID provider with discovery
	KindGitHub = "github" // GitHub's OAuth2 app flow and its REST API
)

// Provider is an upstream identity provider as configured.
type Provider struct {
	ID     string // in URLs: /login/{id}
	Kind   string
	Name   string // on the button: "Sign in with {Name}"
	Issuer string // oidc: the issuer whose discovery document is read
	// ClientID and the client secret registered at the provider. The
	// secret is sealed with the master key wherever it is stored; the
	// service opens it only to call the provider.
	ClientID     string
	SealedSecret []byte
	Scopes       []string
	// AuthURL, TokenURL, APIURL override a github provider's endpoints
	// (GitHub Enterprise, tests).
	AuthURL, TokenURL, APIURL string
	// TrustEmail: a verified email this provider asserts links to the
	// account that has it, without the user proving that account first.
	TrustEmail bool
	// KeepTokens: the provider's tokens are kept, sealed, for
	// GET /me/identities/{id}/token.
	KeepTokens           bool
	CreatedAt, UpdatedAt time.Time
}

// Preset is a provider's defaults, chosen by its id (--id google).
type Preset struct {
	Kind, Name, Issuer        string
	Scopes                    []string
	AuthURL, TokenURL, APIURL string
}

// Presets are the known providers' defaults. microsoft is the multi-tenant
// endpoint: its discovery names the issuer with a {tenantid} placeholder,
// which each ID token's tid claim fills.
var Presets = map[string]Preset{
	"google":    {Kind: KindOIDC, Name: "Google", Issuer: "https://accounts.google.com", Scopes: []string{"openid", "email", "profile"}},
	"microsoft": {Kind: KindOIDC, Name: "Microsoft", Issuer: "https://login.microsoftonline.com/common/v2.0", Scopes: []string{"openid", "email", "profile"}},
	"gitlab":    {Kind: KindOIDC, Name: "GitLab", Issuer: "https://gitlab.com", Scopes: []string{"openid", "email", "profile"}},
	"github": {Kind: KindGitHub, Name: "GitHub", Scopes: []string{"read:user", "user:email"},
		AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
		APIURL: "https://api.github.com"},
}

// idPattern: lower-case, URL-safe, not one of the login routes' own words.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// reservedIDs are the paths under /login/ that are Gatehouse's own.
var reservedIDs = []string{"mfa", "passkey", "callback", "link"}

var scopePattern = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 scope-token

// ApplyPreset fills p's empty fields from the preset of its id, if any; a
// github provider under another id gets github.com's endpoints, and a
// provider with an issuer and no kind is oidc.
func (p *Provider) ApplyPreset() {
	pre, ok := Presets[p.ID]
	switch {
	case ok:
	case p.Kind == KindGitHub:
		pre = Presets["github"]
		pre.Name = ""
	case p.Kind == "" && p.Issuer != "":
		p.Kind = KindOIDC
		return
	default:
		return
	}
	if p.Kind == "" {
		p.Kind = pre.Kind
	}
	if p.Kind != pre.Kind {
		return // another kind under a preset's id: the preset does not apply
	}
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&p.Name, pre.Name}, {&p.Issuer, pre.Issuer}, {&p.AuthURL, pre.AuthURL}, {&p.TokenURL, pre.TokenURL}, {&p.APIURL, pre.APIURL},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if len(p.Scopes) == 0 {
		p.Scopes = slices.Clone(pre.Scopes)
	}
}

// validate checks a provider's settings (its secret aside): the rules of
// its kind, and that every URL is https, or http on a loopback host.
func (p *Provider) validate() error {
	bad := func(format string, args ...any) error { return auth.Errorf(auth.CodeInvalidRequest, format, args...) }
	if !idPattern.MatchString(p.ID) || slices.Contains(reservedIDs, p.ID) {
		return bad("The provider id must be 1 to 32 lower-case letters, digits or '-', starting with a letter, and not one of %s.", strings.Join(reservedIDs, ", "))
	}
	name, err := auth.CleanName(p.Name)
	if err != nil || name == "" {
		return bad("The provider name must be 1 to 100 printable characters.")
	}
	p.Name = name
	if p.ClientID == "" || len(p.ClientID) > 512 {
		return bad("The client id is required (at most 512 characters).")
	}
	for _, s := range p.Scopes {
		if !scopePattern.MatchString(s) {
			return bad("The scope %q is not valid.", s)
		}
	}
	switch p.Kind {
	case KindOIDC:
		if err := checkURL("issuer", p.Issuer); err != nil {
			return err
		}
		if len(p.Scopes) == 0 { // who the user is, and the email the linking rules need
			p.Scopes = []string{"openid", "email", "profile"}
		}
		if !slices.Contains(p.Scopes, "openid") {
			p.Scopes = append([]string{"openid"}, p.Scopes...)
		}
		if p.AuthURL != "" || p.TokenURL != "" || p.APIURL != "" {
			return bad("An oidc provider's endpoints come from its discovery document: set --issuer only.")
		}
	case KindGitHub:
		if p.Issuer != "" {
			return bad("A github provider has no issuer; set --auth-url, --token-url and --api-url for GitHub Enterprise.")
		}
		for _, u := range []struct{ name, v string }{{"auth URL", p.AuthURL}, {"token URL", p.TokenURL}, {"API URL", p.APIURL}} {
			if err := checkURL(u.name, u.v); err != nil {
				return err
			}
		}
	default:
		return bad("The provider kind must be oidc or github.")
	}
	return nil
}

// checkURL accepts an absolute https URL, or http on a loopback host (tests,
// local development), without credentials, query or fragment.
func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) {
		return auth.Errorf(auth.CodeInvalidRequest, "The %s must be an https URL (http only on a loopback host) without query or fragment.", what)
	}
	return nil
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// local reports whether every URL of the provider is on a loopback host: a
// provider running on this machine (tests, local development). Only a
// local provider's calls may reach loopback and private addresses; every
// other provider is called through the public-only client.
func (p *Provider) local() bool {
	seen := false
	for _, raw := range []string{p.Issuer, p.AuthURL, p.TokenURL, p.APIURL} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || !loopbackHost(u.Hostname()) {
			return false
		}
		seen = true
	}
	return seen
}
