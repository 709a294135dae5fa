package httpapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// Second factors over JSON: thin adapters over auth.Factors (auth/factors.go).
// The pages' side is in internal/web.

// mfaRequiredJSON is the 401 answer of a right password when a second
// factor is needed: the contract's error with the mfa_token and methods.
type mfaRequiredJSON struct {
	Error    string   `json:"error"`
	Message  string   `json:"message"`
	MFAToken string   `json:"mfa_token"`
	Methods  []string `json:"methods"`
}

// writeLoginError answers a failed login, or a login that needs its second
// step (401 mfa_required with the mfa_token), as JSON.
func writeLoginError(d Deps, w http.ResponseWriter, r *http.Request, err error) {
	var mr *auth.MFARequired
	if !errors.As(err, &mr) {
		httpjson.Error(w, r, d.Log, err)
		return
	}
	status, code, message := httpjson.Prepare(w, r, d.Log, err) // 401 with WWW-Authenticate
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, status, mfaRequiredJSON{Error: code, Message: message, MFAToken: mr.Token, Methods: mr.Methods})
}

type mfaLoginRequest struct {
	MFAToken     string `json:"mfa_token"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// handleLoginMFA serves POST /login/mfa: the second step of a login, as
// JSON (the token response). (The second login page's form is web's.)
func handleLoginMFA(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[mfaLoginRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		tokens, err := d.Auth.Sessions.LoginMFA(r.Context(), auth.MFALoginInput{Token: in.MFAToken, Code: in.Code,
			RecoveryCode: in.RecoveryCode, Client: client(d, r)})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, tokenView(tokens))
	})
}

type totpEnrolmentJSON struct {
	Secret     string `json:"secret"`
	OtpauthURI string `json:"otpauth_uri"`
	QRSVG      string `json:"qr_svg"`
}

// handleEnrolTOTP serves POST /me/mfa/totp (a recent login is needed).
func handleEnrolTOTP(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		en, err := d.Auth.Factors.EnrolTOTP(r.Context(), c.Subject, c.SessionID)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, totpEnrolmentJSON{Secret: en.Secret, OtpauthURI: en.URI, QRSVG: en.QRSVG})
	})
}

type codeRequest struct {
	Code string `json:"code"`
}

type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// handleConfirmTOTP serves POST /me/mfa/totp/confirm {code}: the first
// recovery codes, shown this once.
func handleConfirmTOTP(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[codeRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		codes, err := d.Auth.Factors.ConfirmTOTP(r.Context(), claimsOf(r).Subject, claimsOf(r).SessionID, in.Code, client(d, r))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, recoveryCodesJSON{codes})
	})
}

// handleRemoveTOTP serves DELETE /me/mfa/totp (a recent login is needed).
func handleRemoveTOTP(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		if err := d.Auth.Factors.RemoveTOTP(r.Context(), c.Subject, c.SessionID); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleNewRecoveryCodes serves POST /me/mfa/recovery-codes (a recent
// login is needed): a new set, the old one void.
func handleNewRecoveryCodes(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := claimsOf(r)
		codes, err := d.Auth.Factors.NewRecoveryCodes(r.Context(), c.Subject, c.SessionID)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, recoveryCodesJSON{codes})
	})
}

type reauthRequest struct {
	Password     string `json:"password"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// handleReauthenticate serves POST /me/reauthenticate {password | code |
// recovery_code}: the session's auth_time is renewed and it goes on with
// new tokens (and new cookies if it used cookies).
func handleReauthenticate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[reauthRequest](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		c := claimsOf(r)
		tokens, err := d.Auth.Sessions.Reauthenticate(r.Context(), auth.ReauthInput{UserID: c.Subject, SessionID: c.SessionID,
			Password: in.Password, Code: in.Code, RecoveryCode: in.RecoveryCode, Client: client(d, r)})
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		writeRenewedTokens(w, r, tokens)
	})
}

// handleResetMFA serves DELETE /users/{id}/mfa (admin): every factor of the
// user removed, its sessions ended, the user mailed.
func handleResetMFA(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Auth.Factors.ResetMFA(r.Context(), claimsOf(r).Subject, r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
