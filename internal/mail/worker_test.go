package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/internal/store"
	"github.com/gatehouse-auth/gatehouse/internal/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/testsupport"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// newClock is the injected time source, at t0, that tests move by hand.
func newClock() *testsupport.Clock { return testsupport.NewClock(t0) }

func sender(t *testing.T, s *mailtest.Server) *mail.SMTPSender {
	t.Helper()
	cfg, err := mail.ParseSMTPURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = s.RootCAs
	snd, err := mail.NewSMTPSender(cfg, "Gatehouse <noreply@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

func resetMail(t *testing.T, to string) mail.Message {
	t.Helper()
	tpl, err := mail.NewTemplates("", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(mail.ResetPassword, to, mail.Data{Link: "https://id.example.com/reset-password?token=tok-" + to, Expires: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func entries(t *testing.T, st *store.Store) []store.OutboxEntry {
	t.Helper()
	e, err := st.OutboxEntries(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestWorkerDeliversOverSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{TLS: true, Username: "gate", Password: "s3cret"})
	st := storetest.New(t)
	ctx := context.Background()
	var sent atomic.Int32
	w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender(t, srv), Now: newClock().Now, OnSent: func() { sent.Add(1) }})
	if err := st.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d mails", len(got))
	}
	r := got[0]
	if !r.TLS || r.AuthUser != "gate" || r.From != "noreply@example.com" || len(r.To) != 1 || r.To[0] != "ann@example.com" {
		t.Fatalf("envelope: tls %v auth %q from %q to %v", r.TLS, r.AuthUser, r.From, r.To)
	}
	if r.Subject != "Reset your Gatehouse password" || r.Header.Get("To") != "<ann@example.com>" || r.Header.Get("Message-Id") == "" {
		t.Fatalf("headers: subject %q, %v", r.Subject, r.Header)
	}
	link := "https://id.example.com/reset-password?token=tok-ann@example.com"
	if r.Link("https://id.example.com/reset-password?token=") != link || !strings.Contains(r.HTML, `href="`+link+`"`) {
		t.Fatalf("link not in both parts: %v\n%s", r.Links(), r.HTML)
	}
	if e := entries(t, st); len(e) != 1 || e[0].SentAt.IsZero() || e[0].Attempts != 1 {
		t.Fatalf("outbox row %+v", e)
	}
	if sent.Load() != 1 {
		t.Fatalf("OnSent called %d times", sent.Load())
	}
	if n, _ := w.Deliver(ctx); n != 0 || len(srv.Received()) != 1 {
		t.Fatal("a sent mail went out again")
	}
}

func TestWorkerRetriesWithExponentialBackoff(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{RefuseFirst: 3})
	st := storetest.New(t)
	ctx := context.Background()
	clk := newClock()
	logs := &testsupport.Buffer{}
	var retries, finals atomic.Int32
	w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender(t, srv), Now: clk.Now,
		Log: slog.New(slog.NewTextHandler(logs, nil)),
		OnFailed: func(final bool) {
			if final {
				finals.Add(1)
			} else {
				retries.Add(1)
			}
		}})
	if err := st.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	// Refused at t0, t0+5s, t0+15s; delivered at t0+35s.
	for i, wait := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
		if n, err := w.Deliver(ctx); err != nil || n != 1 {
			t.Fatalf("attempt %d: Deliver = %d, %v", i+1, n, err)
		}
		e := entries(t, st)[0]
		if want := clk.Now().Add(wait); !e.NextAttemptAt.Equal(want) || !strings.Contains(e.LastError, "451") || e.Attempts != i+1 {
			t.Fatalf("after attempt %d: %+v; want next attempt at %s and the 451 recorded", i+1, e, want)
		}
		clk.Advance(wait - time.Millisecond)
		if n, _ := w.Deliver(ctx); n != 0 {
			t.Fatalf("attempt %d: retried before its backoff ran out", i+1)
		}
		clk.Advance(time.Millisecond)
	}
	if n, err := w.Deliver(ctx); err != nil || n != 1 || len(srv.Received()) != 1 {
		t.Fatalf("fourth attempt: %d, %v, received %d", n, err, len(srv.Received()))
	}
	if e := entries(t, st)[0]; e.SentAt.IsZero() || e.LastError != "" || e.Attempts != 4 {
		t.Fatalf("delivered row %+v", e)
	}
	if srv.Attempts() != 4 || retries.Load() != 3 || finals.Load() != 0 {
		t.Fatalf("server saw %d attempts; %d retries, %d given up", srv.Attempts(), retries.Load(), finals.Load())
	}
	if got := strings.Count(logs.String(), "will retry"); got != 3 {
		t.Fatalf("%d retry lines logged, want 3:\n%s", got, logs)
	}
	w2 := mail.NewWorker(mail.WorkerConfig{})
	for attempt, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 10: 2560 * time.Second, 11: time.Hour, 30: time.Hour} {
		if got := w2.Backoff(attempt); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}

