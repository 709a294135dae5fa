package auth

// HashTokenForTest is how stored tokens (mfa_tokens, refresh tokens) are hashed.
var HashTokenForTest = hashToken
