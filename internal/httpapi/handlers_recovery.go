package httpapi

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// Recovery: email verification, password reset and email change. The JSON
// routes here and the pages (internal/web) are thin adapters over the same
// auth.Recovery methods (auth/recovery.go holds every rule).

// accepted is the one answer of a request for a link: the same whatever
// the account, so it tells nothing.
type accepted struct {
	Message string `json:"message"`
}

var (
	forgotAnswer = accepted{"If an account with an email address matches, a link to set a new password is on its way to it."}
	linkAnswer   = accepted{"A link is on its way."}
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
			err = d.Auth.Recovery.ForgotPassword(r.Context(), in.identifier(), client(d, r))
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
			err = d.Auth.Recovery.ResetPassword(r.Context(), auth.ResetPasswordInput{Token: in.Token, NewPassword: in.NewPassword,
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
		if err := d.Auth.Recovery.RequestVerification(r.Context(), claimsOf(r).Subject, client(d, r)); err != nil {
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
func handleSpendLink(d Deps, spend func(*auth.Recovery) func(r *http.Request, in auth.LinkInput) (auth.User, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[tokenRequest](r, false)
		var u auth.User
		if err == nil {
			u, err = spend(d.Auth.Recovery)(r, auth.LinkInput{Token: in.Token, CallerID: callerOf(d, r), Client: client(d, r)})
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, userResponse{userView(u)})
	})
}

func verifyEmail(s *auth.Recovery) func(*http.Request, auth.LinkInput) (auth.User, error) {
	return func(r *http.Request, in auth.LinkInput) (auth.User, error) { return s.VerifyEmail(r.Context(), in) }
}

func confirmEmail(s *auth.Recovery) func(*http.Request, auth.LinkInput) (auth.User, error) {
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
			err = d.Auth.Recovery.RequestEmailChange(r.Context(), auth.ChangeEmailInput{UserID: claimsOf(r).Subject, SessionID: claimsOf(r).SessionID,
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
		if _, err := d.Auth.Recovery.AdminPasswordReset(r.Context(), claimsOf(r).Subject, r.PathValue("id"), false); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusAccepted, linkAnswer)
	})
}
