package httpapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/web"
)

// Recovery: email verification, password reset and email change. The JSON
// routes and the pages are thin adapters over the same auth.Service
// methods (auth/recovery.go holds every rule).

// accepted is the one answer of a request for a link: the same whatever
// the account, so it tells nothing.
type accepted struct {
	Message string `json:"message"`
}

var (
	forgotAnswer = accepted{"If an account with an email address matches, a link to set a new password is on its way to it."}
	linkAnswer   = accepted{"A link is on its way."}
)

// Notices of the pages, the same whatever the account.
const (
	forgotNotice = "If an account with an email address matches, a link to set a new password is on its way to it. It works for a short time, once."
	resendNotice = "If that account's address is not verified yet, a new verification link is on its way to it."
)

type identifierRequest struct {
	Identifier string `json:"identifier"`
	Email      string `json:"email"`
	Username   string `json:"username"`
}

func (l identifierRequest) identifier() string {
	return loginRequest{Identifier: l.Identifier, Email: l.Email, Username: l.Username}.identifier()
}

// handleForgotPassword serves POST /password/forgot: 202, the same body and
// headers for any account (the lookup and the mail follow the answer).
func handleForgotPassword(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[identifierRequest](r, false)
		if err == nil {
			err = d.Auth.ForgotPassword(r.Context(), in.identifier(), client(d, r))
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusAccepted, forgotAnswer)
	})
}

type resetRequest struct {
	Token        string `json:"token"`
	NewPassword  string `json:"new_password"`
	Code         string `json:"code"`          // with an authenticator app enrolled
	RecoveryCode string `json:"recovery_code"` // or this instead
}

// handleResetPassword serves POST /password/reset {token, new_password,
// code | recovery_code}: 204.
func handleResetPassword(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[resetRequest](r, false)
		if err == nil {
			err = d.Auth.ResetPassword(r.Context(), auth.ResetPasswordInput{Token: in.Token, NewPassword: in.NewPassword,
				Code: in.Code, RecoveryCode: in.RecoveryCode, Client: client(d, r)})
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleVerifyRequest serves POST /email/verify/request (signed in): 202.
func handleVerifyRequest(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Auth.RequestVerification(r.Context(), claimsOf(r).Subject, client(d, r)); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusAccepted, linkAnswer)
	})
}

type tokenRequest struct {
	Token string `json:"token"`
}

// callerOf is the signed-in caller of a link's POST, if any: a link of
// another user is then refused. A missing or refused token means nobody.
func callerOf(d Deps, r *http.Request) string {
	if c, err := d.Guard.Authenticate(r); err == nil {
		return c.Subject
	}
	return ""
}

// handleSpendLink serves POST /email/verify and /email/change/confirm
// {token}: 200 {"user"}.
func handleSpendLink(d Deps, spend func(*auth.Service) func(r *http.Request, in auth.LinkInput) (auth.User, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[tokenRequest](r, false)
		var u auth.User
		if err == nil {
			u, err = spend(d.Auth)(r, auth.LinkInput{Token: in.Token, CallerID: callerOf(d, r), Client: client(d, r)})
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, userResponse{userView(u)})
	})
}

func verifyEmail(s *auth.Service) func(*http.Request, auth.LinkInput) (auth.User, error) {
	return func(r *http.Request, in auth.LinkInput) (auth.User, error) { return s.VerifyEmail(r.Context(), in) }
}

func confirmEmail(s *auth.Service) func(*http.Request, auth.LinkInput) (auth.User, error) {
	return func(r *http.Request, in auth.LinkInput) (auth.User, error) {
		return s.ConfirmEmailChange(r.Context(), in)
	}
}

type changeEmailRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// handleChangeEmail serves POST /me/email {email, password}: 202.
func handleChangeEmail(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[changeEmailRequest](r, false)
		if err == nil {
			err = d.Auth.RequestEmailChange(r.Context(), auth.ChangeEmailInput{UserID: claimsOf(r).Subject, SessionID: claimsOf(r).SessionID,
				Email: in.Email, Password: in.Password, Client: client(d, r)})
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusAccepted, linkAnswer)
	})
}

// handleAdminPasswordReset serves POST /users/{id}/password-reset (admins):
// mails the user a reset link; 202.
func handleAdminPasswordReset(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := d.Auth.AdminPasswordReset(r.Context(), claimsOf(r).Subject, r.PathValue("id"), false); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusAccepted, linkAnswer)
	})
}

// Pages.

// handleForgotPage serves GET /forgot-password.
func handleForgotPage(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.Pages.Render(w, http.StatusOK, "forgot_password", web.Page{Title: "Forgot password", CSRF: ensureCSRFCookie(w, r)})
	})
}

// handleForgotForm serves POST /forgot-password: the same notice for any
// account, as the JSON route gives the same answer.
func handleForgotForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := parseForm(r)
		if err == nil {
			err = checkFormPost(d, r)
		}
		ident := r.PostFormValue("identifier")
		if err == nil {
			err = d.Auth.ForgotPassword(r.Context(), ident, client(d, r))
		}
		p := web.Page{Title: "Forgot password", CSRF: ensureCSRFCookie(w, r), Form: map[string]string{"identifier": ident}}
		status := http.StatusOK
		if err != nil {
			status = formError(d, w, r, &p, err, map[string]string{auth.CodeInvalidRequest: "identifier"})
		} else {
			p.Notice, p.Form = forgotNotice, nil
		}
		d.Pages.Render(w, status, "forgot_password", p)
	})
}

