package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

// runCmd runs the gatehouse command with args and no environment.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errs testsupport.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errs)
	return code, out.String(), errs.String()
}

func TestMailTestCommandSendsThroughSMTP(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "gate", Password: "smtp-pa55"})
	code, stdout, stderr := runCmd(t, nil, "mail", "test", "ann@example.com",
		"--smtp-url", srv.URL(), "--mail-from", "Gatehouse <noreply@example.com>", "--issuer", "https://id.example.com")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d mails", len(got))
	}
	r := got[0]
	if r.To[0] != "ann@example.com" || r.From != "noreply@example.com" || r.AuthUser != "gate" ||
		r.Subject != "Gatehouse test mail" || !strings.Contains(r.Text, "https://id.example.com") || !strings.Contains(r.HTML, "https://id.example.com") {
		t.Fatalf("received %+v", r)
	}
	if !strings.Contains(stdout, "test mail to ann@example.com handed to SMTP gate@127.0.0.1:") {
		t.Fatalf("stdout %q", stdout)
	}
	if strings.Contains(stdout+stderr, "smtp-pa55") {
		t.Fatalf("the SMTP password was printed:\n%s\n%s", stdout, stderr)
	}

	// The environment works as well as flags, and the address may come last.
	env := map[string]string{"GATEHOUSE_SMTP_URL": srv.URL(), "GATEHOUSE_MAIL_FROM": "noreply@example.com"}
	if code, _, stderr := runCmd(t, env, "mail", "test", "--log-format", "json", "bob@example.com"); code != 0 {
		t.Fatalf("from the environment: exit %d: %s", code, stderr)
	}
	if got := srv.Received(); len(got) != 2 || got[1].To[0] != "bob@example.com" {
		t.Fatalf("second test mail: %+v", got)
	}
}

func TestMailTestCommandReportsFailure(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "gate", Password: "right", RefuseFirst: 1})
	badPass := strings.Replace(srv.URL(), "right", "wr0ng-pa55", 1)
	code, _, stderr := runCmd(t, nil, "mail", "test", "ann@example.com", "--smtp-url", badPass, "--mail-from", "noreply@example.com")
	if code != 1 || !strings.Contains(stderr, "test mail not sent") || !strings.Contains(stderr, "535") {
		t.Fatalf("wrong password: exit %d, %s", code, stderr)
	}
	if strings.Contains(stderr, "wr0ng-pa55") {
		t.Fatalf("the password was printed: %s", stderr)
	}
	code, _, stderr = runCmd(t, nil, "mail", "test", "ann@example.com", "--smtp-url", srv.URL(), "--mail-from", "noreply@example.com")
	if code != 1 || !strings.Contains(stderr, "451") {
		t.Fatalf("server refusing: exit %d, %s", code, stderr)
	}
	if len(srv.Received()) != 0 {
		t.Fatal("a refused mail was received")
	}
}

func TestMailConfigErrors(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-in-url"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--smtp-url", "smtp://u:" + pw + "@mail.example.com:25?tls=none", "--mail-from", "a@example.com"}, "only to a loopback host"},
		{[]string{"--smtp-url", "http://u:" + pw + "@mail.example.com"}, "invalid --smtp-url (GATEHOUSE_SMTP_URL)"},
		{[]string{"--smtp-url", "smtp://u:" + pw + "@mail.example.com:x"}, "not a URL"},
		{[]string{"--smtp-url", "smtp://u:" + pw + "@mail.example.com"}, "--mail-from (GATEHOUSE_MAIL_FROM): is required with --smtp-url"},
		{[]string{"--mail-from", "not an address"}, "invalid --mail-from"},
	} {
		for _, cmd := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "g.db")}, {"mail", "test", "ann@example.com"}} {
			code, _, stderr := runCmd(t, nil, append(cmd, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("%s %v: exit %d, %q; want 2 saying %q", cmd[0], tc.args, code, stderr, tc.want)
			}
			if strings.Contains(stderr, pw) {
				t.Errorf("%s %v: the password was printed: %s", cmd[0], tc.args, stderr)
			}
		}
	}
	if code, _, stderr := runCmd(t, nil, "mail", "test"); code != 2 || !strings.Contains(stderr, "one argument") {
		t.Errorf("mail test without an address: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, nil, "mail", "send"); code != 2 || !strings.Contains(stderr, "subcommand") {
		t.Errorf("unknown subcommand: %d %s", code, stderr)
	}
}

func TestMailTestCommandWithoutSMTPWritesTheLog(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(t, nil, "mail", "test", "ann@example.com", "--issuer", "https://id.example.com")
	if code != 0 || !strings.Contains(stdout, "handed to the log") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	if strings.Count(stderr, "mail is not sent but written to this log") != 1 ||
		!strings.Contains(stderr, "to=ann@example.com") || !strings.Contains(stderr, `subject="Gatehouse test mail"`) ||
		!strings.Contains(stderr, "links=https://id.example.com") {
		t.Fatalf("stderr:\n%s", stderr)
	}
}

// TestServerDeliversTheOutboxAfterARestart writes mail to the outbox of a
// database no server runs on (as if a server died between enqueuing and
// sending), then starts one: it delivers the mail through SMTP and counts it.
func TestServerDeliversTheOutboxAfterARestart(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{Username: "gate", Password: "pw"})
	db := filepath.Join(t.TempDir(), "gatehouse.db")
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tpl, _ := mail.NewTemplates("", "http://127.0.0.1:8080")
	m, err := tpl.Render(mail.ResetPassword, "ann@example.com", mail.Data{Link: "http://127.0.0.1:8080/reset-password?token=abc", Expires: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Sealed as a server's would be, with the master key beside the database.
	if err := sealMail(ctx, config{DB: db}, st, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := st.EnqueueMail(ctx, time.Now(), m); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s := startServer(t, db, "--smtp-url", srv.URL(), "--mail-from", "Gatehouse <noreply@example.com>")
	r := srv.Next(t)
	if r.To[0] != "ann@example.com" || r.Link("http://127.0.0.1:8080/reset-password?token=") != "http://127.0.0.1:8080/reset-password?token=abc" {
		t.Fatalf("received %+v", r)
	}
	sent := regexp.MustCompile(`(?m)^gatehouse_mail_sent_total 1$`)
	deadline := time.Now().Add(time.Minute)
	for { // the counter follows the delivery by a moment
		resp, err := http.Get(s.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if sent.Match(body) && strings.Contains(string(body), "gatehouse_mail_outbox_depth 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the delivery:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop() // flushes the log
	if strings.Contains(s.stderr.String(), "mail is not sent") || !strings.Contains(s.stderr.String(), "mail goes through SMTP gate@127.0.0.1") {
		t.Fatalf("start-up log:\n%s", s.stderr)
	}
}

func TestServerWithoutSMTPWarnsOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	s.stop()
	if n := strings.Count(s.stderr.String(), "mail is not sent but written to this log"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, s.stderr)
	}
}
