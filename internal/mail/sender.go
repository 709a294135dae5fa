package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one message now.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// TLSMode is how an SMTP connection is protected.
type TLSMode int

const (
	// STARTTLS upgrades the connection and refuses a server that cannot (smtp://).
	STARTTLS TLSMode = iota
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS
	// OpportunisticTLS upgrades when the server offers STARTTLS and goes on
	// in plain text otherwise: only to a loopback host (smtp://127.0.0.1:2525).
	OpportunisticTLS
	// NoTLS never upgrades (smtp://127.0.0.1:2525?tls=none): loopback only.
	NoTLS
)

func (m TLSMode) String() string {
	return [...]string{"STARTTLS required", "implicit TLS", "STARTTLS if offered (loopback)", "no TLS (loopback)"}[m]
}

// SMTPConfig is where and how to submit mail.
type SMTPConfig struct {
	Host               string
	Port               int
	Username, Password string
	TLS                TLSMode
	RootCAs            *x509.CertPool // nil: the system's roots
	Timeout            time.Duration  // per connection; zero: 30 s
}

// String describes the server without its password.
func (c SMTPConfig) String() string {
	user := ""
	if c.Username != "" {
		user = c.Username + "@"
	}
	return fmt.Sprintf("%s%s (%s)", user, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.TLS)
}

// ParseSMTPURL reads --smtp-url: smtp://[user:pass@]host[:587] submits with
// STARTTLS required, smtps://[user:pass@]host[:465] with implicit TLS. Plain
// text is allowed only to a loopback host: smtp:// to one upgrades only when
// the server offers STARTTLS, and ?tls=none never does. Errors never repeat
// the URL (it holds the password).
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, errors.New("not a URL; want smtp://user:password@host:587 or smtps://user:password@host:465")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Port, c.TLS = 587, STARTTLS
	case "smtps":
		c.Port, c.TLS = 465, ImplicitTLS
	default:
		return SMTPConfig{}, fmt.Errorf("the scheme must be smtp:// (STARTTLS) or smtps:// (implicit TLS), not %q", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" || u.Opaque != "" {
		return SMTPConfig{}, errors.New("no host; want smtp://user:password@host:587")
	}
	if p := u.Port(); p != "" {
		if c.Port, err = strconv.Atoi(p); err != nil || c.Port < 1 || c.Port > 65535 {
			return SMTPConfig{}, fmt.Errorf("the port %q is not a number from 1 to 65535", p)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return SMTPConfig{}, errors.New("an SMTP URL has no path or fragment")
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Username == "" {
			return SMTPConfig{}, errors.New("a password without a user name")
		}
	}
	loopback := isLoopback(c.Host)
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return SMTPConfig{}, fmt.Errorf("unknown parameter %q (the only one is tls=none, for a loopback server)", k)
		}
	}
	switch tlsParam := q.Get("tls"); {
	case tlsParam == "" && c.TLS == STARTTLS && loopback:
		c.TLS = OpportunisticTLS
	case tlsParam == "":
	case tlsParam != "none":
		return SMTPConfig{}, fmt.Errorf("tls=%q: the only value is none", tlsParam)
	case c.TLS == ImplicitTLS:
		return SMTPConfig{}, errors.New("smtps:// is TLS; tls=none contradicts it")
	case !loopback:
		return SMTPConfig{}, fmt.Errorf("plain SMTP (tls=none) is allowed only to a loopback host, not %q: use STARTTLS (smtp://) or smtps://", c.Host)
	default:
		c.TLS = NoTLS
	}
	return c, nil
}

// isLoopback reports whether host is localhost or a loopback address,
// without asking DNS.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTPSender submits mail to one SMTP server with go-mail.
type SMTPSender struct {
	cfg  SMTPConfig
	from string
}

// NewSMTPSender checks from (the From address, e.g. "Gatehouse
// <noreply@example.com>") and returns a sender to the server of cfg.
func NewSMTPSender(cfg SMTPConfig, from string) (*SMTPSender, error) {
	if err := gomail.NewMsg().From(from); err != nil {
		return nil, fmt.Errorf("the From address %q does not parse: %w", from, err)
	}
	if (cfg.TLS == OpportunisticTLS || cfg.TLS == NoTLS) && !isLoopback(cfg.Host) {
		return nil, fmt.Errorf("SMTP without TLS is allowed only to a loopback host, not %q", cfg.Host)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTPSender{cfg: cfg, from: from}, nil
}

func (s *SMTPSender) String() string { return "SMTP " + s.cfg.String() }

// Send delivers m over a connection of its own.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return err
	}
	if err := msg.To(m.To); err != nil {
		return Permanent(fmt.Errorf("recipient %q: %w", m.To, err))
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch s.cfg.TLS {
	case STARTTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case OpportunisticTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		// With TLS, the strongest mechanism the server offers. On loopback
		// without TLS (guaranteed by NewSMTPSender) PLAIN is no exposure.
		auth := gomail.SMTPAuthAutoDiscover
		if s.cfg.TLS == OpportunisticTLS || s.cfg.TLS == NoTLS {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return s.redact(err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode() >= 500 {
			return Permanent(s.redact(err)) // the server refuses this recipient for good
		}
		return s.redact(err)
	}
	return nil
}

// redact keeps the password out of any error text, whatever a library put in it.
func (s *SMTPSender) redact(err error) error {
	if s.cfg.Password == "" || !strings.Contains(err.Error(), s.cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s.cfg.Password, "xxxxx"))
}

// permanentError marks a failure that retrying cannot cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as a failure that retrying cannot cure (a recipient
// the server refuses with a 5xx): the worker gives the mail up at once.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// LogSender "delivers" mail to the log: one line per mail with the
// recipient, the subject and the links, so a server without SMTP (the quick
// start) can still verify an address or reset a password.
type LogSender struct{ log *slog.Logger }

// NewLogSender logs, once, that mail goes to the log.
func NewLogSender(log *slog.Logger) *LogSender {
	log.Warn("no --smtp-url: mail is not sent but written to this log (recipient, subject, links)")
	return &LogSender{log: log}
}

func (s *LogSender) String() string { return "the log" }

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// Links returns the distinct http(s) links in a mail's text, in order.
func Links(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range linkPattern.FindAllString(text, -1) {
		l = strings.TrimRight(l, ".,;:)")
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// Send writes m as one log line.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	s.log.InfoContext(ctx, "mail", "to", m.To, "subject", m.Subject, "links", strings.Join(Links(m.Text), " "))
	return nil
}
