package httpapi

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/web"
)

// The pages of second factors: the second login step, the security page
// (authenticator app, recovery codes), the re-authentication form, and the
// administrator's reset. No JavaScript: forms, a QR code drawn as inline
// SVG, and a data: link to download the recovery codes. The rules are
// auth.Service's, as for the JSON API.

// mfaCookie carries a page login's mfa_token from its first step to its
// second: HttpOnly, for the token's lifetime.
const mfaCookie = "__Host-mfa"

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

// handleLoginMFAPage serves GET /login/mfa: the second login step's form,
// or back to the login page when no first step is under way.
func handleLoginMFAPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(mfaCookie); err != nil || c.Value == "" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		d.Pages.Render(w, http.StatusOK, "login_mfa", web.Page{Title: "Two-step sign-in", CSRF: ensureCSRFCookie(w, r),
			Next: safeNext(r.URL.Query().Get("next")), Data: loginMFAData(d, r, "login_mfa")})
	})
}

// loginMFAData is what the second login page offers: the methods of the
// sign-in in its cookie (a passkey only when the user has one).
func loginMFAData(d Deps, r *http.Request, page string) any {
	if page != "login_mfa" {
		return nil
	}
	methods := d.Auth.MFAChallengeMethods(r.Context(), mfaTokenCookie(r))
	if methods == nil { // an ended sign-in: the forms answer why
		return web.SecondStep{TOTP: true}
	}
	return web.SecondStep{TOTP: slices.Contains(methods, auth.MethodTOTP), Passkey: slices.Contains(methods, auth.MethodPasskey)}
}

// loginMFAForm serves POST /login/mfa from the second login page.
func loginMFAForm(d Deps, w http.ResponseWriter, r *http.Request) {
	err := parseForm(r)
	if err == nil {
		err = checkFormPost(d, r)
	}
	token := ""
	if c, cerr := r.Cookie(mfaCookie); cerr == nil {
		token = c.Value
	}
	var tokens *auth.Tokens
	if err == nil {
		tokens, err = d.Auth.LoginMFA(r.Context(), auth.MFALoginInput{Token: token, Code: r.PostFormValue("code"),
			RecoveryCode: r.PostFormValue("recovery_code"), Client: client(d, r)})
	}
	if err != nil {
		p := web.Page{Title: "Two-step sign-in", CSRF: ensureCSRFCookie(w, r), Next: safeNext(r.PostFormValue("next")),
			Data: loginMFAData(d, r, "login_mfa")}
		status := formError(d, w, r, &p, err, nil)
		d.Pages.Render(w, status, "login_mfa", p)
		return
	}
	http.SetCookie(w, cookie(mfaCookie, "", -1, true))
	setSessionCookies(w, tokens, "")
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = "/dashboard"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// securityPage fills the security page's content for s's user.
func securityPage(d Deps, r *http.Request, s *session) (*web.Security, error) {
	u, err := d.Auth.User(r.Context(), s.claims.Subject)
	if err != nil {
		return nil, err
	}
	sec := &web.Security{TOTP: u.MFA.TOTP, PasskeysOn: d.Auth.PasskeysEnabled()}
	keys, err := d.Auth.Passkeys(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		last := "never"
		if !k.LastUsedAt.IsZero() {
			last = when(k.LastUsedAt)
		}
		sec.Passkeys = append(sec.Passkeys, web.Passkey{ID: k.ID, Name: k.Name, Created: when(k.CreatedAt), LastUsed: last})
	}
	if sec.TOTP {
		if sec.CodesLeft, err = d.Auth.RecoveryCodesLeft(r.Context(), u.ID); err != nil {
			return nil, err
		}
	} else {
		en, ok, err := d.Auth.PendingTOTP(r.Context(), u.ID, s.claims.SessionID)
		if err != nil {
			return nil, err
		}
		if ok {
			sec.Pending = totpSetup(en)
		}
	}
	s.page.Data = sec
	return sec, nil
}

func totpSetup(en auth.TOTPEnrolment) *web.TOTPSetup {
	return &web.TOTPSetup{Secret: en.Secret, URI: en.URI, QR: template.HTML(en.QRSVG)} // #nosec: our own SVG
}

// withCodes shows recovery codes once, with a text file to download.
func withCodes(sec *web.Security, codes []string) {
	sec.NewCodes = codes
	text := "Gatehouse recovery codes. Each works once.\r\n\r\n" + strings.Join(codes, "\r\n") + "\r\n"
	sec.CodesFile = template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))
}

