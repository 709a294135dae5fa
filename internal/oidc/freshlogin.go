package oidc

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// FreshLoginTTL is how long the note that an authorization request asked
// for a fresh sign-in holds: a sign-in made, or a consent given, later than
// that goes back to the login page.
const FreshLoginTTL = 10 * time.Minute

// freshLoginNote is the login_after value of an authorization request that
// asked, at, for a fresh sign-in: the time, sealed with the master key for
// the signed-in user, the client, the redirect URI and the state, so that a
// request can neither write one nor borrow another user's or request's.
func (s *Service) freshLoginNote(userID, clientID, redirectURI, state string, at time.Time) (string, error) {
	if s.sealer == nil {
		return "", errors.New("oidc: no master key to seal the fresh sign-in note with")
	}
	sealed, err := s.sealer.Seal(binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli())),
		freshLoginAAD(userID, clientID, redirectURI, state))
	if err != nil {
		return "", fmt.Errorf("seal the fresh sign-in note: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// freshLoginAsked is when the note says a fresh sign-in was asked for: zero
// unless the server sealed it for this user, client, redirect URI and state
// within FreshLoginTTL of now.
func (s *Service) freshLoginAsked(note, userID, clientID, redirectURI, state string, now time.Time) time.Time {
	if note == "" || len(note) > 256 || s.sealer == nil {
		return time.Time{}
	}
	sealed, err := base64.RawURLEncoding.DecodeString(note)
	if err != nil {
		return time.Time{}
	}
	plain, err := s.sealer.Open(sealed, freshLoginAAD(userID, clientID, redirectURI, state))
	if err != nil || len(plain) != 8 {
		return time.Time{}
	}
	at := time.UnixMilli(int64(binary.BigEndian.Uint64(plain))).UTC()
	if at.After(now) || now.Sub(at) > FreshLoginTTL {
		return time.Time{}
	}
	return at
}

// freshLoginAAD binds a note to its request: each part length-prefixed, so
// that no two requests give the same bytes.
func freshLoginAAD(parts ...string) []byte {
	aad := []byte("gatehouse oidc login_after\x00")
	for _, p := range parts {
		aad = binary.AppendUvarint(aad, uint64(len(p)))
		aad = append(aad, p...)
	}
	return aad
}
