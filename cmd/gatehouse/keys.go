package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/app"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/token"
)

// keysCommand runs "gatehouse keys rotate|list". It reads the server's flags
// (--signing-alg, --access-ttl) so it computes what the servers compute.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return &configError{"keys needs a subcommand: rotate or list"}
	}
	sub := args[0]
	var c config
	fs := newFlagSet("keys "+sub, &c, false, stderr)
	addServerFlags(fs, &c, "access-ttl", "master-key-file")
	if sub == "rotate" {
		addServerFlags(fs, &c, "signing-alg")
	}
	rest, err := parseConfig(fs, args[1:], getenv, &c)
	if err != nil {
		return err
	}
	algGiven := getenv(envName("signing-alg")) != ""
	fs.Visit(func(f *flag.Flag) { algGiven = algGiven || f.Name == "signing-alg" })
	if len(rest) != 0 {
		return &configError{fmt.Sprintf("keys %s takes no arguments", sub)}
	}
	keyFile, defaultKeyFile, err := c.masterKeyFile()
	if err != nil {
		return err
	}
	log := newLogger(c.LogFormat, stderr)
	st, err := openStore(ctx, c.DB, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// The same master key as the servers: rotate seals the new key with it,
	// list tells whether each key opens with it.
	masterKey, err := loadMasterKey(ctx, st, keyFile, defaultKeyFile, log)
	if err != nil {
		return err
	}
	retireAfter := app.KeyRetirement(c.AccessTTL)
	now := time.Now().UTC()

	if sub == "rotate" {
		alg, err := rotationAlgorithm(ctx, st, c.SigningAlg, algGiven)
		if err != nil {
			return err
		}
		if alg == "HS256" {
			return badFlag("signing-alg", "HS256 keys come from the server's --hs256-secret-file: rotate by replacing the file and restarting")
		}
		rec, err := token.Rotate(ctx, st, masterKey, alg, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new %s key %s; running servers with --signing-alg %s sign with it within %s, and earlier keys verify until %s\n",
			rec.Algorithm, rec.ID, rec.Algorithm, app.KeyReload, now.Add(retireAfter).Format(time.RFC3339))
		return nil
	}
	records, err := st.SigningKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALGORITHM\tCREATED\tSTATE\tSEALED")
	for _, k := range keyStates(records, retireAfter, now) {
		state := "active for " + k.Algorithm
		switch {
		case k.Retired:
			state = "retired"
		case !k.Active:
			state = "verifying until " + k.VerifyUntil.Format(time.RFC3339)
		}
		sealed := "yes"
		switch {
		case !k.Sealed:
			sealed = "no: sealed at the next start"
		case k.Retired:
		case !opens(masterKey, k.Record):
			sealed = "yes, not with this master key"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.CreatedAt.Format(time.RFC3339), state, sealed)
	}
	return tw.Flush()
}

// keyStates is each key's state as the servers see it, oldest first. A
// server signs only with keys of its --signing-alg, so each algorithm has
// its own active key (the newest of that algorithm: what servers configured
// for it sign with), and a key is replaced only by a newer key of its own
// algorithm; a key a server has marked retired is retired.
func keyStates(records []token.Record, retireAfter time.Duration, now time.Time) []token.KeyState {
	byAlg := map[string][]token.Record{}
	for _, r := range records {
		byAlg[r.Algorithm] = append(byAlg[r.Algorithm], r)
	}
	var out []token.KeyState
	for _, rs := range byAlg {
		for _, k := range token.States(rs, retireAfter, now) {
			if !k.RetiredAt.IsZero() {
				k.Retired, k.Active = true, false
			}
			out = append(out, k)
		}
	}
	slices.SortStableFunc(out, func(a, b token.KeyState) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// opens reports whether the master key opens a sealed record.
func opens(mk *seal.Key, r token.Record) bool {
	_, err := mk.Open(r.PrivateKey, token.SealAAD(r.ID))
	return err == nil
}

// rotationAlgorithm is the algorithm "keys rotate" makes a key for: the one
// given with --signing-alg (or GATEHOUSE_SIGNING_ALG), else the servers'
// (storedAlgorithm), so that a rotation never hands a server a key its
// verifier refuses; with no key stored yet, the --signing-alg default.
func rotationAlgorithm(ctx context.Context, st token.Store, configured string, given bool) (string, error) {
	if given {
		return configured, nil
	}
	records, err := st.SigningKeys(ctx)
	if err != nil {
		return "", err
	}
	if alg := storedAlgorithm(records, time.Now()); alg != "" {
		return alg, nil
	}
	return configured, nil
}

// storedAlgorithm is the servers' --signing-alg as the stored keys tell it:
// of the algorithms with an active key, the only one, or among several (the
// others made for clients that asked for them) the default --signing-alg,
// or else the one whose key is oldest; "" when no key is active.
func storedAlgorithm(records []token.Record, now time.Time) string {
	var active []string
	for _, s := range keyStates(records, 0, now) {
		if s.Active && !slices.Contains(active, s.Algorithm) {
			active = append(active, s.Algorithm)
		}
	}
	if def := app.Defaults().SigningAlg; len(active) > 1 && slices.Contains(active, def) {
		return def
	}
	if len(active) == 0 {
		return ""
	}
	return active[0]
}
