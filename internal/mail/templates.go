// Package mail is Gatehouse's mail path: messages rendered from embedded
// templates (a text and an HTML part each), a worker that delivers the
// outbox with leases, retries and backoff, and the senders: SMTP (go-mail)
// and, without SMTP, the log.
package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// Message is one rendered mail; it is the outbox's plain type, so services
// can hand it to the store in the transaction of the token it carries.
type Message = outbox.Message

// Kind names a mail; each has templates/<kind>.txt.tmpl and .html.tmpl.
type Kind string

const (
	VerifyEmail        Kind = "verify-email"         // Link, Expires
	ResetPassword      Kind = "reset-password"       // Link, Expires
	PasswordChanged    Kind = "password-changed"     // notice
	EmailChangeConfirm Kind = "email-change-confirm" // to the new address: Link, Expires
	EmailChangeNotice  Kind = "email-change-notice"  // to the old address: NewEmail
	RecoveryCodeUsed   Kind = "recovery-code-used"   // notice: Remaining
	MFAReset           Kind = "mfa-reset"            // notice
	WebhookDisabled    Kind = "webhook-disabled"     // to administrators: Webhook, Reason
	Test               Kind = "test"                 // gatehouse mail test
	OrgInvitation      Kind = "org-invitation"       // Link, Expires, OrgName, Role
)

// Kinds is every kind of mail.
var Kinds = []Kind{VerifyEmail, ResetPassword, PasswordChanged, EmailChangeConfirm, EmailChangeNotice, RecoveryCodeUsed, MFAReset, WebhookDisabled, Test, OrgInvitation}

// needsLink are the kinds whose whole point is their link.
var needsLink = map[Kind]bool{VerifyEmail: true, ResetPassword: true, EmailChangeConfirm: true, OrgInvitation: true}

// Data is what a mail says beyond the product and the public URL.
type Data struct {
	Name      string        // the user's display name, or empty
	Link      string        // an absolute http(s) link, built from the public URL by the caller
	Expires   time.Duration // how long Link works
	NewEmail  string        // EmailChangeNotice: the address asked for
	Remaining int           // RecoveryCodeUsed: codes left
	OrgName   string        // OrgInvitation: the organization
	Role      string        // OrgInvitation: the role offered
	Webhook   string        // WebhookDisabled: the endpoint's URL
	Reason    string        // WebhookDisabled: why it was disabled
}

//go:embed templates/*.tmpl
var files embed.FS

// Templates renders mails for one deployment.
type Templates struct {
	product, publicURL string
	text               map[Kind]*texttemplate.Template
	html               map[Kind]*htmltemplate.Template
}

// NewTemplates parses every kind's templates; product is the name mails
// give (default "Gatehouse"), publicURL the address users know the server by.
func NewTemplates(product, publicURL string) (*Templates, error) {
	if product == "" {
		product = "Gatehouse"
	}
	if u, err := url.Parse(publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mail templates: the public URL %q is not an absolute http(s) URL", publicURL)
	}
	t := &Templates{product: product, publicURL: publicURL,
		text: map[Kind]*texttemplate.Template{}, html: map[Kind]*htmltemplate.Template{}}
	funcs := map[string]any{"duration": humanDuration}
	for _, k := range Kinds {
		tt, err := texttemplate.New("layout.txt.tmpl").Funcs(funcs).ParseFS(files, "templates/layout.txt.tmpl", "templates/"+string(k)+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		ht, err := htmltemplate.New("layout.html.tmpl").Funcs(funcs).ParseFS(files, "templates/layout.html.tmpl", "templates/"+string(k)+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		t.text[k], t.html[k] = tt, ht
	}
	return t, nil
}

// Product is the name the mails give.
func (t *Templates) Product() string { return t.product }

// view is what the templates see.
type view struct {
	Data
	Product, PublicURL, To, Subject string
}

// Render renders a mail of kind to the address to.
func (t *Templates) Render(kind Kind, to string, d Data) (Message, error) {
	tt, ok := t.text[kind]
	if !ok {
		return Message{}, fmt.Errorf("render mail: unknown kind %q", kind)
	}
	if strings.TrimSpace(to) == "" || strings.ContainsAny(to, "\r\n") {
		return Message{}, fmt.Errorf("render %s mail: bad recipient", kind)
	}
	if d.Link != "" || needsLink[kind] {
		if u, err := url.Parse(d.Link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Message{}, fmt.Errorf("render %s mail: the link is not an absolute http(s) URL", kind)
		}
	}
	v := view{Data: d, Product: t.product, PublicURL: t.publicURL, To: to}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	// A subject is one header line, whatever the product name holds.
	v.Subject = strings.Join(strings.Fields(subject.String()), " ")
	if err := tt.Execute(&text, v); err != nil {
		return Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	if err := t.html[kind].Execute(&html, v); err != nil {
		return Message{}, fmt.Errorf("render %s mail: %w", kind, err)
	}
	return Message{To: to, Subject: v.Subject, Text: text.String(), HTML: html.String()}, nil
}

// humanDuration says 30m as "30 minutes" and 24h as "24 hours".
func humanDuration(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d.Round(time.Minute)/time.Minute), "minute")
	default:
		return unit(int64(d.Round(time.Second)/time.Second), "second")
	}
}
