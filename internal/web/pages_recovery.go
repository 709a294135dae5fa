package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// RecoveryPages are recovery's pages: forgotten password, the pages of
// mailed links (reset, verify, confirm a new address), and sending a
// verification link again. Anyone may open them. The rules are
// auth.Recovery's.
type RecoveryPages struct{ *Site }

// Notices of the pages, the same whatever the account.
const (
	forgotNotice = "If an account with an email address matches, a link to set a new password is on its way to it. It works for a short time, once."
	resendNotice = "If that account's address is not verified yet, a new verification link is on its way to it."
)

// ForgotPage serves GET /forgot-password.
func (site *RecoveryPages) ForgotPage(w http.ResponseWriter, r *http.Request) {
	site.Pages.Render(w, http.StatusOK, "forgot_password", Page{Title: "Forgot password", CSRF: ensureCSRFCookie(w, r)})
}

// ForgotForm serves POST /forgot-password: the same notice for any
// account, as the JSON route gives the same answer.
func (site *RecoveryPages) ForgotForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	ident := r.PostFormValue("identifier")
	if err == nil {
		err = site.Recovery.ForgotPassword(r.Context(), ident, site.Client(r))
	}
	p := Page{Title: "Forgot password", CSRF: ensureCSRFCookie(w, r), Form: map[string]string{"identifier": ident}}
	status := http.StatusOK
	if err != nil {
		status = site.formError(w, r, &p, err, map[string]string{auth.CodeInvalidRequest: "identifier"})
	} else {
		p.Notice, p.Form = forgotNotice, nil
	}
	site.Pages.Render(w, status, "forgot_password", p)
}

// ResendVerificationForm serves POST /verify-email/resend, the login
// page's "send the link again" after email_not_verified: it needs no
// session, and answers the same for any account.
func (site *RecoveryPages) ResendVerificationForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	ident := r.PostFormValue("identifier")
	if err == nil {
		err = site.Recovery.ResendVerification(r.Context(), ident, site.Client(r))
	}
	p := Page{Title: "Log in", CSRF: ensureCSRFCookie(w, r), Form: map[string]string{"identifier": ident}}
	status := http.StatusOK
	if err != nil {
		status = site.formError(w, r, &p, err, nil)
	} else {
		p.Notice = resendNotice
	}
	site.Pages.Render(w, status, "login", p)
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

func (lp linkPage) page(w http.ResponseWriter, r *http.Request, token string) Page {
	return Page{Title: lp.title, CSRF: ensureCSRFCookie(w, r), NoReferrer: true, Form: map[string]string{"token": token}}
}

// ResetPage serves GET /reset-password?token=: the form, nothing spent.
func (site *RecoveryPages) ResetPage(w http.ResponseWriter, r *http.Request) {
	site.linkPage(w, r, resetPage)
}

// VerifyPage serves GET /verify-email?token=: the button, nothing spent.
func (site *RecoveryPages) VerifyPage(w http.ResponseWriter, r *http.Request) {
	site.linkPage(w, r, verifyPage)
}

// ConfirmPage serves GET /confirm-email?token=: the button, nothing spent.
func (site *RecoveryPages) ConfirmPage(w http.ResponseWriter, r *http.Request) {
	site.linkPage(w, r, confirmPage)
}

func (site *RecoveryPages) linkPage(w http.ResponseWriter, r *http.Request, lp linkPage) {
	p := lp.page(w, r, r.URL.Query().Get("token"))
	if p.Form["token"] == "" {
		p.Error = "This page needs the link from your mail; open the link again, or ask for a new one."
	}
	site.Pages.Render(w, http.StatusOK, lp.name, p)
}

// ResetForm serves POST /reset-password: the new password twice.
func (site *RecoveryPages) ResetForm(w http.ResponseWriter, r *http.Request) {
	err := site.parsePost(r)
	token, pw := r.PostFormValue("token"), r.PostFormValue("new_password")
	byField := map[string]string{auth.CodeWeakPassword: "new_password"}
	if err == nil && pw != r.PostFormValue("confirm_password") {
		err, byField = auth.Errorf(auth.CodeInvalidRequest, "The two passwords differ."), map[string]string{auth.CodeInvalidRequest: "confirm_password"}
	}
	if err == nil {
		err = site.Recovery.ResetPassword(r.Context(), auth.ResetPasswordInput{Token: token, NewPassword: pw,
			Code: r.PostFormValue("code"), RecoveryCode: r.PostFormValue("recovery_code"), Client: site.Client(r)})
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
		site.Pages.Render(w, site.formError(w, r, &p, err, byField), resetPage.name, p)
		return
	}
	ClearSessionCookies(w) // every session ended, this browser's too
	http.Redirect(w, r, "/login?reset=1", http.StatusSeeOther)
}

// VerifyForm serves POST /verify-email.
func (site *RecoveryPages) VerifyForm(w http.ResponseWriter, r *http.Request) {
	site.spendLinkForm(w, r, verifyPage, site.Recovery.VerifyEmail, "Your email address is verified.")
}

// ConfirmForm serves POST /confirm-email.
func (site *RecoveryPages) ConfirmForm(w http.ResponseWriter, r *http.Request) {
	site.spendLinkForm(w, r, confirmPage, site.Recovery.ConfirmEmailChange, "Your email address is changed and verified.")
}

func (site *RecoveryPages) spendLinkForm(w http.ResponseWriter, r *http.Request, lp linkPage, spend func(context.Context, auth.LinkInput) (auth.User, error), done string) {
	err := site.parsePost(r)
	token := r.PostFormValue("token")
	if err == nil {
		_, err = spend(r.Context(), auth.LinkInput{Token: token, CallerID: site.callerOf(r), Client: site.Client(r)})
	}
	p := lp.page(w, r, "")
	status := http.StatusOK
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeCSRFFailed {
			p.Form["token"] = token // a reload of the page's form can try again
		}
		status = site.formError(w, r, &p, err, nil)
	} else {
		p.Notice = done
	}
	site.Pages.Render(w, status, lp.name, p)
}

// callerOf is the signed-in caller of a link's POST, if any: a link of
// another user is then refused. A missing or refused token means nobody.
func (site *RecoveryPages) callerOf(r *http.Request) string {
	if c, err := site.Guard.Authenticate(r); err == nil {
		return c.Subject
	}
	return ""
}