// handleSecurityPage serves GET /security.
func handleSecurityPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Security")
		if !ok {
			return
		}
		if _, err := securityPage(d, r, &s); err != nil {
			renderError(d, w, r, err)
			return
		}
		if r.URL.Query().Get("reauth") == "1" { // the passkey script was told to sign in again
			s.page.Data.(*web.Security).NeedReauth = true
		}
		switch r.URL.Query().Get("done") {
		case "reauth":
			s.page.Notice = "Thank you. Now make the change again."
		case "passkey":
			s.page.Notice = "The passkey is added: you can sign in with it, without your password."
		case "passkey-removed":
			s.page.Notice = "The passkey is removed."
		case "removed":
			s.page.Notice = "The authenticator app is removed; your recovery codes no longer work."
		}
		d.Pages.Render(w, http.StatusOK, "security", s.page)
	})
}

// handleSecurityForm serves the security page's forms: POST /security/totp
// (set up), /security/totp/confirm, /security/totp/remove and
// /security/recovery-codes. An action that needs a recent sign-in shows the
// page with the re-authentication form.
func handleSecurityForm(d Deps, action string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Security")
		if !ok {
			return
		}
		if err := parseForm(r); err != nil {
			renderError(d, w, r, err)
			return
		}
		ctx, userID, sessionID := r.Context(), s.claims.Subject, s.claims.SessionID
		var codes []string
		var err error
		switch action {
		case "enrol":
			_, err = d.Auth.EnrolTOTP(ctx, userID, sessionID)
		case "confirm":
			codes, err = d.Auth.ConfirmTOTP(ctx, userID, sessionID, r.PostFormValue("code"), client(d, r))
		case "remove":
			err = d.Auth.RemoveTOTP(ctx, userID, sessionID)
		case "codes":
			codes, err = d.Auth.NewRecoveryCodes(ctx, userID, sessionID)
		case "passkey-add": // the passkey script put the new credential in the form
			var cred []byte
			if cred, err = credentialOf(json.RawMessage(r.PostFormValue("credential"))); err == nil {
				_, err = d.Auth.FinishPasskeyRegistration(ctx, userID, sessionID, r.PostFormValue("name"), cred)
			}
		case "passkey-rename":
			_, err = d.Auth.RenamePasskey(ctx, userID, r.PathValue("id"), r.PostFormValue("name"))
		case "passkey-remove":
			err = d.Auth.RemovePasskey(ctx, userID, sessionID, r.PathValue("id"))
		}
		if err == nil && codes == nil {
			target := "/security"
			switch action {
			case "remove":
				target += "?done=removed"
			case "passkey-add":
				target += "?done=passkey"
			case "passkey-remove":
				target += "?done=passkey-removed"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		sec, perr := securityPage(d, r, &s)
		if perr != nil {
			renderError(d, w, r, perr)
			return
		}
		status := http.StatusOK
		if err != nil {
			switch auth.ErrorCode(err) {
			case auth.CodeReauthenticationRequired:
				sec.NeedReauth = true
			case auth.CodeInvalidCode, auth.CodeInvalidRequest, auth.CodeTooManyRequests, auth.CodeAlreadyExists,
				auth.CodeNotFound, auth.CodeUnavailable, auth.CodeEmailNotVerified:
			default:
				renderError(d, w, r, err)
				return
			}
			status = formError(d, w, r, &s.page, err, map[string]string{auth.CodeInvalidCode: "code"})
		} else {
			withCodes(sec, codes)
		}
		d.Pages.Render(w, status, "security", s.page)
	})
}

// handleReauthForm serves POST /security/reauthenticate: a password or a
// code renews the session's sign-in time (and its cookies).
func handleReauthForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Security")
		if !ok {
			return
		}
		tokens, err := d.Auth.Reauthenticate(r.Context(), auth.ReauthInput{UserID: s.claims.Subject, SessionID: s.claims.SessionID,
			Password: r.PostFormValue("password"), Code: r.PostFormValue("code"), Client: client(d, r)})
		if err != nil {
			sec, perr := securityPage(d, r, &s)
			if perr != nil {
				renderError(d, w, r, perr)
				return
			}
			sec.NeedReauth = true
			status := formError(d, w, r, &s.page, err, nil)
			d.Pages.Render(w, status, "security", s.page)
			return
		}
		setSessionCookies(w, tokens, s.page.CSRF)
		http.Redirect(w, r, "/security?done=reauth", http.StatusSeeOther)
	})
}

// handleAdminMFAResetForm serves POST /admin/users/{id}/mfa-reset, as
// DELETE /users/{id}/mfa does, through auth.Service.ResetMFA.
func handleAdminMFAResetForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Users")
		if !ok {
			return
		}
		if err := guard.CheckRole(s.claims, auth.RoleAdmin); err != nil {
			renderError(d, w, r, err)
			return
		}
		if err := d.Auth.ResetMFA(auth.WithActor(r.Context(), s.claims.Subject), s.claims.Subject, r.PathValue("id")); err != nil {
			renderError(d, w, r, err)
			return
		}
		http.Redirect(w, r, "/admin/users?done=mfa", http.StatusSeeOther)
	})
}
