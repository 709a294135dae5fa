package web

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/upstream"
)

// SecurityPages are the security page and its forms: the authenticator
// app and recovery codes, passkeys, linked upstream identities, and the
// re-authentication that sensitive changes ask for (a password, a code or
// a linked provider). No JavaScript but the passkey ceremonies': forms, a
// QR code drawn as inline SVG, and a data: link to download the recovery
// codes. The rules are auth.Factors', auth.Passkeys' and
// upstream.Service's, as for the JSON API.
type SecurityPages struct{ *Site }

// security fills the security page's content for s's user.
func (site *SecurityPages) security(r *http.Request, s *Session) (*Security, error) {
	u, err := site.Accounts.User(r.Context(), s.Claims.Subject)
	if err != nil {
		return nil, err
	}
	sec := &Security{TOTP: u.MFA.TOTP, PasskeysOn: site.Passkeys.PasskeysEnabled()}
	keys, err := site.Passkeys.Passkeys(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		last := "never"
		if !k.LastUsedAt.IsZero() {
			last = when(k.LastUsedAt)
		}
		sec.Passkeys = append(sec.Passkeys, Passkey{ID: k.ID, Name: k.Name, Created: when(k.CreatedAt), LastUsed: last})
	}
	if err := site.identityRows(r.Context(), u.ID, sec); err != nil {
		return nil, err
	}
	if sec.TOTP {
		if sec.CodesLeft, err = site.Factors.RecoveryCodesLeft(r.Context(), u.ID); err != nil {
			return nil, err
		}
	} else {
		en, ok, err := site.Factors.PendingTOTP(r.Context(), u.ID, s.Claims.SessionID)
		if err != nil {
			return nil, err
		}
		if ok {
			sec.Pending = &TOTPSetup{Secret: en.Secret, URI: en.URI, QR: template.HTML(en.QRSVG)} // #nosec: our own SVG
		}
	}
	return sec, nil
}

// withCodes shows recovery codes once, with a text file to download.
func withCodes(sec *Security, codes []string) {
	sec.NewCodes = codes
	text := "Gatehouse recovery codes. Each works once.\r\n\r\n" + strings.Join(codes, "\r\n") + "\r\n"
	sec.CodesFile = template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))
}

// SecurityPage serves GET /security.
func (site *SecurityPages) SecurityPage(w http.ResponseWriter, r *http.Request, s *Session) {
	sec, err := site.security(r, s)
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	if r.URL.Query().Get("reauth") == "1" { // the passkey script was told to sign in again
		site.askReauth(r, s, sec)
	}
	p := s.page("Security")
	p.Data = sec
	switch r.URL.Query().Get("done") {
	case "reauth":
		p.Notice = "Thank you. Now make the change again."
	case "passkey":
		p.Notice = "The passkey is added: you can sign in with it, without your password."
	case "passkey-removed":
		p.Notice = "The passkey is removed."
	case "removed":
		p.Notice = "The authenticator app is removed; your recovery codes no longer work."
	case "linked":
		p.Notice = "The provider is linked: you can sign in with it."
	case "unlinked":
		p.Notice = "The provider is unlinked from this account."
	}
	site.renderSecurity(w, r, http.StatusOK, p)
}

// EnrolTOTPForm serves POST /security/totp: an authenticator app to set up.
func (site *SecurityPages) EnrolTOTPForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		_, err := site.Factors.EnrolTOTP(ctx, s.Claims.Subject, s.Claims.SessionID)
		return nil, err
	})
}

// ConfirmTOTPForm serves POST /security/totp/confirm: the app's first code
// turns it on, and the page shows the recovery codes once.
func (site *SecurityPages) ConfirmTOTPForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		return site.Factors.ConfirmTOTP(ctx, s.Claims.Subject, s.Claims.SessionID, r.PostFormValue("code"), site.Client(r))
	})
}

// RemoveTOTPForm serves POST /security/totp/remove.
func (site *SecurityPages) RemoveTOTPForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "removed", func(ctx context.Context) ([]string, error) {
		return nil, site.Factors.RemoveTOTP(ctx, s.Claims.Subject, s.Claims.SessionID)
	})
}

// RecoveryCodesForm serves POST /security/recovery-codes: new codes, shown
// once.
func (site *SecurityPages) RecoveryCodesForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		return site.Factors.NewRecoveryCodes(ctx, s.Claims.Subject, s.Claims.SessionID)
	})
}

