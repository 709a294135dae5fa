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
)

// The pages of second factors: the second login step, the security page
// (authenticator app, recovery codes, passkeys), the re-authentication
// form. No JavaScript but the passkey ceremonies': forms, a QR code drawn
// as inline SVG, and a data: link to download the recovery codes. The rules
// are auth.Factors' and auth.Passkeys', as for the JSON API.

// toSecondStep answers a page login whose password was right and that needs
// a second factor: the mfa_token goes in an HttpOnly cookie, the browser to
// the second login page.
func toSecondStep(w http.ResponseWriter, r *http.Request, mr *auth.MFARequired) {
	http.SetCookie(w, cookie(mfaCookie, mr.Token, auth.MFATokenTTL, true))
	target := "/login/mfa"
	if next := safeNext(r.PostFormValue("next")); next != "" {
		target += "?next=" + url.QueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// LoginMFAPage serves GET /login/mfa: the second login step's form, or back
// to the login page when no first step is under way.
func (site *Site) LoginMFAPage(w http.ResponseWriter, r *http.Request) {
	if mfaToken(r) == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	site.Pages.Render(w, http.StatusOK, "login_mfa", site.secondStepPage(w, r, safeNext(r.URL.Query().Get("next"))))
}

// secondStepPage is the second login page: the methods of the sign-in in
// its cookie (a passkey only when the user has one).
func (site *Site) secondStepPage(w http.ResponseWriter, r *http.Request, next string) Page {
	data := SecondStep{TOTP: true} // an ended sign-in: the forms answer why
	if methods := site.Passkeys.MFAChallengeMethods(r.Context(), mfaToken(r)); methods != nil {
		data = SecondStep{TOTP: slices.Contains(methods, auth.MethodTOTP), Passkey: slices.Contains(methods, auth.MethodPasskey)}
	}
	return Page{Title: "Two-step sign-in", CSRF: ensureCSRFCookie(w, r), Next: next, Data: data}
}

// LoginMFAForm serves the second login page's POST /login/mfa.
func (site *Site) LoginMFAForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Sessions.LoginMFA(r.Context(), auth.MFALoginInput{Token: mfaToken(r), Code: r.PostFormValue("code"),
			RecoveryCode: r.PostFormValue("recovery_code"), Client: site.Client(r)})
	}
	if err != nil {
		p := site.secondStepPage(w, r, safeNext(r.PostFormValue("next")))
		status := site.formError(w, r, &p, err, nil)
		site.Pages.Render(w, status, "login_mfa", p)
		return
	}
	http.SetCookie(w, cookie(mfaCookie, "", -1, true))
	SetSessionCookies(w, tokens, "")
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// PasskeyLoginForm serves the login page's POST /login/passkey/finish: the
// passkey script put the credential in the form.
func (site *Site) PasskeyLoginForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var cred []byte
	if err == nil {
		cred, err = httpjson.Credential(json.RawMessage(r.PostFormValue("credential")))
	}
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Passkeys.LoginPasskey(r.Context(), cred, site.Client(r))
	}
	if err != nil {
		p := Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Next: safeNext(r.PostFormValue("next")), Form: map[string]string{}}
		site.Pages.Render(w, site.formError(w, r, &p, err, nil), "login", p)
		return
	}
	SetSessionCookies(w, tokens, "")
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// PasskeyMFABegin serves the second login page script's POST
// /login/mfa/passkey/begin: the ceremony's options (JSON) for the sign-in
// in the cookie.
func (site *Site) PasskeyMFABegin(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var opts json.RawMessage
	if err == nil {
		opts, err = site.Passkeys.BeginPasskeyMFA(r.Context(), mfaToken(r), site.Client(r))
	}
	if err != nil {
		httpjson.Error(w, r, site.Log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, opts)
}

// PasskeyMFAForm serves the second login page's POST
// /login/mfa/passkey/finish: the script put the credential in the form.
func (site *Site) PasskeyMFAForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	var cred []byte
	if err == nil {
		cred, err = httpjson.Credential(json.RawMessage(r.PostFormValue("credential")))
	}
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = site.Passkeys.LoginMFAPasskey(r.Context(), mfaToken(r), cred, site.Client(r))
	}
	if err != nil {
		p := site.secondStepPage(w, r, safeNext(r.PostFormValue("next")))
		p.Form = map[string]string{}
		site.Pages.Render(w, site.formError(w, r, &p, err, nil), "login_mfa", p)
		return
	}
	http.SetCookie(w, cookie(mfaCookie, "", -1, true))
	SetSessionCookies(w, tokens, "")
	site.linkPending(w, r, tokens)
	toNext(w, r)
}

