// Package passkeytest is a software WebAuthn authenticator for tests: ES256
// (P-256) credentials, attestation "none", assertions signed as the
// WebAuthn specification says. authenticatorData is rpIdHash | flags |
// signCount | attestedCredentialData; the signature is over authenticatorData
// | SHA-256(clientDataJSON). Its knobs make it misbehave the ways an
// attacker or a broken or cloned authenticator would.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Authenticator holds credentials for one relying party.
type Authenticator struct {
	RPID   string // the RP ID whose hash it puts in authenticatorData
	Origin string // the origin it writes in clientDataJSON
	// NoUV makes it answer without user verification (flag UV clear).
	NoUV bool
	// Synced makes new credentials backup eligible and backed up.
	Synced bool
	// NextID, when set, is the ID of the next credential made (an attacker
	// claiming another account's credential ID).
	NextID []byte
	Creds  []*Credential
}

// Credential is a key pair the authenticator made.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	UserHandle []byte
	// Counter is the signature counter: each assertion increments it first
	// (set it back to replay an old value, as a clone would). With
	// NoCounter it stays 0 (an authenticator that keeps none).
	Counter   uint32
	NoCounter bool
}

// New is an authenticator for rpID whose client sits at origin.
func New(rpID, origin string) *Authenticator { return &Authenticator{RPID: rpID, Origin: origin} }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		Allow     []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) flags(extra byte) byte {
	f := byte(flagUP) | extra
	if !a.NoUV {
		f |= flagUV
	}
	if a.Synced {
		f |= flagBE | flagBS
	}
	return f
}

// Create answers creation options (the JSON of POST
// /me/passkeys/register/begin) with a new credential: the JSON the finish
// expects. The new credential is kept.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	if o.PublicKey.Challenge == "" {
		return nil, errors.New("passkeytest: no challenge in the creation options")
	}
	user, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeytest: user id: %w", err)
	}
	for _, ex := range o.PublicKey.Exclude {
		for _, c := range a.Creds {
			if ex.ID == b64(c.ID) {
				return nil, errors.New("passkeytest: InvalidStateError: a credential of the exclude list is here")
			}
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	c := &Credential{ID: make([]byte, 32), Key: key, UserHandle: user}
	_, _ = rand.Read(c.ID)
	if a.NextID != nil {
		c.ID, a.NextID = a.NextID, nil
	}
	a.Creds = append(a.Creds, c)

	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := pub.Bytes() // 0x04 | X | Y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return nil, err
	}
	rpHash := sha256.Sum256([]byte(a.RPID))
	auth := append(rpHash[:], a.flags(flagAT))
	auth = binary.BigEndian.AppendUint32(auth, c.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID: none
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(c.ID)))
	auth = append(auth, c.ID...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": auth})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64(c.ID), "rawId": b64(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att), "transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{},
	})
}

// Get answers request options (POST /login/passkey/begin or
// /login/mfa/passkey/begin) with an assertion of the newest credential the
// allow list permits (any, for a discoverable login).
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, err
	}
	var use *Credential
	for _, c := range slices.Backward(a.Creds) {
		if len(o.PublicKey.Allow) == 0 || slices.ContainsFunc(o.PublicKey.Allow, func(d struct {
			ID string `json:"id"`
		}) bool {
			return d.ID == b64(c.ID)
		}) {
			use = c
			break
		}
	}
	if use == nil {
		return nil, errors.New("passkeytest: NotAllowedError: no credential for these options")
	}
	return a.Assert(use, o.PublicKey.Challenge)
}

// Challenge is the challenge of begin's options.
func Challenge(options []byte) string {
	var o requestOptions
	_ = json.Unmarshal(options, &o)
	return o.PublicKey.Challenge
}

// Assert signs an assertion of c for challenge (base64url, as in options).
func (a *Authenticator) Assert(c *Credential, challenge string) ([]byte, error) {
	if !c.NoCounter {
		c.Counter++
	}
	rpHash := sha256.Sum256([]byte(a.RPID))
	auth := append(rpHash[:], a.flags(0))
	auth = binary.BigEndian.AppendUint32(auth, c.Counter)
	cd := a.clientData("webauthn.get", challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(auth), h[:]...)) // ES256 signs the SHA-256 of the data
	sig, err := ecdsa.SignASN1(rand.Reader, c.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64(c.ID), "rawId": b64(c.ID), "type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64(cd), "authenticatorData": b64(auth), "signature": b64(sig),
			"userHandle": b64(c.UserHandle)},
		"clientExtensionResults": map[string]any{},
	})
}
