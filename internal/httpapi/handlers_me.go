package httpapi

import (
	"github.com/gatehouse-auth/gatehouse/internal/web"

	"encoding/base64"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/google/uuid"
)

// handleMe serves GET /me (and the seed aliases /get-jwt, /get_name).
func handleMe(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := d.Auth.Accounts.User(r.Context(), claimsOf(r).Subject)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, userResponse{userView(u)})
	})
}

type updateMeRequest struct {
	Name *string `json:"name"`
}

// handleUpdateMe serves PATCH /me: only the name can change here.
func handleUpdateMe(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[updateMeRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		u, err := d.Auth.Accounts.UpdateProfile(r.Context(), claimsOf(r).Subject, in.Name)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"user": userView(u)})
	})
}

type sessionJSON struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

// handleSessions serves GET /me/sessions?limit=&cursor=: a page of the
// caller's live sessions, newest first, the one of this token marked current.
func handleSessions(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		q := r.URL.Query()
		var p auth.SessionPage
		var err error
		if p.Limit, err = pageLimit(q); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if s := q.Get("cursor"); s != "" {
			id, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || uuid.Validate(string(id)) != nil {
				httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "The cursor is not valid."))
				return
			}
			p.Cursor = string(id)
		}
		sessions, next, err := d.Auth.Sessions.Sessions(r.Context(), c.Subject, p)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]sessionJSON, len(sessions))
		for i, s := range sessions {
			out[i] = sessionJSON{ID: s.ID, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt,
				UserAgent: s.UserAgent, IP: s.IP, Current: s.ID == c.SessionID}
		}
		var cursor *string
		if next != "" {
			c := base64.RawURLEncoding.EncodeToString([]byte(next))
			cursor = &c
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"sessions": out, "next_cursor": cursor})
	})
}

// handleEndSession serves DELETE /me/sessions/{id}; someone else's is 404.
func handleEndSession(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Auth.Sessions.EndSession(r.Context(), claimsOf(r).Subject, r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// handleChangePassword serves POST /me/password: every other session ends;
// the caller's goes on with new tokens (and new cookies if it used cookies).
func handleChangePassword(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[changePasswordRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c := claimsOf(r)
		tokens, err := d.Auth.Sessions.ChangePassword(r.Context(), auth.ChangePasswordInput{UserID: c.Subject, SessionID: c.SessionID,
			Current: in.CurrentPassword, New: in.NewPassword, Client: client(d, r)})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		writeRenewedTokens(w, r, tokens)
	})
}

type deleteAccountRequest struct {
	Password string `json:"password"`
}

// handleDeleteMe serves DELETE /me {password}: the account, its sessions and
// its books are gone; 204 and cleared cookies.
func handleDeleteMe(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[deleteAccountRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if err := d.Auth.Accounts.DeleteAccount(r.Context(), claimsOf(r).Subject, claimsOf(r).SessionID, in.Password, client(d, r)); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		web.ClearSessionCookies(w)
		w.WriteHeader(http.StatusNoContent)
	})
}

// writeRenewedTokens answers with the session's new tokens, and renews its
// cookies too when the caller signed in with cookies (the web UI's fetches).
func writeRenewedTokens(w http.ResponseWriter, r *http.Request, tokens *auth.Tokens) {
	if _, err := r.Cookie(web.AccessCookie); err == nil {
		csrf := ""
		if c, err := r.Cookie(web.CSRFCookie); err == nil {
			csrf = c.Value
		}
		web.SetSessionCookies(w, tokens, csrf)
	}
	httpjson.Write(w, http.StatusOK, tokenView(tokens))
}
