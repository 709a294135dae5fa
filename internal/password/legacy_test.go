package password

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Vectors computed with Python's hashlib and hmac exactly as werkzeug's
// generate_password_hash does (salt used as its UTF-8 text), password
// "correct horse" unless noted.
const (
	werkzeugPBKDF2  = "pbkdf2:sha256:600000$ZkQ8XyWm3pLq0aBc$f40640cc53a69838ffe2cdc9e8c70e2fcb513245ef34fae4e90b6e89db1e54f0"
	werkzeugPBKDF2b = "pbkdf2:sha512:1000$ZkQ8XyWm3pLq0aBc$08f1eb6302e379c83f40530431e1a8a51ed7c62a905bac925b352b8c4a0b8f7d2a71ed6c0e13557ff60cd9b25bf5669dabc79e651498a63859391c954f523562"
	werkzeugScrypt  = "scrypt:32768:8:1$ZkQ8XyWm3pLq0aBc$f5cdbe3436e8bd005c767ad9899256e67c43d7929e144fe52bfa83da569e07f25a6d42baa5a2bb3291ae451acbda15015558fbfcaee4b5f57628fc0331c09060"
	werkzeugHMAC    = "sha256$ZkQ8XyWm3pLq0aBc$f94c16699e28c2539bcca91bfc591c58654314e4540486868378366469332dc7"
	werkzeugUnicode = "pbkdf2:sha256:1000$ZkQ8XyWm3pLq0aBc$b1d4f7620d6b2fb595070b7c634b700168a655593240c3fb03c852f6e11f5272" // "pässwörd ✓"
)

func TestLegacyHashes(t *testing.T) {
	h, _ := NewHasher(Options{Params: fastParams})
	bc, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	long := strings.Repeat("a", 72)
	bcLong, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	tests := []struct {
		name, encoded, password string
		ok, malformed           bool
	}{
		{"werkzeug pbkdf2 sha256", werkzeugPBKDF2, "correct horse", true, false},
		{"werkzeug pbkdf2 wrong password", werkzeugPBKDF2, "correct horsE", false, false},
		{"werkzeug pbkdf2 sha512", werkzeugPBKDF2b, "correct horse", true, false},
		{"werkzeug pbkdf2 unicode password", werkzeugUnicode, "pässwörd ✓", true, false},
		{"werkzeug scrypt", werkzeugScrypt, "correct horse", true, false},
		{"werkzeug scrypt wrong password", werkzeugScrypt, "wrong", false, false},
		{"werkzeug legacy hmac sha256", werkzeugHMAC, "correct horse", true, false},
		{"werkzeug legacy hmac wrong", werkzeugHMAC, "correct horses", false, false},
		{"bcrypt", string(bc), "correct horse", true, false},
		{"bcrypt $2y$", "$2y$" + string(bc)[4:], "correct horse", true, false},
		{"bcrypt wrong", string(bc), "correct", false, false},
		{"bcrypt 72 bytes", string(bcLong), long, true, false},
		{"bcrypt over 72 bytes is refused, not truncated", string(bcLong), long + "anything", false, false},
		{"pbkdf2 absurd iterations", "pbkdf2:sha256:99999999999$salt$" + strings.Repeat("ab", 32), "x", false, true},
		{"pbkdf2 unknown hash", "pbkdf2:md5:1000$salt$" + strings.Repeat("ab", 32), "x", false, true},
		{"pbkdf2 without iterations", "pbkdf2:sha256$salt$" + strings.Repeat("ab", 32), "x", false, true},
		{"scrypt absurd memory", "scrypt:1048576:32:16$salt$" + strings.Repeat("ab", 64), "x", false, true},
		{"bcrypt absurd cost", "$2b$31$" + strings.Repeat("a", 53), "x", false, true},
		{"not hex", "sha256$salt$zz", "x", false, true},
		{"empty salt", "sha256$$" + strings.Repeat("ab", 32), "x", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.malformed && !Recognized(tt.encoded) {
				t.Fatalf("%q not recognised", tt.encoded)
			}
			ok, rehash, err := h.Verify(context.Background(), tt.password, tt.encoded)
			if ok != tt.ok || (err != nil) != tt.malformed {
				t.Fatalf("Verify = %v, %v; want ok=%v malformed=%v", ok, err, tt.ok, tt.malformed)
			}
			if tt.ok && !rehash {
				t.Fatal("a legacy hash did not ask for a rehash")
			}
		})
	}
	if Recognized("md5$x$y") || Recognized("plain") {
		t.Fatal("unknown formats recognised")
	}
}