// AddPasskeyForm serves POST /security/passkeys: the passkey script put the
// new credential in the form.
func (site *SecurityPages) AddPasskeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "passkey", func(ctx context.Context) ([]string, error) {
		cred, err := httpjson.Credential(json.RawMessage(r.PostFormValue("credential")))
		if err == nil {
			_, err = site.Passkeys.FinishPasskeyRegistration(ctx, s.Claims.Subject, s.Claims.SessionID, r.PostFormValue("name"), cred)
		}
		return nil, err
	})
}

// RenamePasskeyForm serves POST /security/passkeys/{id}/rename.
func (site *SecurityPages) RenamePasskeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		_, err := site.Passkeys.RenamePasskey(ctx, s.Claims.Subject, r.PathValue("id"), r.PostFormValue("name"))
		return nil, err
	})
}

// RemovePasskeyForm serves POST /security/passkeys/{id}/remove.
func (site *SecurityPages) RemovePasskeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "passkey-removed", func(ctx context.Context) ([]string, error) {
		return nil, site.Passkeys.RemovePasskey(ctx, s.Claims.Subject, s.Claims.SessionID, r.PathValue("id"))
	})
}

// securityForm runs a security page form's change. Done, it goes back to
// the page (with the notice done, if any), or shows the new recovery codes
// the change made. An action that needs a recent sign-in shows the page
// with the re-authentication form; other refusals the page expects show
// beside the form.
func (site *SecurityPages) securityForm(w http.ResponseWriter, r *http.Request, s *Session, done string, change func(context.Context) ([]string, error)) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	codes, err := change(r.Context())
	if err == nil && codes == nil {
		target := "/security"
		if done != "" {
			target += "?done=" + done
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	sec, perr := site.security(r, s)
	if perr != nil {
		site.renderError(w, r, perr)
		return
	}
	p := s.page("Security")
	p.Data = sec
	status := http.StatusOK
	if err != nil {
		switch auth.ErrorCode(err) {
		case auth.CodeReauthenticationRequired:
			site.askReauth(r, s, sec)
		case auth.CodeInvalidCode, auth.CodeInvalidRequest, auth.CodeTooManyRequests, auth.CodeAlreadyExists,
			auth.CodeNotFound, auth.CodeUnavailable, auth.CodeEmailNotVerified, auth.CodeLastSignInMethod:
		default:
			site.renderError(w, r, err)
			return
		}
		status = site.formError(w, r, &p, err, map[string]string{auth.CodeInvalidCode: "code"})
	} else {
		withCodes(sec, codes)
	}
	site.renderSecurity(w, r, status, p)
}

// ReauthForm serves POST /security/reauthenticate: a password or a code
// renews the session's sign-in time (and its cookies).
func (site *SecurityPages) ReauthForm(w http.ResponseWriter, r *http.Request, s *Session) {
	tokens, err := site.Sessions.Reauthenticate(r.Context(), auth.ReauthInput{UserID: s.Claims.Subject, SessionID: s.Claims.SessionID,
		Password: r.PostFormValue("password"), Code: r.PostFormValue("code"), Client: site.Client(r)})
	if err != nil {
		site.reauthAgain(w, r, s, r.PostFormValue("next"), err)
		return
	}
	SetSessionCookies(w, tokens, s.CSRF)
	http.Redirect(w, r, afterReauth(r.PostFormValue("next")), http.StatusSeeOther)
}

// reauthAgain shows the security page asking again for a recent sign-in,
// with err (a refused one), to go to next after.
func (site *SecurityPages) reauthAgain(w http.ResponseWriter, r *http.Request, s *Session, next string, err error) {
	sec, perr := site.security(r, s)
	if perr != nil {
		site.renderError(w, r, perr)
		return
	}
	site.askReauth(r, s, sec)
	sec.ReauthNext = safeNext(next)
	p := s.page("Security")
	p.Data = sec
	status := site.formError(w, r, &p, err, nil)
	site.renderSecurity(w, r, status, p)
}

// askReauth makes the security page ask for a recent sign-in: the
// password and code forms, and a button per linked provider that can
// confirm one; next (a local path, from the request) is where to go after.
func (site *SecurityPages) askReauth(r *http.Request, s *Session, sec *Security) {
	sec.NeedReauth = true
	sec.ReauthNext = safeNext(r.FormValue("next"))
	if site.Upstream == nil {
		return
	}
	for _, b := range site.Upstream.ReauthProviders(r.Context(), s.Claims.Subject) {
		sec.ReauthProviders = append(sec.ReauthProviders, ProviderButton{ID: b.ID, Name: b.Name})
	}
}

// renderSecurity renders the security page p. Its link and re-authenticate
// forms are redirected to their providers: the page's form-action lists
// them, as browsers check a form's redirects against it.
func (site *SecurityPages) renderSecurity(w http.ResponseWriter, r *http.Request, status int, p Page) {
	if sec, ok := p.Data.(*Security); ok && site.Upstream != nil {
		var ids []string
		for _, b := range append(slices.Clip(sec.Linkable), sec.ReauthProviders...) {
			ids = append(ids, b.ID)
		}
		p.FormTargets = site.Upstream.FormOrigins(r.Context(), ids...)
	}
	site.Pages.Render(w, status, "security", p)
}

// afterReauth is where a re-authentication goes: next when it is a local
// path, else back to the security page.
func afterReauth(next string) string {
	if next = safeNext(next); next != "" {
		return next
	}
	return "/security?done=reauth"
}

// reauthCallback ends a re-authentication through a provider: done, the
// session's new cookies and the page to go back to; refused, the security
// page asks again, with the service's sentence.
func (site *SecurityPages) reauthCallback(w http.ResponseWriter, r *http.Request, res *upstream.Result, err error) {
	if err == nil && res.Reauthenticated {
		csrf := ""
		if c, cerr := r.Cookie(CSRFCookie); cerr == nil {
			csrf = c.Value // the forms of the pages already open stay valid
		}
		SetSessionCookies(w, res.Tokens, csrf)
		http.Redirect(w, r, afterReauth(res.Next), http.StatusSeeOther)
		return
	}
	if s, ok := site.session(w, r); ok {
		site.reauthAgain(w, r, s, res.Next, err)
	}
}

// ReauthProviderForm serves POST /security/reauthenticate/{provider}: the
// browser goes to the provider to sign in afresh, and comes back with this
// session's sign-in renewed (upstream.Service's rules: an OpenID provider
// where the account has an identity).
func (site *SecurityPages) ReauthProviderForm(w http.ResponseWriter, r *http.Request, s *Session) {
	if err := httpjson.ParseForm(r); err != nil {
		site.renderError(w, r, err)
		return
	}
	target, cookieValue, err := site.Upstream.Begin(r.Context(), upstream.BeginInput{ProviderID: r.PathValue("provider"),
		Next: safeNext(r.PostFormValue("next")), ReauthUserID: s.Claims.Subject, ReauthSessionID: s.Claims.SessionID, Client: site.Client(r)})
	if err != nil {
		site.reauthAgain(w, r, s, r.PostFormValue("next"), err)
		return
	}
	http.SetCookie(w, cookie(flowCookie, cookieValue, upstream.FlowTTL, true))
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// LinkIdentityForm serves POST /security/identities/{provider}/link: the
// browser goes to the provider, and comes back with the identity linked to
// this account (a recent sign-in required).
func (site *SecurityPages) LinkIdentityForm(w http.ResponseWriter, r *http.Request, s *Session) {
	target, cookieValue, err := site.Upstream.Begin(r.Context(), upstream.BeginInput{ProviderID: r.PathValue("provider"),
		LinkUserID: s.Claims.Subject, LinkSessionID: s.Claims.SessionID, Client: site.Client(r)})
	if err != nil {
		site.securityForm(w, r, s, "", func(context.Context) ([]string, error) { return nil, err })
		return
	}
	http.SetCookie(w, cookie(flowCookie, cookieValue, upstream.FlowTTL, true))
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// UnlinkIdentityForm serves POST /security/identities/{id}/remove.
func (site *SecurityPages) UnlinkIdentityForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "unlinked", func(ctx context.Context) ([]string, error) {
		return nil, site.Upstream.Unlink(ctx, s.Claims.Subject, r.PathValue("id"))
	})
}

// identityRows fills the security page's identities and the providers left
// to link.
func (site *SecurityPages) identityRows(ctx context.Context, userID string, sec *Security) error {
	if site.Upstream == nil {
		return nil
	}
	ids, err := site.Upstream.Identities(ctx, userID)
	if err != nil {
		return err
	}
	linked := map[string]bool{}
	for _, i := range ids {
		name := i.ProviderName
		if name == "" {
			name = i.Provider
		}
		sec.Identities = append(sec.Identities, IdentityRow{ID: i.ID, Provider: name, Email: i.Email, Created: when(i.CreatedAt)})
		linked[i.Provider] = true
	}
	for _, b := range site.providerButtons(ctx) {
		if !linked[b.ID] {
			sec.Linkable = append(sec.Linkable, b)
		}
	}
	return nil
}
