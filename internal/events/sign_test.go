package events_test

import (
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/events"
)

// The example of the Standard Webhooks specification.
func TestSignMatchesTheSpecificationExample(t *testing.T) {
	t.Parallel()
	key, err := events.SecretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := events.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
}

func TestSecretKeyRefusesWhatIsNotASecret(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "whsec_", "whsec_!!!!", "whsec_c2hvcnQ="} {
		if _, err := events.SecretKey(s); err == nil {
			t.Errorf("SecretKey(%q) accepted", s)
		}
	}
	if _, err := events.SecretKey(events.NewSecret()); err != nil {
		t.Fatalf("a new secret: %v", err)
	}
}
