package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/internal/events/queue"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
	"github.com/gatehouse-auth/gatehouse/internal/redact"
)

// Mailer renders the administrators' notice of a disabled endpoint
// (internal/mail.Templates).
type Mailer interface {
	Render(kind mail.Kind, to string, d mail.Data) (mail.Message, error)
}

// DelivererConfig configures a Deliverer; zero values take the defaults.
type DelivererConfig struct {
	Store  Store
	Sealer Sealer
	// Client sends the requests: internal/events/outbound's client, which refuses
	// non-public addresses (unless allowed), follows no redirect, and bounds
	// time and body.
	Client *http.Client
	Mailer Mailer // nil: no notice is mailed
	// MailQueued wakes the mail worker after a notice was queued.
	MailQueued func()
	Log        *slog.Logger
	Now        func() time.Time
	Owner      string // lease owner; default a random one

	Poll    time.Duration // default 2 s
	Batch   int           // default 20
	Timeout time.Duration // per request; default 10 s
	// LeaseFor: default 2 × Timeout + 1 min. A claimed delivery starts at
	// once (the pool), so its lease covers one request and the recording of
	// its outcome; a worker that dies holds its endpoint's in-flight slots
	// no longer than this.
	LeaseFor time.Duration
	// Retry: from 5 s (Standard Webhooks' schedule starts so) doubling to
	// 1 h, for 3 days after the event.
	Retry queue.Retry
	// DisableAfter is how long an endpoint may fail without a success
	// before it is disabled and the administrators are mailed; default 72 h.
	DisableAfter time.Duration
	Keep         time.Duration // ended deliveries are pruned after this; default 7 days
}

// Deliverer delivers the webhook queue, on queue.Worker (the mail
// outbox's leased worker): every instance runs one; a delivery leased by
// one is not claimed by another while its lease lasts.
type Deliverer struct {
	cfg DelivererConfig
	q   *queue.Worker[Delivery]
}

// NewDeliverer returns a deliverer; Run starts it.
func NewDeliverer(c DelivererConfig) *Deliverer {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.LeaseFor <= 0 {
		c.LeaseFor = 2*c.Timeout + time.Minute
	}
	if c.Retry.First <= 0 {
		c.Retry.First = 5 * time.Second
	}
	if c.Retry.Max <= 0 {
		c.Retry.Max = time.Hour
	}
	if c.Retry.MaxAge <= 0 {
		c.Retry.MaxAge = 72 * time.Hour
	}
	if c.DisableAfter <= 0 {
		c.DisableAfter = 72 * time.Hour
	}
	if c.MailQueued == nil {
		c.MailQueued = func() {}
	}
	d := &Deliverer{cfg: c}
	d.q = queue.New(queue.Config[Delivery]{
		Name: "webhooks", Claim: c.Store.ClaimDeliveries, Handle: d.deliver, Prune: c.Store.PruneDeliveries,
		Log: c.Log, Now: c.Now, Owner: c.Owner, Poll: c.Poll, Batch: c.Batch, LeaseFor: c.LeaseFor, Keep: c.Keep,
		// A claim holds at most one delivery per endpoint and user (their
		// order), so up to Batch go out at once, and the worker claims more
		// as each ends: a receiver that hangs until the timeout holds its
		// own slots, not the other endpoints' deliveries.
		Concurrency: c.Batch,
	})
	return d
}

// Run delivers until ctx ends.
func (d *Deliverer) Run(ctx context.Context) { d.q.Run(ctx) }

// Wake asks for a delivery round now (after a change that queued events).
func (d *Deliverer) Wake() { d.q.Wake() }

// Deliver runs one round: it claims a batch and delivers it, returning how
// many it claimed. Tests call it with an injected clock.
func (d *Deliverer) Deliver(ctx context.Context) (int, error) { return d.q.Deliver(ctx) }

// excerptMax is how much of an answer is kept for the admin page, after
// answerRead bytes of it were read and their credentials masked (excerpt).
const (
	excerptMax = 512
	answerRead = 8 * excerptMax
)

