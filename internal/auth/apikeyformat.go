package auth

import (
	"crypto/rand"
	"hash/crc32"
	"strings"
)

// The API key format (API.md, "Machine identities"): "gh_pat_", 32 random
// base62 characters (about 190 bits), and the CRC32 (IEEE) of those 32
// characters in base62, zero-padded to 6. The checksum lets a secret
// scanner, guard and this server tell a real key from a typo or a guess
// without a database: a key whose checksum is wrong is refused before any
// read.
const (
	APIKeyPrefix    = "gh_pat_"
	apiKeyRandomLen = 32
	apiKeyCRCLen    = 6
	// APIKeyLen is the length of every key.
	APIKeyLen = len(APIKeyPrefix) + apiKeyRandomLen + apiKeyCRCLen
	// apiKeyShownLen is how much of a key lists show (its prefix field).
	apiKeyShownLen = len(APIKeyPrefix) + 4
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewAPIKey returns a fresh random key in the format above.
func NewAPIKey() string {
	var b strings.Builder
	b.Grow(APIKeyLen)
	b.WriteString(APIKeyPrefix)
	random := make([]byte, 0, apiKeyRandomLen)
	buf := make([]byte, 64)
	for len(random) < apiKeyRandomLen {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
		for _, c := range buf {
			// 248 = 4 × 62: dropping 248..255 keeps every character equally likely.
			if c < 248 && len(random) < apiKeyRandomLen {
				random = append(random, base62[c%62])
			}
		}
	}
	b.Write(random)
	b.WriteString(apiKeyChecksum(string(random)))
	return b.String()
}

// apiKeyChecksum is the CRC32 (IEEE) of s in base62, zero-padded to 6.
func apiKeyChecksum(s string) string {
	n := crc32.ChecksumIEEE([]byte(s))
	var out [apiKeyCRCLen]byte
	for i := apiKeyCRCLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out[:])
}

// IsAPIKey reports whether s has the form of an API key: the prefix, 38
// base62 characters, and a checksum that matches. It reads nothing but s.
func IsAPIKey(s string) bool {
	if len(s) != APIKeyLen || !strings.HasPrefix(s, APIKeyPrefix) {
		return false
	}
	body := s[len(APIKeyPrefix):]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62, body[i]) < 0 {
			return false
		}
	}
	return apiKeyChecksum(body[:apiKeyRandomLen]) == body[apiKeyRandomLen:]
}

// LooksLikeAPIKey reports whether a bearer token is meant as an API key (it
// has the prefix), right or wrong: such a token is never a JWT.
func LooksLikeAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }
