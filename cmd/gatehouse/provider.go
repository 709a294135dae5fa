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

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// providerCommand runs "gatehouse provider add|list|update|remove": the
// upstream identity providers people may sign in through.
func providerCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &configError{"provider needs a subcommand: add, list, update or remove"}
	}
	sub, args := args[0], args[1:]
	wantArgs := map[string]int{"add": 0, "list": 0, "update": 1, "remove": 1}
	n, known := wantArgs[sub]
	if !known {
		return &configError{fmt.Sprintf("unknown provider subcommand %q (want add, list, update or remove)", sub)}
	}
	var c config
	fs := newFlagSet("provider "+sub, &c, false, stderr)
	switch sub {
	case "add", "update": // the client secret is sealed with it
		addServerFlags(fs, &c, "master-key-file", "public-url")
	case "list":
		addServerFlags(fs, &c, "public-url")
	}
	var in upstream.ProviderInput
	var name, issuer, clientID, authURL, tokenURL, apiURL, secretFile string
	var scopes listFlag
	var trustEmail, keepTokens bool
	if sub == "add" || sub == "update" {
		if sub == "add" {
			fs.StringVar(&in.ID, "id", "", "the provider's id, in its URLs (/login/ID); google, microsoft, gitlab and github fill in their defaults")
			fs.StringVar(&in.Kind, "kind", "", "oidc (any OpenID provider with discovery) or github (default: the preset's)")
		}
		fs.StringVar(&name, "name", "", `the name on the button, "Sign in with NAME" (default: the preset's, else the id)`)
		fs.StringVar(&issuer, "issuer", "", "oidc: the issuer URL whose /.well-known/openid-configuration is read (https; http only on a loopback host)")
		fs.StringVar(&clientID, "client-id", "", "the client id registered at the provider")
		fs.StringVar(&secretFile, "client-secret-file", "", "a file holding the client secret registered at the provider (- for standard input)")
		fs.Var(&scopes, "scopes", "scopes to ask for, comma-separated (default: the preset's; oidc always asks openid)")
		fs.StringVar(&authURL, "auth-url", "", "github: the authorization endpoint (GitHub Enterprise, tests)")
		fs.StringVar(&tokenURL, "token-url", "", "github: the token endpoint")
		fs.StringVar(&apiURL, "api-url", "", "github: the REST API's base URL")
		fs.BoolVar(&trustEmail, "trust-email", false, "link a verified email this provider asserts to the account with that email, without asking the user to sign in to it first")
		fs.BoolVar(&keepTokens, "keep-tokens", false, "keep the provider's tokens (sealed) so apps can get a fresh one at GET /me/identities/{id}/token")
	}
	rest, err := parseConfig(fs, args, getenv, &c)
	if err != nil {
		return err
	}
	if len(rest) != n {
		return &configError{fmt.Sprintf("provider %s takes %d argument(s), got %d", sub, n, len(rest))}
	}
	if sub == "update" {
		in.ID = rest[0]
	}
	fs.Visit(func(f *flag.Flag) { // what update changes: the flags given
		switch f.Name {
		case "name":
			in.Name = &name
		case "issuer":
			in.Issuer = &issuer
		case "client-id":
			in.ClientID = &clientID
		case "scopes":
			s := []string(scopes)
			in.Scopes = &s
		case "auth-url":
			in.AuthURL = &authURL
		case "token-url":
			in.TokenURL = &tokenURL
		case "api-url":
			in.APIURL = &apiURL
		case "trust-email":
			in.TrustEmail = &trustEmail
		case "keep-tokens":
			in.KeepTokens = &keepTokens
		}
	})
	if secretFile != "" {
		if in.ClientSecret, err = readSecretFile(secretFile, stdin); err != nil {
			return err
		}
	}
	if sub == "add" && in.ClientSecret == "" {
		return &configError{"provider add needs --client-secret-file"}
	}
	svc, st, done, err := openAdminStore(ctx, c, false, stderr)
	if err != nil {
		return err
	}
	defer done()
	deps := upstream.Deps{Store: st, Accounts: svc.Accounts, Log: newLogger(c.LogFormat, stderr)}
	if sub == "add" || sub == "update" && in.ClientSecret != "" {
		path, isDefault, err := c.masterKeyFile()
		if err != nil {
			return err
		}
		mk, err := loadMasterKey(ctx, st, path, isDefault, deps.Log)
		if err != nil {
			return err
		}
		deps.Sealer = mk
	}
	providers := upstream.New(upstream.Config{PublicURL: c.PublicURL}, deps)
	ctx = auth.WithActor(ctx, "cli")
	switch sub {
	case "add", "update":
		var p upstream.Provider
		if sub == "add" {
			p, err = providers.AddProvider(ctx, in)
		} else {
			p, err = providers.UpdateProvider(ctx, in)
		}
		if err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "provider %s (%s) saved; running servers use it within seconds\n", p.ID, p.Kind)
		if c.PublicURL != "" {
			fmt.Fprintf(stdout, "redirect URI to register at the provider: %s\n", providers.CallbackURL(p.ID))
		} else {
			fmt.Fprintf(stdout, "redirect URI to register at the provider: <public URL>/login/%s/callback\n", p.ID)
		}
	case "list":
		list, err := providers.Providers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tNAME\tISSUER_OR_API\tCLIENT_ID\tSCOPES\tTRUST_EMAIL\tKEEP_TOKENS")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%t\t%t\n", p.ID, p.Kind, p.Name, firstNonEmpty(p.Issuer, p.APIURL), p.ClientID,
				strings.Join(p.Scopes, " "), p.TrustEmail, p.KeepTokens)
		}
		return tw.Flush()
	case "remove":
		if err := providers.RemoveProvider(ctx, rest[0]); err != nil {
			return errors.New(auth.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "removed provider %s and the identities linked through it\n", rest[0])
	}
	return nil
}

// readSecretFile reads a secret from a file (or standard input for "-"),
// without its trailing newline.
func readSecretFile(path string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 8192))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", &configError{fmt.Sprintf("--client-secret-file: %v", err)}
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return "", &configError{"--client-secret-file: the file is empty"}
	}
	return secret, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
