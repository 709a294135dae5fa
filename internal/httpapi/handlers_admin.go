package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/google/uuid"
)

// pageLimit reads a list's ?limit=: 1 to 200, 50 when absent.
func pageLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		return 0, auth.Errorf(auth.CodeInvalidRequest, "The limit must be a whole number from 1 to 200.")
	}
	return n, nil
}

// handleListUsers serves GET /users?limit=&cursor=&q= (admins).
func handleListUsers(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		uq := auth.UserQuery{Prefix: q.Get("q"), Cursor: q.Get("cursor")}
		var err error
		if uq.Limit, err = pageLimit(q); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		users, next, err := d.Auth.Accounts.ListUsers(r.Context(), uq)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]userJSON, len(users))
		for i, u := range users {
			out[i] = userView(u)
		}
		var cursor *string
		if next != "" {
			cursor = &next
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"users": out, "next_cursor": cursor})
	})
}

// handleGetUser serves GET /users/{id} (admins).
func handleGetUser(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := d.Auth.Accounts.User(r.Context(), r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"user": userView(u)})
	})
}

type updateUserRequest struct {
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
}

// handleUpdateUser serves PATCH /users/{id} {role?, disabled?} (admins). Either
// change ends every session of that user at once; the rules (an admin may not
// change their own role or disable themselves; an API key changes no role)
// are AdminUpdate's.
func handleUpdateUser(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[updateUserRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		u, err := d.Auth.Accounts.AdminUpdate(r.Context(), claimsOf(r).Subject, r.PathValue("id"), in.Role, in.Disabled)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"user": userView(u)})
	})
}

// handleDeleteUser serves DELETE /users/{id} (admins).
func handleDeleteUser(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Auth.Accounts.DeleteUser(r.Context(), claimsOf(r).Subject, r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type auditJSON struct {
	ID        string    `json:"id"`
	At        time.Time `json:"at"`
	Event     string    `json:"event"`
	UserID    *string   `json:"user_id"`
	ActorID   *string   `json:"actor_id"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail"`
}

// handleAudit serves GET /audit?user=&event=&limit=&cursor= (admins): the
// security events, newest first.
func handleAudit(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := auth.AuditFilter{UserID: q.Get("user"), Event: q.Get("event")}
		var err error
		if f.Limit, err = pageLimit(q); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		if s := q.Get("cursor"); s != "" {
			if uuid.Validate(s) != nil {
				httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "The cursor is not valid."))
				return
			}
			f.Before = s
		}
		events, next, err := d.Auth.Accounts.AuditEvents(r.Context(), f)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]auditJSON, len(events))
		for i, e := range events {
			out[i] = auditJSON{ID: e.ID, At: e.At, Event: e.Event, UserID: nullable(e.UserID), ActorID: nullable(e.ActorID),
				IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail}
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"events": out, "next_cursor": nullable(next)})
	})
}
