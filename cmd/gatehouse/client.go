package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// listFlag is a flag that may be repeated (--redirect-uri A --redirect-uri B);
// each value may also hold several, separated by commas or spaces.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	return nil
}

// clientCommand runs "gatehouse client add|list|remove|rotate-secret|disable|enable".
func clientCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &configError{"client needs a subcommand: add, list, remove, rotate-secret, disable, enable or update"}
	}
	sub, args := args[0], args[1:]
	wantArgs := map[string]int{"add": 0, "list": 0, "remove": 1, "rotate-secret": 1, "disable": 1, "enable": 1, "update": 1}
	n, known := wantArgs[sub]
	if !known {
		return &configError{fmt.Sprintf("unknown client subcommand %q (want add, list, remove, rotate-secret, disable, enable or update)", sub)}
	}
	var c config
	fs := newFlagSet("client "+sub, &c, false, stderr)
	switch sub {
	case "add": // an RS256 client's key is sealed with it
		addServerFlags(fs, &c, "master-key-file")
	case "remove", "rotate-secret", "disable": // they end sessions, or a service client's tokens
		addServerFlags(fs, &c, "access-ttl")
	}
	var in oidc.ClientInput
	var redirects, logouts, scopes, audiences listFlag
	var requireConsent, requirePKCE bool
	var grant, jwksFile string
	if sub == "add" {
		fs.StringVar(&in.Name, "name", "", "the application's name, shown on the consent page")
		fs.Var(&redirects, "redirect-uri", "a redirect URI (repeat for several); matched exactly, any port on http://127.0.0.1 or [::1]")
		fs.Var(&logouts, "post-logout-redirect-uri", "where end-session may send the browser back (repeatable)")
		fs.BoolVar(&in.Public, "public", false, "a public client (no secret: single-page and native apps); PKCE required")
		fs.Var(&scopes, "scopes", "scopes it may ask for (default: openid profile email offline_access)")
		fs.StringVar(&in.IDTokenAlg, "id-token-alg", "", "ID token algorithm: EdDSA, ES256 or RS256 (default: the server's)")
		fs.BoolVar(&requireConsent, "require-consent", true, "ask users for consent (false: a trusted first-party app)")
		fs.BoolVar(&requirePKCE, "require-pkce", true, "require PKCE S256 (confidential clients may turn it off)")
		fs.BoolVar(&in.Service, "service", false, "a service client: the client_credentials grant, for a machine acting as itself (short for --grant client_credentials)")
		fs.StringVar(&grant, "grant", "", "the grant it uses: authorization_code (default: users sign in to it) or client_credentials (a service client)")
		fs.Var(&audiences, "audiences", "service clients: the audiences (resources) its tokens may name, comma-separated")
		fs.StringVar(&jwksFile, "jwks-file", "", "service clients: a file holding its public JWK Set; it then authenticates with private_key_jwt, and has no secret")
		fs.StringVar(&in.JWKSURI, "jwks-uri", "", "service clients: the https URL of its public JWK Set (fetched by the server); it then authenticates with private_key_jwt")
		fs.BoolVar(&in.Introspect, "introspect", false, "may call /oauth/introspect about any token of the server: API keys, service and users' access tokens (a resource server, e.g. one using guard; confidential clients only)")
	}
	var introspect bool
	if sub == "update" {
		fs.BoolVar(&introspect, "introspect", false, "may call /oauth/introspect about any token of the server (true), or only about its own (false)")
	}
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	var patch oidc.ClientPatch
	if sub == "update" {
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "introspect" {
				patch.Introspect = &introspect
			}
		})
		if patch.Introspect == nil {
			return &configError{"client update needs --introspect=true or --introspect=false"}
		}
	}
	if len(rest) != n {
		return &configError{fmt.Sprintf("client %s takes %d argument(s), got %d", sub, n, len(rest))}
	}
	if sub == "add" {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "require-consent":
				in.RequireConsent = &requireConsent
			case "require-pkce":
				in.RequirePKCE = &requirePKCE
			}
		})
		in.RedirectURIs, in.PostLogoutRedirectURIs, in.Scopes, in.Audiences = redirects, logouts, scopes, audiences
		switch grant {
		case "", oidc.GrantAuthorizationCode:
		case oidc.GrantClientCredentials:
			in.Service = true
		default:
			return &configError{fmt.Sprintf("--grant %q: want authorization_code or client_credentials", grant)}
		}
		if grant == oidc.GrantAuthorizationCode && in.Service {
			return &configError{"--service and --grant authorization_code contradict each other"}
		}
		if jwksFile != "" {
			b, err := os.ReadFile(jwksFile)
			if err != nil {
				return &configError{fmt.Sprintf("--jwks-file: %v", err)}
			}
			in.JWKS = strings.TrimSpace(string(b))
		}
	}
	svc, st, done, err := openAdminStore(ctx, c, false, stderr)
	if err != nil {
		return err
	}
	defer done()
	masterKey := func() (*seal.Key, error) {
		path, isDefault, err := c.masterKeyFile()
		if err != nil {
			return nil, err
		}
		return loadMasterKey(ctx, st, path, isDefault, newLogger(c.LogFormat, stderr))
	}
	keys := storeKeys{st: st, masterKey: masterKey, configured: getenv(envName("signing-alg"))}
	clients := oidc.NewClients(oidc.ClientsDeps{Store: st, Accounts: svc.Accounts, Feed: svc.Feed, Keys: keys})
	ctx = auth.WithActor(ctx, "cli")
	switch sub {
	case "add":
		cl, secret, err := clients.Add(ctx, in)
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "client_id: %s\n", cl.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown once: only its hash is stored)\n", secret)
		}
	case "list":
		list, err := clients.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tID_TOKEN_ALG\tCONSENT\tREDIRECT_URIS\tSCOPES\tAUDIENCES")
		for _, cl := range list {
			kind := "confidential"
			switch {
			case cl.Public:
				kind = "public"
			case cl.Service() && cl.Disabled:
				kind = "service (disabled)"
			case cl.Service():
				kind = "service"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", cl.ID, cl.Name, kind, cl.IDTokenAlg, cl.RequireConsent,
				strings.Join(cl.RedirectURIs, ","), strings.Join(cl.Scopes, " "), strings.Join(cl.Audiences, ","))
		}
		return tw.Flush()
	case "remove":
		if err := clients.Remove(ctx, rest[0]); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "removed client %s; its sessions and tokens have ended\n", rest[0])
	case "update":
		cl, err := clients.Update(ctx, rest[0], patch)
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "client %s: introspect %t\n", cl.ID, cl.Introspect)
	case "rotate-secret":
		secret, err := clients.RotateSecret(ctx, rest[0])
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "client_secret: %s\n(shown once; running servers refuse the old secret within half a second, at their next read of the change feed)\n", secret)
	case "disable", "enable":
		disabled := sub == "disable"
		if _, err := clients.Update(ctx, rest[0], oidc.ClientPatch{Disabled: &disabled}); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		if disabled {
			fmt.Fprintf(stdout, "disabled client %s; its tokens have ended\n", rest[0])
		} else {
			fmt.Fprintf(stdout, "enabled client %s\n", rest[0])
		}
	}
	return nil
}

// storeKeys is the command line's view of the signing keys: which
// algorithm the server signs with, and making the key an RS256 (or other)
// client's ID tokens need (oidc.ClientKeys).
type storeKeys struct {
	st         *store.Store
	masterKey  func() (*seal.Key, error) // loaded only to seal a new key
	configured string                    // GATEHOUSE_SIGNING_ALG, when the environment sets the servers' algorithm
}

// Algorithm is the servers' --signing-alg, which a client's ID tokens
// default to: GATEHOUSE_SIGNING_ALG when set, else as the stored keys tell
// it (storedAlgorithm); "" for a database no server started on yet.
func (k storeKeys) Algorithm() string {
	if k.configured != "" {
		return k.configured
	}
	records, err := k.st.SigningKeys(context.Background())
	if err != nil {
		return ""
	}
	return storedAlgorithm(records, time.Now())
}

func (k storeKeys) EnsureKey(ctx context.Context, alg string) error {
	if alg == k.Algorithm() || k.Algorithm() == "" && alg == "EdDSA" {
		return nil // the server's own key, which it makes at its start
	}
	mk, err := k.masterKey()
	if err != nil {
		return err
	}
	return token.EnsureKey(ctx, k.st, mk, alg, time.Now())
}
