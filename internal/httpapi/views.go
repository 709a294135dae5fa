package httpapi

import (
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

// userJSON is the contract's user object. It is built field by field from
// auth.User, which holds no password material to leak in the first place.
type userJSON struct {
	ID        string    `json:"id"`
	Email     *string   `json:"email"`
	Username  *string   `json:"username"`
	Name      *string   `json:"name"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// EmailVerified is false for an account without an address.
	EmailVerified bool    `json:"email_verified"`
	MFA           mfaJSON `json:"mfa"`
}

// mfaJSON is the user object's "mfa": the second factors the user has.
type mfaJSON struct {
	TOTP     bool `json:"totp"`
	Passkeys int  `json:"passkeys"`
}

// userResponse is {"user": {...}}.
type userResponse struct {
	User userJSON `json:"user"`
}

func userView(u auth.User) userJSON {
	return userJSON{ID: u.ID, Email: nullable(u.Email), Username: nullable(u.Username), Name: nullable(u.Name),
		Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt, EmailVerified: u.EmailVerified,
		MFA: mfaJSON{TOTP: u.MFA.TOTP, Passkeys: u.MFA.Passkeys}}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type tokenJSON struct {
	AccessToken      string   `json:"access_token"`
	TokenType        string   `json:"token_type"`
	ExpiresIn        int64    `json:"expires_in"`
	RefreshToken     string   `json:"refresh_token"`
	RefreshExpiresIn int64    `json:"refresh_expires_in"`
	User             userJSON `json:"user"`
}

func tokenView(t *auth.Tokens) tokenJSON {
	return tokenJSON{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int64(t.ExpiresIn.Seconds()),
		RefreshToken: t.RefreshToken, RefreshExpiresIn: int64(t.RefreshExpiresIn.Seconds()), User: userView(t.User)}
}
