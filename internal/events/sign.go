package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com): a message is signed
// with HMAC-SHA256 over "id.timestamp.body", keyed by the base64-decoded
// part of a "whsec_" secret, and sent in the webhook-id, webhook-timestamp
// and webhook-signature headers, the signature as "v1,<base64>". While a
// rotated secret is still honoured, one signature per secret is sent,
// separated by spaces. (No Go library of the specification is served by the
// module proxy this project builds with; this is the specification's HMAC,
// tested against its published example.)

const secretPrefix = "whsec_"

// NewSecret returns a new whsec_ secret of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// SecretKey returns the HMAC key of a whsec_ secret: the base64 after the
// prefix. A secret without the prefix is taken whole as base64, as the
// specification's libraries do.
func SecretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), secretPrefix))
	if err != nil || len(key) < 24 {
		return nil, errors.New("a webhook secret is whsec_ followed by the base64 of at least 24 random bytes")
	}
	return key, nil
}

// Sign is the v1 signature of a message: "v1," and the base64 of the
// HMAC-SHA256 of id.timestamp.body under key.
func Sign(key []byte, id string, timestamp time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SetHeaders sets the Standard Webhooks headers of a request carrying body,
// signed with every key in keys (the current secret first).
func SetHeaders(h http.Header, keys [][]byte, id string, timestamp time.Time, body []byte) {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = Sign(k, id, timestamp, body)
	}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(timestamp.Unix(), 10))
	h.Set("webhook-signature", strings.Join(sigs, " "))
	h.Set("Content-Type", "application/json")
}
