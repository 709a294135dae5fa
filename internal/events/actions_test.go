package events_test

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/auth/authtest"
	"github.com/gatehouse-auth/gatehouse/internal/events"
	"github.com/gatehouse-auth/gatehouse/internal/mail"
	"github.com/gatehouse-auth/gatehouse/internal/oidc"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/pquerna/otp/totp"
)

// linkMailer renders mail as the server does and keeps the links it carries.
type linkMailer struct {
	*mail.Templates
	mu    sync.Mutex
	links map[string]string
}

func (m *linkMailer) Render(kind mail.Kind, to string, d mail.Data) (mail.Message, error) {
	m.mu.Lock()
	m.links[string(kind)] = d.Link
	m.mu.Unlock()
	return m.Templates.Render(kind, to, d)
}

func (m *linkMailer) token(t *testing.T, kind mail.Kind) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := url.Parse(m.links[string(kind)])
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("no %s link was mailed", kind)
	}
	return u.Query().Get("token")
}

// Every event type whose action exists reaches a receiver, from that
// action as users and administrators take it, signed and with its ids.
func TestEveryEventTypeComesFromItsAction(t *testing.T) {
	t.Parallel()
	tmpl, err := mail.NewTemplates("", "http://gatehouse.test")
	if err != nil {
		t.Fatal(err)
	}
	mailer := &linkMailer{Templates: tmpl, links: map[string]string{}}
	masterKey, _ := seal.Generate()
	env := authtest.New(t,
		authtest.WithConfig(func(c *auth.Config) { c.Recovery.PublicURL = "http://gatehouse.test" }),
		authtest.WithDeps(func(d *auth.Deps) { d.Mailer, d.Sealer = mailer, masterKey }))
	h := newHooks(t, env.Store, func(dc *events.DelivererConfig, _ *events.WebhooksConfig) { dc.Now = env.Clock.Now })
	rc := newReceiver(t)
	h.add(t, rc, events.AllTypes)
	ctx := auth.WithActor(context.Background(), "test")
	client := auth.Client{IP: "192.0.2.1", UserAgent: "test"}
	const pw = "correct horse battery staple"

	ann, err := env.Accounts.Register(ctx, auth.RegisterInput{Email: "ann@example.com", Password: pw}) // user.created
	if err != nil {
		t.Fatal(err)
	}
	env.Recovery.WaitRecovery()
	if err := env.Recovery.RequestVerification(ctx, ann.ID, client); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Recovery.VerifyEmail(ctx, auth.LinkInput{Token: mailer.token(t, mail.VerifyEmail)}); err != nil { // user.email_verified
		t.Fatal(err)
	}
	tok, err := env.Sessions.Login(ctx, auth.LoginInput{Identifier: ann.Email, Password: pw, Client: client}) // session.created
	if err != nil {
		t.Fatal(err)
	}
	name := "Ann"
	if _, err := env.Accounts.UpdateProfile(ctx, ann.ID, &name); err != nil { // user.updated
		t.Fatal(err)
	}
	enrolment, err := env.Factors.EnrolTOTP(ctx, ann.ID, tok.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(enrolment.Secret, env.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Factors.ConfirmTOTP(ctx, ann.ID, tok.SessionID, code, client); err != nil { // mfa.enrolled
		t.Fatal(err)
	}
	if err := env.Factors.RemoveTOTP(ctx, ann.ID, tok.SessionID); err != nil { // mfa.removed
		t.Fatal(err)
	}
	if _, err := env.Sessions.ChangePassword(ctx, auth.ChangePasswordInput{UserID: ann.ID, SessionID: tok.SessionID,
		Current: pw, New: pw + " again", Client: client}); err != nil { // user.password_changed
		t.Fatal(err)
	}
	if err := env.Sessions.Logout(ctx, auth.LogoutInput{SessionID: tok.SessionID, UserID: ann.ID}); err != nil { // session.ended
		t.Fatal(err)
	}
	clients := oidc.NewClients(oidc.ClientsDeps{Store: env.Store, Accounts: env.Accounts, Feed: env.Feed, Keys: env.Keys, Now: env.Clock.Now})
	cl, _, err := clients.Add(ctx, oidc.ClientInput{Name: "App", RedirectURIs: []string{"https://app.example.com/cb"}}) // client.created
	if err != nil {
		t.Fatal(err)
	}
	if err := clients.Remove(ctx, cl.ID); err != nil { // client.removed
		t.Fatal(err)
	}
	admin, err := env.Accounts.CreateUser(ctx, auth.RegisterInput{Email: "root@example.com", Password: pw}, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Accounts.DeleteUser(ctx, admin.ID, ann.ID); err != nil { // user.deleted
		t.Fatal(err)
	}

	h.drain(t)
	var annTypes []string
	byType := map[string]received{}
	for _, r := range rc.received() {
		byType[r.Type] = r
		if r.Data["user_id"] == ann.ID {
			annTypes = append(annTypes, r.Type)
		}
	}
	want := []string{events.UserCreated, events.UserEmailVerified, events.SessionCreated, events.UserUpdated,
		events.MFAEnrolled, events.MFARemoved, events.UserPasswordChanged, events.SessionEnded, events.UserDeleted}
	for _, typ := range want {
		if !slices.Contains(annTypes, typ) {
			t.Errorf("no %s for the user; got %v", typ, annTypes)
		}
	}
	if annTypes[0] != events.UserCreated || annTypes[len(annTypes)-1] != events.UserDeleted {
		t.Errorf("the user's events are out of order: %v", annTypes)
	}
	if got := byType[events.SessionCreated].Data["session_id"]; got != tok.SessionID {
		t.Errorf("session.created names session %q, want %q", got, tok.SessionID)
	}
	if got := byType[events.MFAEnrolled].Data["factor"]; got != "totp" {
		t.Errorf("mfa.enrolled names factor %q", got)
	}
	for _, typ := range []string{events.ClientCreated, events.ClientRemoved} {
		if got := byType[typ].Data["client_id"]; got != cl.ID {
			t.Errorf("%s names client %q, want %q", typ, got, cl.ID)
		}
	}
	if rc.bad != 0 {
		t.Errorf("%d requests carried a bad signature", rc.bad)
	}
}
