package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// Passkeys over JSON, and the forms the pages' WebAuthn script submits:
// thin adapters over auth.Passkeys (auth/passkeys.go). A ceremony's begin answers
// the options for navigator.credentials.create/get as the library makes
// them ({"publicKey": ...}); its finish takes the credential as the browser
// serialised it (PublicKeyCredential.toJSON()).

type passkeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func passkeyView(p auth.PasskeyView) passkeyJSON {
	v := passkeyJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt}
	if !p.LastUsedAt.IsZero() {
		v.LastUsedAt = &p.LastUsedAt
	}
	return v
}

type passkeyResponse struct {
	Passkey passkeyJSON `json:"passkey"`
}

// writeOptions answers a ceremony's options (never cached: a challenge).
func writeOptions(w http.ResponseWriter, opts json.RawMessage) {
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, opts)
}

// handleBeginPasskeyRegistration serves POST /me/passkeys/register/begin.
func handleBeginPasskeyRegistration(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		opts, err := d.Auth.Passkeys.BeginPasskeyRegistration(r.Context(), c.Subject, c.SessionID)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		writeOptions(w, opts)
	})
}

type registerFinishRequest struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// handleFinishPasskeyRegistration serves POST /me/passkeys/register/finish
// {name, credential}: 201 {"passkey"}.
func handleFinishPasskeyRegistration(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[registerFinishRequest](r, false)
		var cred []byte
		if err == nil {
			cred, err = httpjson.Credential(in.Credential)
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c := claimsOf(r)
		p, err := d.Auth.Passkeys.FinishPasskeyRegistration(r.Context(), c.Subject, c.SessionID, in.Name, cred)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusCreated, passkeyResponse{passkeyView(p)})
	})
}

type passkeysResponse struct {
	Passkeys []passkeyJSON `json:"passkeys"`
}

// handleListPasskeys serves GET /me/passkeys.
func handleListPasskeys(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := d.Auth.Passkeys.Passkeys(r.Context(), claimsOf(r).Subject)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := passkeysResponse{Passkeys: make([]passkeyJSON, 0, len(list))}
		for _, p := range list {
			out.Passkeys = append(out.Passkeys, passkeyView(p))
		}
		httpjson.Write(w, http.StatusOK, out)
	})
}

type renamePasskeyRequest struct {
	Name string `json:"name"`
}

// handleRenamePasskey serves PATCH /me/passkeys/{id} {name}.
func handleRenamePasskey(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[renamePasskeyRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		p, err := d.Auth.Passkeys.RenamePasskey(r.Context(), claimsOf(r).Subject, r.PathValue("id"), in.Name)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, passkeyResponse{passkeyView(p)})
	})
}

// handleRemovePasskey serves DELETE /me/passkeys/{id} (a recent login is needed).
func handleRemovePasskey(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		if err := d.Auth.Passkeys.RemovePasskey(r.Context(), c.Subject, c.SessionID, r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleBeginPasskeyLogin serves POST /login/passkey/begin (no body).
func handleBeginPasskeyLogin(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts, err := d.Auth.Passkeys.BeginPasskeyLogin(r.Context(), client(d, r))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		writeOptions(w, opts)
	})
}

type passkeyLoginRequest struct {
	MFAToken   string          `json:"mfa_token"`
	Credential json.RawMessage `json:"credential"`
}

// handleFinishPasskeyLogin serves POST /login/passkey/finish {credential}:
// the token response. (The login page's form is web.SignInPages.PasskeyLoginForm.)
func handleFinishPasskeyLogin(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[passkeyLoginRequest](r, false)
		var cred []byte
		if err == nil {
			cred, err = httpjson.Credential(in.Credential)
		}
		var tokens *auth.Tokens
		if err == nil {
			tokens, err = d.Auth.Passkeys.LoginPasskey(r.Context(), cred, client(d, r))
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, tokenView(tokens))
	})
}

// handleBeginPasskeyMFA serves POST /login/mfa/passkey/begin {mfa_token}.
// (The second login page's form post is web.SignInPages.PasskeyMFABegin.)
func handleBeginPasskeyMFA(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[passkeyLoginRequest](r, false)
		var opts json.RawMessage
		if err == nil {
			opts, err = d.Auth.Passkeys.BeginPasskeyMFA(r.Context(), in.MFAToken, client(d, r))
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		writeOptions(w, opts)
	})
}

// handleFinishPasskeyMFA serves POST /login/mfa/passkey/finish {mfa_token,
// credential}: the token response. (The second login page's form is
// web.SignInPages.PasskeyMFAForm.)
func handleFinishPasskeyMFA(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[passkeyLoginRequest](r, false)
		var cred []byte
		if err == nil {
			cred, err = httpjson.Credential(in.Credential)
		}
		var tokens *auth.Tokens
		if err == nil {
			tokens, err = d.Auth.Passkeys.LoginMFAPasskey(r.Context(), in.MFAToken, cred, client(d, r))
		}
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, tokenView(tokens))
	})
}
