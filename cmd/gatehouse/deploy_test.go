package main

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "github.com/oasdiff/yaml3"
)

// The files of deploy/ cannot all run here (no init system, no container
// builder): these tests check what they say against the command, so that
// a renamed flag or a dropped setting fails here rather than at a start.
// .ci/run also runs systemd-analyze verify on the unit where it is
// installed.

// checkServeEnv parses env (GATEHOUSE_* variables) as serve's configuration,
// which fails on a variable naming no flag or a value the server refuses.
func checkServeEnv(t *testing.T, where string, env map[string]string) {
	t.Helper()
	var c config
	fs := newFlagSet("serve", &c, true, nil)
	for name := range env {
		flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "GATEHOUSE_")), "_", "-")
		if !strings.HasPrefix(name, "GATEHOUSE_") || fs.Lookup(flagName) == nil {
			t.Errorf("%s: %s is no variable of the server's", where, name)
		}
	}
	if _, err := parseConfig(fs, nil, func(k string) string { return env[k] }, &c); err != nil {
		t.Errorf("%s: the server refuses its settings: %v", where, err)
	}
}

func readDeploy(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives are a unit file's or a Dockerfile's "Key=value" or "KEY value"
// lines, comments left out, by key.
func directives(text, sep string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, _ := strings.Cut(line, sep)
		out[strings.TrimSpace(k)] = append(out[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return out
}

func TestSystemdUnitServesSandboxed(t *testing.T) {
	t.Parallel()
	unit := directives(readDeploy(t, "gatehouse.service"), "=")
	if got := unit["ExecStart"]; len(got) != 1 || !strings.HasSuffix(got[0], "/gatehouse serve") {
		t.Errorf("ExecStart %q, want the gatehouse binary serving", got)
	}
	env := map[string]string{}
	for _, e := range unit["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	checkServeEnv(t, "gatehouse.service", env)
	for key, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "RestrictNamespaces": "yes",
		"MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native", "UMask": "0077",
		"StateDirectory": "gatehouse", "RestartPreventExitStatus": "2", "KillSignal": "SIGTERM",
	} {
		if got := unit[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if !strings.HasPrefix(env["GATEHOUSE_DB"], "/var/lib/gatehouse/") {
		t.Errorf("GATEHOUSE_DB %q is not in the state directory, the one place the service may write", env["GATEHOUSE_DB"])
	}
}

func TestDockerfileBuildsAStaticNonRootImage(t *testing.T) {
	t.Parallel()
	text := readDeploy(t, "Dockerfile")
	stages := strings.Split(text, "\nFROM ")
	final := directives("FROM "+stages[len(stages)-1], " ")
	if got := final["FROM"]; len(got) != 1 || got[0] != "scratch" {
		t.Fatalf("the image is FROM %q, want scratch", got)
	}
	if !regexp.MustCompile(`RUN CGO_ENABLED=0 go build .* \./cmd/gatehouse`).MatchString(text) {
		t.Error("the binary is not built with CGO_ENABLED=0: a scratch image has no C library")
	}
	if user := final["USER"]; len(user) != 1 || !regexp.MustCompile(`^[1-9][0-9]*:[1-9][0-9]*$`).MatchString(user[0]) {
		t.Errorf("USER %q, want a numeric non-root uid:gid (scratch has no /etc/passwd)", user)
	}
	if !slices.ContainsFunc(final["COPY"], func(c string) bool {
		return strings.HasSuffix(c, "/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt")
	}) {
		t.Error("no CA certificates: TLS to SMTP, PostgreSQL or Redis would fail")
	}
	if got := final["ENTRYPOINT"]; len(got) != 1 || got[0] != `["/gatehouse"]` {
		t.Errorf("ENTRYPOINT %q", got)
	}
	env := map[string]string{}
	for _, e := range final["ENV"] {
		for _, kv := range strings.Fields(e) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	checkServeEnv(t, "Dockerfile", env)
	if !strings.HasPrefix(env["GATEHOUSE_DB"], "/data/") {
		t.Errorf("GATEHOUSE_DB %q is not in /data, the volume its user owns", env["GATEHOUSE_DB"])
	}
}

// interpolated replaces compose's ${VAR:-default} by the default and
// ${VAR:?message} by a placeholder, as compose would with VAR set.
var composeVariable = regexp.MustCompile(`\$\{([A-Z_]+)(?::-([^}]*)|:\?[^}]*)?\}`)

func TestComposeRunsTwoInstancesOnPostgresAndRedis(t *testing.T) {
	t.Parallel()
	var file struct {
		Services map[string]struct {
			Image       string
			Build       struct{ Context, Dockerfile string }
			Environment map[string]string
			Secrets     []string
		}
		Secrets map[string]struct{ File string }
	}
	if err := yaml.Unmarshal([]byte(readDeploy(t, "compose.yaml")), &file); err != nil {
		t.Fatal(err)
	}
	var instances []string
	for name, s := range file.Services {
		if s.Build.Dockerfile == "deploy/Dockerfile" {
			instances = append(instances, name)
		}
	}
	slices.Sort(instances)
	if len(instances) != 2 {
		t.Fatalf("instances built from deploy/Dockerfile: %v, want two", instances)
	}
	a, b := file.Services[instances[0]], file.Services[instances[1]]
	if !maps.Equal(a.Environment, b.Environment) {
		t.Errorf("the instances' settings differ: %v and %v", a.Environment, b.Environment)
	}
	env := map[string]string{}
	for k, v := range a.Environment {
		env[k] = composeVariable.ReplaceAllStringFunc(v, func(m string) string {
			if d := composeVariable.FindStringSubmatch(m)[2]; d != "" {
				return d
			}
			return "secret"
		})
	}
	checkServeEnv(t, "compose.yaml", env)
	for name, prefix := range map[string]string{"GATEHOUSE_DB": "postgres://", "GATEHOUSE_REDIS": "redis://", "GATEHOUSE_ISSUER": "http"} {
		if !strings.HasPrefix(env[name], prefix) {
			t.Errorf("%s=%q, want %s...", name, env[name], prefix)
		}
	}
	if _, ok := file.Services["postgres"]; !ok {
		t.Error("no postgres service")
	}
	if _, ok := file.Services["redis"]; !ok {
		t.Error("no redis service")
	}
	keyFile := env["GATEHOUSE_MASTER_KEY_FILE"]
	secret := strings.TrimPrefix(keyFile, "/run/secrets/")
	if keyFile == secret || !slices.Contains(a.Secrets, secret) || file.Secrets[secret].File == "" {
		t.Errorf("GATEHOUSE_MASTER_KEY_FILE %q is not a secret the instances get (PostgreSQL requires the key file)", keyFile)
	}
}
