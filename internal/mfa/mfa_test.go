package mfa

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
)

// rfcSecret is RFC 6238 appendix B's SHA-1 seed, "12345678901234567890", in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestRFC6238Vectors: the codes of appendix B (there 8 digits; authenticator
// apps show the last 6, which is what the same truncation gives at 6).
func TestRFC6238Vectors(t *testing.T) {
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "287082"},          // 94287082
		{1111111109, "081804"},  // 07081804
		{1111111111, "050471"},  // 14050471
		{1234567890, "005924"},  // 89005924
		{2000000000, "279037"},  // 69279037
		{20000000000, "353130"}, // 65353130
	} {
		now := time.Unix(v.unix, 0)
		got, err := CodeAt(rfcSecret, Step(now))
		if err != nil || got != v.code {
			t.Errorf("T=%d: code %q (%v), want %q", v.unix, got, err, v.code)
		}
		step, ok := Match(rfcSecret, v.code, now, -1)
		if !ok || step != Step(now) {
			t.Errorf("T=%d: Match = %d, %t; want step %d", v.unix, step, ok, Step(now))
		}
	}
}

// TestMatchWindow: a code matches its own step and one step of drift either
// way, reports which step it matched, and never a step at or before after.
func TestMatchWindow(t *testing.T) {
	now := time.Unix(1_700_000_015, 0) // mid-step
	cur := Step(now)
	code := func(step int64) string {
		c, err := CodeAt(rfcSecret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		code  string
		after int64
		want  int64
		ok    bool
	}{
		{"current step", code(cur), 0, cur, true},
		{"one step behind (clock drift)", code(cur - 1), 0, cur - 1, true},
		{"one step ahead (clock drift)", code(cur + 1), 0, cur + 1, true},
		{"two steps behind", code(cur - 2), 0, 0, false},
		{"two steps ahead", code(cur + 2), 0, 0, false},
		{"replay of the step last used", code(cur), cur, 0, false},
		{"older than the step last used", code(cur - 1), cur, 0, false},
		{"newer than the step last used", code(cur + 1), cur, cur + 1, true},
		{"spaces typed in", code(cur)[:3] + " " + code(cur)[3:], 0, cur, true},
		{"five digits", code(cur)[:5], 0, 0, false},
		{"seven digits", code(cur) + "1", 0, 0, false},
		{"letters", "12a456", 0, 0, false},
		{"empty", "", 0, 0, false},
		{"unicode digits", "１２３４５６", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := Match(rfcSecret, tc.code, now, tc.after)
			if ok != tc.ok || step != tc.want {
				t.Fatalf("Match(%q, after %d) = %d, %t; want %d, %t", tc.code, tc.after, step, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestNewTOTP(t *testing.T) {
	k, err := NewTOTP("ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != 32 { // 20 bytes in base32
		t.Fatalf("secret %q", k.Secret)
	}
	u, err := url.Parse(k.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Gatehouse:ann@example.com" {
		t.Fatalf("uri %q", k.URI)
	}
	q := u.Query()
	if q.Get("secret") != k.Secret || q.Get("issuer") != "Gatehouse" || q.Get("period") != "30" || q.Get("digits") != "6" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("uri query %v", q)
	}
	again, err := KeyFor("ann@example.com", k.Secret)
	if err != nil || again != k {
		t.Fatalf("KeyFor gives %+v (%v), want %+v", again, err, k)
	}
	other, _ := NewTOTP("ann@example.com")
	if other.Secret == k.Secret {
		t.Fatal("two secrets are equal")
	}
	code, _ := CodeAt(k.Secret, Step(time.Now()))
	if _, ok := Match(k.Secret, code, time.Now(), 0); !ok {
		t.Fatal("a fresh secret's own code does not match")
	}
	if _, err := NewTOTP(" "); err == nil {
		t.Fatal("an empty account name was accepted")
	}
}

// TestQRSVG: the SVG draws exactly the dark modules of the QR matrix of
// the content, inside a four-module quiet zone.
func TestQRSVG(t *testing.T) {
	const uri = "otpauth://totp/Gatehouse:ann@example.com?algorithm=SHA1&digits=6&issuer=Gatehouse&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	svg, err := QRSVG(uri)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := qr.Encode(uri, qr.M, qr.Auto)
	if code.Content() != uri {
		t.Fatalf("encoded %q", code.Content())
	}
	n := code.Bounds().Dx()
	if !strings.HasPrefix(svg, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `) || !strings.Contains(svg, `viewBox="0 0 `+strconv.Itoa(n+8)+` `+strconv.Itoa(n+8)+`"`) {
		t.Fatalf("svg header: %.200s", svg)
	}
	dark := map[[2]int]bool{}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if r, _, _, _ := code.At(x, y).RGBA(); r == 0 {
				dark[[2]int{x + 4, y + 4}] = true
			}
		}
	}
	drawn := regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`).FindAllStringSubmatch(svg, -1)
	if len(drawn) != len(dark) || len(dark) == 0 {
		t.Fatalf("%d squares drawn, %d dark modules", len(drawn), len(dark))
	}
	for _, m := range drawn {
		if !dark[[2]int{mustAtoi(t, m[1]), mustAtoi(t, m[2])}] {
			t.Fatalf("square %s,%s is not a dark module", m[1], m[2])
		}
	}
	if strings.Contains(svg, "<script") || strings.Contains(svg, "href") {
		t.Fatal("the svg holds a script or a link")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := NewRecoveryCodes()
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	shape := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("code %q (set %v)", c, codes)
		}
		seen[c] = true
		h := HashRecoveryCode(c)
		if len(h) != 64 || strings.Contains(h, strings.ReplaceAll(c, "-", "")) {
			t.Fatalf("hash %q", h)
		}
		for _, typed := range []string{strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), strings.ReplaceAll(c, "-", " "), " " + c + " "} {
			if HashRecoveryCode(typed) != h {
				t.Fatalf("%q hashes differently from %q", typed, c)
			}
		}
	}
	for _, bad := range []string{"", "abcd", "abcd-efgh-ijkl-mno1", "abcd-efgh-ijkl-mnop-q", strings.Repeat("a", 100)} {
		if HashRecoveryCode(bad) != "" {
			t.Errorf("%q hashed", bad)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
