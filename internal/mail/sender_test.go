package mail_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	const pw = "pa55-w0rd"
	for _, tc := range []struct {
		url  string
		want mail.SMTPConfig // zero: an error
		err  string          // part of the error
	}{
		{url: "smtp://u:" + pw + "@mail.example.com:587", want: mail.SMTPConfig{Host: "mail.example.com", Port: 587, Username: "u", Password: pw, TLS: mail.STARTTLS}},
		{url: "smtp://mail.example.com", want: mail.SMTPConfig{Host: "mail.example.com", Port: 587, TLS: mail.STARTTLS}},
		{url: "smtps://u:" + pw + "@mail.example.com", want: mail.SMTPConfig{Host: "mail.example.com", Port: 465, Username: "u", Password: pw, TLS: mail.ImplicitTLS}},
		{url: "smtps://mail.example.com:2465/", want: mail.SMTPConfig{Host: "mail.example.com", Port: 2465, TLS: mail.ImplicitTLS}},
		{url: "smtp://127.0.0.1:2525", want: mail.SMTPConfig{Host: "127.0.0.1", Port: 2525, TLS: mail.OpportunisticTLS}},
		{url: "smtp://localhost:1025?tls=none", want: mail.SMTPConfig{Host: "localhost", Port: 1025, TLS: mail.NoTLS}},
		{url: "smtp://[::1]:2525?tls=none", want: mail.SMTPConfig{Host: "::1", Port: 2525, TLS: mail.NoTLS}},
		{url: "smtp://u:" + pw + "@mail.example.com:25?tls=none", err: "only to a loopback host"},
		{url: "smtp://10.0.0.5:25?tls=none", err: "only to a loopback host"},
		{url: "smtps://127.0.0.1?tls=none", err: "contradicts"},
		{url: "smtp://mail.example.com?tls=off", err: "the only value is none"},
		{url: "smtp://mail.example.com?insecure=1", err: "unknown parameter"},
		{url: "http://u:" + pw + "@mail.example.com", err: "scheme"},
		{url: "mail.example.com:587", err: "scheme"},
		{url: "smtp://u:" + pw + "@:587", err: "no host"},
		{url: "smtp://u:" + pw + "@mail.example.com:0", err: "port"},
		{url: "smtp://u:" + pw + "@mail.example.com:99999", err: "port"},
		{url: "smtp://u:" + pw + "@mail.example.com:x", err: "not a URL"},
		{url: "smtp://mail.example.com/inbox", err: "no path"},
		{url: "smtp://:" + pw + "@mail.example.com", err: "without a user name"},
		{url: "smtp://u:" + pw + "@mail.example.com\x7f", err: "not a URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := mail.ParseSMTPURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("the error repeats the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
			if strings.Contains(got.String(), pw) {
				t.Fatalf("String() shows the password: %s", got)
			}
		})
	}
}

func TestSMTPSenderRequiresSTARTTLS(t *testing.T) {
	t.Parallel()
	plain := mailtest.Start(t, mailtest.Options{})
	snd, err := mail.NewSMTPSender(mail.SMTPConfig{Host: plain.Host, Port: plain.Port, TLS: mail.STARTTLS}, "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(context.Background(), resetMail(t, "ann@example.com"))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || len(plain.Received()) != 0 {
		t.Fatalf("send to a server without STARTTLS: %v (received %d); want a refusal", err, len(plain.Received()))
	}
	tls := mailtest.Start(t, mailtest.Options{TLS: true})
	snd, _ = mail.NewSMTPSender(mail.SMTPConfig{Host: tls.Host, Port: tls.Port, TLS: mail.STARTTLS}, "noreply@example.com")
	if err := snd.Send(context.Background(), resetMail(t, "ann@example.com")); err == nil {
		t.Fatal("a certificate the system does not trust was accepted")
	}
	if _, err := mail.NewSMTPSender(mail.SMTPConfig{Host: "mail.example.com", Port: 25, TLS: mail.NoTLS}, "noreply@example.com"); err == nil {
		t.Fatal("plain SMTP to a host that is not loopback was accepted")
	}
	if _, err := mail.NewSMTPSender(mail.SMTPConfig{Host: "x"}, "not an address"); err == nil {
		t.Fatal("a bad From address was accepted")
	}
}

func TestSMTPPasswordNeverLogged(t *testing.T) {
	t.Parallel()
	const pw = "wr0ng-s3cret-pw"
	srv := mailtest.Start(t, mailtest.Options{TLS: true, Username: "gate", Password: "right"})
	cfg, err := mail.ParseSMTPURL("smtp://gate:" + pw + "@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = srv.RootCAs
	snd, err := mail.NewSMTPSender(cfg, "noreply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.New(t)
	ctx := context.Background()
	logs := &testsupport.Buffer{}
	w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: snd, Now: newClock().Now, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err := st.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Deliver(ctx); n != 1 || err != nil {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	e := entries(t, st)[0]
	if e.LastError == "" || !strings.Contains(logs.String(), "will retry") {
		t.Fatalf("the auth failure was not recorded: %+v\n%s", e, logs)
	}
	for where, text := range map[string]string{"log": logs.String(), "last_error": e.LastError, "String": snd.String()} {
		if strings.Contains(text, pw) {
			t.Fatalf("the password appears in the %s: %s", where, text)
		}
	}
	t.Log("recorded error: ", e.LastError)
	if len(srv.Received()) != 0 {
		t.Fatal("mail accepted with a wrong password")
	}
}