// deliver sends one claimed delivery and records the outcome.
func (d *Deliverer) deliver(ctx context.Context, dl Delivery) {
	start := d.cfg.Now()
	a := Attempt{DeliveryID: dl.ID, EndpointID: dl.EndpointID, Owner: d.q.Owner(), At: start}
	keys, err := d.keys(dl)
	if err == nil {
		a.Status, a.Response, err = d.send(ctx, dl, keys, start)
	}
	a.Duration = d.cfg.Now().Sub(start)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return // shutting down: the lease runs out and it is sent again
	}
	log := d.cfg.Log.With("webhook", dl.EndpointID, "delivery", dl.ID, "event", dl.EventID, "type", dl.EventType, "attempt", dl.Attempts)
	if err == nil {
		a.Delivered = true
	} else {
		a.Err = attemptError(err)
		if keys != nil {
			a.RetryAt = d.cfg.Retry.Next(dl.Attempts, a.At, dl.CreatedAt)
		} // else the secret does not open (another master key): given up
		a.EndpointRetryAt = d.endpointRetryAt(dl.FailingSince, a.At)
		if since := dl.FailingSince; !since.IsZero() && a.At.Sub(since) >= d.cfg.DisableAfter {
			a.Disable = fmt.Sprintf("every delivery failed for %s (since %s); the last error: %s",
				d.cfg.DisableAfter, since.UTC().Format(time.RFC3339), truncate(a.Err, 200))
			a.Notice = d.notice(ctx, dl.URL, a.Disable)
		}
	}
	// The outcome is recorded even when shutdown began during the request:
	// a delivered event left unmarked would go out again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if rerr := d.cfg.Store.RecordAttempt(rctx, a); rerr != nil {
		log.Warn("webhook attempt not recorded", "err", rerr, "delivered", a.Delivered)
		return
	}
	switch {
	case a.Delivered:
		log.Debug("webhook delivered", "status", a.Status)
	case a.Disable != "":
		log.Error("webhook endpoint disabled", "url", dl.URL, "reason", a.Disable)
		if len(a.Notice) > 0 {
			d.cfg.MailQueued()
		}
	case a.RetryAt.IsZero():
		log.Error("webhook delivery given up", "err", a.Err)
	default:
		log.Warn("webhook not delivered; will retry", "err", a.Err, "status", a.Status, "retry_at", a.RetryAt.Format(time.RFC3339))
	}
}

// endpointRetryAt is when an endpoint whose attempt failed at at is called
// again, by any of its deliveries: after as long as it has been failing
// (since the first failure of its streak, or at), at least Retry.First and
// at most Retry.Max. The wait so doubles while the endpoint keeps failing,
// as one delivery's backoff does, however many deliveries it has queued.
func (d *Deliverer) endpointRetryAt(failingSince, at time.Time) time.Time {
	if failingSince.IsZero() || failingSince.After(at) {
		failingSince = at
	}
	return at.Add(min(max(at.Sub(failingSince), d.cfg.Retry.First), d.cfg.Retry.Max))
}

// attemptError is how a failed attempt is recorded for the admin page: a
// failed name lookup without the resolver's address Go puts in its message
// (an administrator would learn the internal DNS server, and could probe
// internal names through it).
func attemptError(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		why := "lookup failed"
		if dns.IsNotFound {
			why = "no such host"
		} else if dns.IsTimeout {
			why = "lookup timed out"
		}
		return "could not resolve " + dns.Name + ": " + why
	}
	return err.Error()
}

// keys opens the endpoint's secrets: the current one, and the old one
// while it is honoured.
func (d *Deliverer) keys(dl Delivery) ([][]byte, error) {
	key, err := openSecret(d.cfg.Sealer, dl.EndpointID, dl.Secret)
	if err != nil {
		return nil, fmt.Errorf("the endpoint's secret does not open: %w", err)
	}
	keys := [][]byte{key}
	if len(dl.OldSecret) > 0 {
		if old, err := openSecret(d.cfg.Sealer, dl.EndpointID, dl.OldSecret); err == nil {
			keys = append(keys, old)
		}
	}
	return keys, nil
}

// send posts the event; a 2xx answer delivers it.
func (d *Deliverer) send(ctx context.Context, dl Delivery, keys [][]byte, at time.Time) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return 0, "", err
	}
	SetHeaders(req.Header, keys, dl.EventID, at, dl.Body)
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, answerRead))
	text := excerpt(answer, len(answer) == answerRead)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, text, fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return resp.StatusCode, text, nil
}

// notice renders the administrators' mail about a disabled endpoint.
func (d *Deliverer) notice(ctx context.Context, url, reason string) []outbox.Message {
	if d.cfg.Mailer == nil {
		return nil
	}
	admins, err := d.cfg.Store.AdminEmails(ctx)
	if err != nil {
		d.cfg.Log.Warn("webhook disabled: administrators not found to mail", "err", err)
		return nil
	}
	var out []outbox.Message
	for _, to := range admins {
		m, err := d.cfg.Mailer.Render(mail.WebhookDisabled, to, mail.Data{Webhook: url, Reason: reason})
		if err != nil {
			d.cfg.Log.Warn("webhook disabled: notice not rendered", "err", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// excerpt is what the admin page and API show of a receiver's answer (read
// cut short when more followed): a receiver, or a proxy before it, may echo
// the request (its signature, our event) or a secret of its own, so every
// credential is masked (redact.Text) before the text is cut to excerptMax,
// and a token the read cut in two is dropped rather than shown in part.
func excerpt(read []byte, cut bool) string {
	if cut {
		read = bytes.TrimRightFunc(read, func(r rune) bool { return !unicode.IsSpace(r) })
	}
	return truncate(printable([]byte(redact.Text(strings.ToValidUTF8(string(read), "\uFFFD")))), excerptMax)
}

// printable keeps the valid UTF-8 of an answer, control characters
// replaced, for display.
func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
