package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// One hash per scheme, none of the skipped prefix, whatever the number of
// users of each scheme.
func TestPasswordHashSamples(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := context.Background()
	hashes := []string{
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHU$a2V5a2V5a2V5a2V5a2V5a2V6",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"pbkdf2:sha256:600000$saltA$00",
		"pbkdf2:sha256:600000$saltB$01",
		"pbkdf2:sha256:1000$saltC$02",
		"sha256$saltD$03",
	}
	for i, h := range hashes {
		if err := s.CreateUser(ctx, newUser("", "user"+string(rune('a'+i))), h); err != nil {
			t.Fatal(err)
		}
	}
	scheme := func(h string) string { // the part before the salt, as password.Scheme
		if strings.HasPrefix(h, "$") {
			return strings.Join(strings.Split(h, "$")[:4], "$")
		}
		return strings.Split(h, "$")[0]
	}
	got, err := s.PasswordHashSamples(ctx, "$argon2id$v=19$m=64,t=1,p=1$", scheme)
	if err != nil {
		t.Fatal(err)
	}
	var schemes []string
	for _, h := range got {
		schemes = append(schemes, scheme(h))
	}
	slices.Sort(schemes)
	want := []string{"$argon2id$v=19$m=19456,t=2,p=1", "pbkdf2:sha256:1000", "pbkdf2:sha256:600000", "sha256"}
	if !slices.Equal(schemes, want) {
		t.Fatalf("sampled schemes %v, want %v", schemes, want)
	}
}