func TestWorkerGivesUpAndRecordsTheFailure(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{RefuseFirst: 1000, RejectRcpt: "gone@example.com"})
	st := storetest.New(t)
	ctx := context.Background()
	clk := newClock()
	logs := &testsupport.Buffer{}
	w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender(t, srv), Now: clk.Now, MaxAttempts: 3,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err := st.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n, err := w.Deliver(ctx); err != nil || n != 1 {
			t.Fatalf("Deliver = %d, %v", n, err)
		}
		clk.Advance(time.Hour)
	}
	e := entries(t, st)[0]
	if e.FailedAt.IsZero() || e.Attempts != 3 || !strings.Contains(e.LastError, "451") {
		t.Fatalf("after 3 attempts: %+v; want given up with the error", e)
	}
	if n, _ := w.Deliver(ctx); n != 0 {
		t.Fatal("a given-up mail was tried again")
	}
	if !strings.Contains(logs.String(), "mail given up") {
		t.Fatalf("giving up not logged:\n%s", logs)
	}

	// A mailbox the server refuses for good (550) is given up at once.
	srv.Refuse(0)
	if err := st.EnqueueMail(ctx, clk.Now(), resetMail(t, "gone@example.com")); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if e := entries(t, st)[1]; e.FailedAt.IsZero() || e.Attempts != 1 || !strings.Contains(e.LastError, "550") {
		t.Fatalf("refused mailbox: %+v; want given up after one attempt", e)
	}

	// And a mail older than MaxAge is given up whatever its attempt count.
	old := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender(t, srv), Now: clk.Now, MaxAge: 2 * time.Hour})
	srv.Refuse(1000)
	if err := st.EnqueueMail(ctx, clk.Now(), resetMail(t, "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)
	if n, _ := old.Deliver(ctx); n != 1 {
		t.Fatal("the old mail was not tried")
	}
	if e := entries(t, st)[2]; e.FailedAt.IsZero() || e.Attempts != 1 {
		t.Fatalf("mail past MaxAge: %+v; want given up", e)
	}
}

func TestTwoWorkersSendEachMailOnce(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	st := storetest.New(t)
	ctx := context.Background()
	clk := newClock()
	const n = 30
	for i := range n {
		if err := st.EnqueueMail(ctx, t0, resetMail(t, fmt.Sprintf("u%02d@example.com", i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 2 {
		w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender(t, srv), Now: clk.Now, Batch: 4, Owner: fmt.Sprint("instance-", i)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := w.Deliver(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if got == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range srv.Received() {
		seen[r.To[0]]++
	}
	if len(seen) != n {
		t.Fatalf("%d distinct recipients got mail, want %d", len(seen), n)
	}
	for to, c := range seen {
		if c != 1 {
			t.Fatalf("%s got %d copies", to, c)
		}
	}
}

// openTwice opens one database as two separate stores would (two processes).
func openTwice(t *testing.T) (dsn string) {
	if os.Getenv("GATEHOUSE_TEST_STORE") == "postgres" {
		return storetest.PostgresURL(t)
	}
	return filepath.Join(t.TempDir(), "gatehouse.db")
}

// open opens dsn as a process with the master key k would.
func open(t *testing.T, dsn string, k *seal.Key) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.SealMailWith(k)
	return st
}

func TestMailSurvivesACrashAfterEnqueue(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	dsn := openTwice(t)
	ctx := context.Background()
	clk := newClock()

	// The first process enqueues two mails and claims one, then dies before
	// sending anything.
	key, _ := seal.Generate() // the processes share the key file
	first := open(t, dsn, key)
	if err := first.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com"), resetMail(t, "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	if claimed, err := first.ClaimMail(ctx, "dead-instance", t0, time.Minute, 1); err != nil || len(claimed) != 1 {
		t.Fatalf("claim = %v, %v", claimed, err)
	}
	first.Close()

	second := open(t, dsn, key)
	defer second.Close()
	w := mail.NewWorker(mail.WorkerConfig{Outbox: second, Sender: sender(t, srv), Now: clk.Now, LeaseFor: time.Minute})
	if n, err := w.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("after restart: Deliver = %d, %v; want the unclaimed mail", n, err)
	}
	clk.Advance(time.Minute) // the dead instance's lease runs out
	if n, err := w.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("after the lease: Deliver = %d, %v; want the dead instance's mail", n, err)
	}
	got := map[string]bool{}
	for _, r := range srv.Received() {
		got[r.To[0]] = true
	}
	if len(srv.Received()) != 2 || !got["ann@example.com"] || !got["bob@example.com"] {
		t.Fatalf("received %v", got)
	}
}

func TestWorkerRunWakesOnEnqueueAndStops(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	st := storetest.New(t)
	w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: sender(t, srv), Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	if err := st.EnqueueMail(ctx, time.Now(), resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	w.Wake()
	if r := srv.Next(t); r.To[0] != "ann@example.com" {
		t.Fatalf("got mail for %v", r.To)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop when its context ended")
	}
}

func TestLogSenderPrintsRecipientSubjectAndLinks(t *testing.T) {
	t.Parallel()
	logs := &testsupport.Buffer{}
	s := mail.NewLogSender(slog.New(slog.NewTextHandler(logs, nil)))
	for _, to := range []string{"ann@example.com", "bob@example.com"} {
		if err := s.Send(context.Background(), resetMail(t, to)); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "mail is not sent") {
		t.Fatalf("want one warning then one line per mail:\n%s", logs)
	}
	for i, to := range []string{"ann@example.com", "bob@example.com"} {
		l := lines[i+1]
		for _, want := range []string{"to=" + to, `subject="Reset your Gatehouse password"`, "https://id.example.com/reset-password?token=tok-" + to} {
			if !strings.Contains(l, want) {
				t.Errorf("line %q lacks %q", l, want)
			}
		}
		if strings.Contains(l, "someone (we hope you)") {
			t.Errorf("the body was logged: %q", l)
		}
	}
}

// TestWorkerGivesUpMailItCannotOpen: a mail sealed under a master key the
// worker's process does not hold is given up, blanked, and never sent empty.
func TestWorkerGivesUpMailItCannotOpen(t *testing.T) {
	t.Parallel()
	srv := mailtest.Start(t, mailtest.Options{})
	dsn := openTwice(t)
	ctx := context.Background()
	keyA, _ := seal.Generate()
	keyB, _ := seal.Generate()
	writer := open(t, dsn, keyA)
	defer writer.Close()
	if err := writer.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	other := open(t, dsn, keyB)
	defer other.Close()
	var finals atomic.Int32
	w := mail.NewWorker(mail.WorkerConfig{Outbox: other, Sender: sender(t, srv), Now: newClock().Now,
		OnFailed: func(final bool) {
			if final {
				finals.Add(1)
			}
		}})
	if n, err := w.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if got := srv.Attempts(); got != 0 {
		t.Fatalf("%d delivery attempts of a mail that does not open", got)
	}
	e := entries(t, other)
	if len(e) != 1 || e[0].FailedAt.IsZero() || !strings.Contains(e[0].LastError, "cannot be opened") || finals.Load() != 1 {
		t.Fatalf("outbox row %+v, %d given up; want it given up as not opening", e, finals.Load())
	}
}

// TestWorkerDeliversSealedMailToTheLog: without SMTP (the quick start), the
// worker opens the sealed body and logs its links.
func TestWorkerDeliversSealedMailToTheLog(t *testing.T) {
	t.Parallel()
	st := storetest.New(t)
	ctx := context.Background()
	logs := &testsupport.Buffer{}
	w := mail.NewWorker(mail.WorkerConfig{Outbox: st, Sender: mail.NewLogSender(slog.New(slog.NewTextHandler(logs, nil))), Now: newClock().Now})
	if err := st.EnqueueMail(ctx, t0, resetMail(t, "ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Deliver(ctx); err != nil || n != 1 {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if !strings.Contains(logs.String(), "https://id.example.com/reset-password?token=tok-ann@example.com") {
		t.Fatalf("the log lacks the link:\n%s", logs)
	}
	if e := entries(t, st); len(e) != 1 || e[0].SentAt.IsZero() {
		t.Fatalf("outbox row %+v", e)
	}
}