// handleResendVerificationForm serves POST /verify-email/resend, the login
// page's "send the link again" after email_not_verified: it needs no
// session, and answers the same for any account.
func handleResendVerificationForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := parseForm(r)
		if err == nil {
			err = checkFormPost(d, r)
		}
		ident := r.PostFormValue("identifier")
		if err == nil {
			err = d.Auth.ResendVerification(r.Context(), ident, client(d, r))
		}
		p := web.Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Form: map[string]string{"identifier": ident}}
		status := http.StatusOK
		if err != nil {
			status = formError(d, w, r, &p, err, nil)
		} else {
			p.Notice = resendNotice
		}
		d.Pages.Render(w, status, "login", p)
	})
}

// linkPage is a page a mailed link opens: it shows a button and spends
// nothing (mail scanners open links); only its form's POST spends the
// token. Its address holds the token, so it sends no Referer.
type linkPage struct {
	name, title string
}

var (
	resetPage   = linkPage{"reset_password", "Set a new password"}
	verifyPage  = linkPage{"verify_email", "Verify your email address"}
	confirmPage = linkPage{"confirm_email", "Confirm your new email address"}
)

func (lp linkPage) page(w http.ResponseWriter, r *http.Request, token string) web.Page {
	return web.Page{Title: lp.title, CSRF: ensureCSRFCookie(w, r), NoReferrer: true, Form: map[string]string{"token": token}}
}

// handleLinkPage serves GET /reset-password, /verify-email and
// /confirm-email ?token=: the form, nothing spent.
func handleLinkPage(d Deps, lp linkPage) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := lp.page(w, r, r.URL.Query().Get("token"))
		if p.Form["token"] == "" {
			p.Error = "This page needs the link from your mail; open the link again, or ask for a new one."
		}
		d.Pages.Render(w, http.StatusOK, lp.name, p)
	})
}

// handleResetForm serves POST /reset-password: the new password twice.
func handleResetForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := parseForm(r)
		if err == nil {
			err = checkFormPost(d, r)
		}
		token, pw := r.PostFormValue("token"), r.PostFormValue("new_password")
		byField := map[string]string{auth.CodeWeakPassword: "new_password"}
		if err == nil && pw != r.PostFormValue("confirm_password") {
			err, byField = auth.Errorf(auth.CodeInvalidRequest, "The two passwords differ."), map[string]string{auth.CodeInvalidRequest: "confirm_password"}
		}
		if err == nil {
			err = d.Auth.ResetPassword(r.Context(), auth.ResetPasswordInput{Token: token, NewPassword: pw,
				Code: r.PostFormValue("code"), RecoveryCode: r.PostFormValue("recovery_code"), Client: client(d, r)})
		}
		if err != nil {
			p := resetPage.page(w, r, token)
			secondFactor := errors.Is(err, auth.ErrResetNeedsSecondFactor) || errors.Is(err, auth.ErrResetSecondFactor)
			if secondFactor {
				byField = map[string]string{auth.CodeInvalidRequest: "code", auth.CodeInvalidCode: "code"}
				p.Form["mfa"] = "1" // the link still works: ask for the code
			} else if auth.ErrorCode(err) == auth.CodeInvalidCode {
				p.Form = nil // a dead link: no form, a way to ask for a new one
			}
			d.Pages.Render(w, formError(d, w, r, &p, err, byField), resetPage.name, p)
			return
		}
		clearSessionCookies(w) // every session ended, this browser's too
		http.Redirect(w, r, "/login?reset=1", http.StatusSeeOther)
	})
}

// handleSpendLinkForm serves POST /verify-email and /confirm-email.
func handleSpendLinkForm(d Deps, lp linkPage, spend func(*auth.Service) func(*http.Request, auth.LinkInput) (auth.User, error), done string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := parseForm(r)
		if err == nil {
			err = checkFormPost(d, r)
		}
		token := r.PostFormValue("token")
		if err == nil {
			_, err = spend(d.Auth)(r, auth.LinkInput{Token: token, CallerID: callerOf(d, r), Client: client(d, r)})
		}
		p := lp.page(w, r, "")
		status := http.StatusOK
		if err != nil {
			if auth.ErrorCode(err) == auth.CodeCSRFFailed {
				p.Form["token"] = token // a reload of the page's form can try again
			}
			status = formError(d, w, r, &p, err, nil)
		} else {
			p.Notice = done
		}
		d.Pages.Render(w, status, lp.name, p)
	})
}

// handleVerifyRequestForm serves POST /dashboard/verify.
func handleVerifyRequestForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Dashboard")
		if !ok {
			return
		}
		if err := d.Auth.RequestVerification(r.Context(), s.claims.Subject, client(d, r)); err != nil {
			status := formError(d, w, r, &s.page, err, map[string]string{auth.CodeInvalidRequest: "verify", auth.CodeTooManyRequests: "verify"})
			d.Pages.Render(w, status, "dashboard", s.page)
			return
		}
		http.Redirect(w, r, "/dashboard?done=verify", http.StatusSeeOther)
	})
}

// handleChangeEmailForm serves POST /dashboard/email.
func handleChangeEmailForm(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := signedIn(d, w, r, "Dashboard")
		if !ok {
			return
		}
		email := r.PostFormValue("email")
		err := d.Auth.RequestEmailChange(r.Context(), auth.ChangeEmailInput{UserID: s.claims.Subject, SessionID: s.claims.SessionID, Email: email,
			Password: r.PostFormValue("password"), Client: client(d, r)})
		if err != nil {
			s.page.Form = map[string]string{"email": email}
			status := formError(d, w, r, &s.page, err, map[string]string{
				auth.CodeInvalidRequest: "email", auth.CodeInvalidCredentials: "password"})
			if auth.ErrorCode(err) == auth.CodeInvalidCredentials {
				s.page.FieldErrors["password"] = "The password is not right."
			}
			d.Pages.Render(w, status, "dashboard", s.page)
			return
		}
		http.Redirect(w, r, "/dashboard?done=email", http.StatusSeeOther)
	})
}
