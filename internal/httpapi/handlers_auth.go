package httpapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/gatehouse-auth/gatehouse/internal/web"
)

func client(d Deps, r *http.Request) auth.Client {
	return auth.Client{UserAgent: r.UserAgent(), IP: clientIP(r, d.TrustedProxies)}
}

type registerRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

// handleRegister serves POST /register and /signup as JSON: 201 {"user"}.
// (The sign-up page's form is web.SignInPages.SignupForm.)
func handleRegister(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[registerRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		u, err := d.Auth.Accounts.Register(r.Context(), auth.RegisterInput(in))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusCreated, map[string]any{"user": userView(u)})
	})
}

type loginRequest struct {
	Identifier string `json:"identifier"`
	Email      string `json:"email"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	OrgID      string `json:"org_id"` // the organization the session acts in
}

func (l loginRequest) identifier() string {
	for _, s := range []string{l.Identifier, l.Email, l.Username} {
		if s != "" {
			return s
		}
	}
	return ""
}

// handleLogin serves POST /login and /set-jwt. Credentials come as HTTP Basic
// or a JSON body, and get the token response. A user with a second factor
// gets 401 mfa_required with an mfa_token instead, and no session until
// POST /login/mfa. (The login page's form is web.SignInPages.LoginForm.)
func handleLogin(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in loginRequest
		user, pass, isBasic, err := parseBasicAuth(r.Header.Get("Authorization"))
		switch {
		case err != nil:
		case isBasic:
			in = loginRequest{Identifier: user, Password: pass}
		default:
			in, err = httpjson.Decode[loginRequest](r, false)
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		tokens, err := d.Auth.Sessions.Login(r.Context(), auth.LoginInput{Identifier: in.identifier(), Password: in.Password, Client: client(d, r), OrgID: in.OrgID})
		if err != nil {
			writeLoginError(d, w, r, err) // mfa_required carries its mfa_token
			return
		}
		httpjson.Write(w, http.StatusOK, tokenView(tokens))
	})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
	OrgID        string `json:"org_id"` // the organization the session acts in from now on
}

// handleRefresh serves POST /token/refresh with the token in the body or the
// refresh cookie (then with CSRF checks, and new cookies in the answer).
func handleRefresh(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[refreshRequest](r, true)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		fromCookie := false
		if in.RefreshToken == "" {
			c, cerr := r.Cookie(web.RefreshCookie)
			if cerr != nil || c.Value == "" {
				httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "A refresh_token is required."))
				return
			}
			if err := d.Guard.CheckCSRF(r); err != nil {
				httpjson.Error(w, r, d.Log, err)
				return
			}
			in.RefreshToken, fromCookie = c.Value, true
		}
		tokens, err := d.Auth.Sessions.RefreshInOrg(r.Context(), in.RefreshToken, in.OrgID)
		if err != nil {
			if fromCookie {
				web.ClearSessionCookies(w)
			}
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if fromCookie {
			c, _ := r.Cookie(web.CSRFCookie) // present: CheckCSRF passed
			web.SetSessionCookies(w, tokens, c.Value)
		}
		httpjson.Write(w, http.StatusOK, tokenView(tokens))
	})
}

type logoutRequest struct {
	All          bool   `json:"all"`
	RefreshToken string `json:"refresh_token"`
}

// handleLogout serves POST /logout: it ends the session of the access token,
// or of the refresh token (cookie or body) when no valid access token came,
// so an expired access token does not prevent logging out. Cookies are
// always cleared. Browser forms get 303 to /login, API clients 204.
func handleLogout(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in logoutRequest
		var err error
		if httpjson.IsForm(r) {
			if err = httpjson.ParseForm(r); err == nil {
				in.All = r.PostFormValue("all") == "true"
			}
		} else {
			in, err = httpjson.Decode[logoutRequest](r, true)
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		claims, authErr := d.Guard.Authenticate(r)
		var ge *guard.Error
		switch {
		case authErr == nil:
			err = d.Auth.Sessions.Logout(r.Context(), auth.LogoutInput{SessionID: claims.SessionID, UserID: claims.Subject, All: in.All})
		case errors.As(authErr, &ge) && ge.Code == guard.CodeCSRFFailed:
			httpjson.Error(w, r, d.Log, authErr)
			return
		case in.RefreshToken != "":
			err = d.Auth.Sessions.LogoutRefresh(r.Context(), in.RefreshToken, in.All)
		default:
			c, cerr := r.Cookie(web.RefreshCookie)
			if cerr != nil || c.Value == "" {
				httpjson.Error(w, r, d.Log, authErr)
				return
			}
			if err := d.Guard.CheckCSRF(r); err != nil {
				httpjson.Error(w, r, d.Log, err)
				return
			}
			err = d.Auth.Sessions.LogoutRefresh(r.Context(), c.Value, in.All)
		}
		web.ClearSessionCookies(w)
		if err != nil && auth.ErrorCode(err) != auth.CodeInvalidGrant { // an already-ended session is logged out
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if httpjson.IsForm(r) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func claimsOf(r *http.Request) *guard.Claims {
	c, _ := guard.ClaimsFrom(r.Context())
	return c
}
