package httpapi_test

import (
	"strings"
	"testing"
)

// Anyone can make Gatehouse mail any address (sign-up
// with it, or ask to change one's address to it). Those mails must not carry
// text the requester chose, such as the display name ("Hello <name>,"): a
// name like "Ann. Your account is locked: https://evil.example/unlock" would
// otherwise be a phishing line in a genuine mail from the product, above its
// real link, to someone who never asked for anything.
func TestMailsToUnprovenAddressesCarryNoChosenText(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noRecoveryLimits)
	const bait = "Your account is locked, see https://evil.example/unlock"
	h.mails(t) // drain
	if w := h.do(req{method: "POST", path: "/register", body: `{"name":"` + bait + `","email":"victim@example.org","password":"a fine long password"}`}); w.Code != 201 {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "PATCH", path: "/me", as: "ann", body: `{"name":"` + bait + `"}`}); w.Code != 200 {
		t.Fatalf("rename: %d %s", w.Code, w.Body)
	}
	if w := h.do(req{method: "POST", path: "/me/email", as: "ann", body: `{"email":"victim2@example.org","password":"` + annPassword + `"}`}); w.Code != 202 {
		t.Fatalf("change request: %d %s", w.Code, w.Body)
	}
	n := 0
	for _, m := range h.mails(t) {
		if m.To != "victim@example.org" && m.To != "victim2@example.org" {
			continue
		}
		n++
		if strings.Contains(m.Text+m.HTML+m.Subject, "evil.example") {
			t.Errorf("mail to %s (%q) carries the requester's text:\n%s", m.To, m.Subject, m.Text)
		}
	}
	if n != 2 {
		t.Fatalf("%d mails to the two addresses, want 2", n)
	}
}