// security fills the security page's content for s's user.
func (site *Site) security(r *http.Request, s *Session) (*Security, error) {
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
func (site *Site) SecurityPage(w http.ResponseWriter, r *http.Request, s *Session) {
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
func (site *Site) EnrolTOTPForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		_, err := site.Factors.EnrolTOTP(ctx, s.Claims.Subject, s.Claims.SessionID)
		return nil, err
	})
}

// ConfirmTOTPForm serves POST /security/totp/confirm: the app's first code
// turns it on, and the page shows the recovery codes once.
func (site *Site) ConfirmTOTPForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		return site.Factors.ConfirmTOTP(ctx, s.Claims.Subject, s.Claims.SessionID, r.PostFormValue("code"), site.Client(r))
	})
}

// RemoveTOTPForm serves POST /security/totp/remove.
func (site *Site) RemoveTOTPForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "removed", func(ctx context.Context) ([]string, error) {
		return nil, site.Factors.RemoveTOTP(ctx, s.Claims.Subject, s.Claims.SessionID)
	})
}

// RecoveryCodesForm serves POST /security/recovery-codes: new codes, shown
// once.
func (site *Site) RecoveryCodesForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		return site.Factors.NewRecoveryCodes(ctx, s.Claims.Subject, s.Claims.SessionID)
	})
}

// AddPasskeyForm serves POST /security/passkeys: the passkey script put the
// new credential in the form.
func (site *Site) AddPasskeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "passkey", func(ctx context.Context) ([]string, error) {
		cred, err := httpjson.Credential(json.RawMessage(r.PostFormValue("credential")))
		if err == nil {
			_, err = site.Passkeys.FinishPasskeyRegistration(ctx, s.Claims.Subject, s.Claims.SessionID, r.PostFormValue("name"), cred)
		}
		return nil, err
	})
}

// RenamePasskeyForm serves POST /security/passkeys/{id}/rename.
func (site *Site) RenamePasskeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "", func(ctx context.Context) ([]string, error) {
		_, err := site.Passkeys.RenamePasskey(ctx, s.Claims.Subject, r.PathValue("id"), r.PostFormValue("name"))
		return nil, err
	})
}

// RemovePasskeyForm serves POST /security/passkeys/{id}/remove.
func (site *Site) RemovePasskeyForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.securityForm(w, r, s, "passkey-removed", func(ctx context.Context) ([]string, error) {
		return nil, site.Passkeys.RemovePasskey(ctx, s.Claims.Subject, s.Claims.SessionID, r.PathValue("id"))
	})
}

// securityForm runs a security page form's change. Done, it goes back to
// the page (with the notice done, if any), or shows the new recovery codes
// the change made. An action that needs a recent sign-in shows the page
// with the re-authentication form; other refusals the page expects show
// beside the form.
func (site *Site) securityForm(w http.ResponseWriter, r *http.Request, s *Session, done string, change func(context.Context) ([]string, error)) {
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
func (site *Site) ReauthForm(w http.ResponseWriter, r *http.Request, s *Session) {
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
func (site *Site) reauthAgain(w http.ResponseWriter, r *http.Request, s *Session, next string, err error) {
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
func (site *Site) askReauth(r *http.Request, s *Session, sec *Security) {
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
func (site *Site) renderSecurity(w http.ResponseWriter, r *http.Request, status int, p Page) {
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
