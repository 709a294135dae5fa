package httpjson

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
)

type login struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Price    *int64 `json:"price"`
}

func decodeBody(body, contentType string) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	_, err := Decode[login](r, false)
	return err
}

func TestDecode(t *testing.T) {
	deep := strings.Repeat("[", 30000) + strings.Repeat("]", 30000)
	tests := []struct {
		name, body, contentType, code string
	}{
		{"ok", `{"email":"a@b.c","password":"x","unknown":{"nested":[1,2]}}`, "application/json", ""},
		{"charset parameter", `{"email":"a"}`, "application/json; charset=utf-8", ""},
		{"absurd nesting in a field", `{"email":` + deep + `}`, "application/json", auth.CodeInvalidRequest},
		{"absurd nesting alone", deep, "application/json", auth.CodeInvalidRequest},
		{"trailing value", `{"email":"a"}{"email":"b"}`, "application/json", auth.CodeInvalidRequest},
		{"trailing garbage", `{"email":"a"} x`, "application/json", auth.CodeInvalidRequest},
		{"trailing whitespace is fine", "{\"email\":\"a\"}\n\t ", "application/json", ""},
		{"not an object", `"just a string"`, "application/json", auth.CodeInvalidRequest},
		{"wrong type", `{"price":"12"}`, "application/json", auth.CodeInvalidRequest},
		{"number too big", `{"price":1e400}`, "application/json", auth.CodeInvalidRequest},
		{"empty", ``, "application/json", auth.CodeInvalidRequest},
		{"invalid UTF-8", "{\"email\":\"\xff\"}", "application/json", auth.CodeInvalidRequest},
		{"a name given twice", `{"email":"a@b.c","email":"d@e.f"}`, "application/json", auth.CodeInvalidRequest},
		{"a name given twice in two cases", `{"password":"x","Password":"y"}`, "application/json", auth.CodeInvalidRequest},
		{"a name folded as the decoder folds", `{"password":"x","paſsword":"y"}`, "application/json", auth.CodeInvalidRequest},
		{"a name given twice in a nested object", `{"unknown":{"a":1,"a":2}}`, "application/json", auth.CodeInvalidRequest},
		{"a name given twice in an array's object", `{"unknown":[{"a":1},{"b":[1,{"c":1,"c":2}]}]}`, "application/json", auth.CodeInvalidRequest},
		{"one name in several objects", `{"email":"a","unknown":{"email":"b","x":[{"email":"c"},{"email":"d"}]},"password":"p"}`, "application/json", ""},
		{"text/plain", `{}`, "text/plain", auth.CodeUnsupportedMediaType},
		{"no content type", `{}`, "", auth.CodeUnsupportedMediaType},
		{"malformed content type", `{}`, "application/json; =;", auth.CodeUnsupportedMediaType},
		{"over 64 KiB", `{"email":"` + strings.Repeat("a", MaxBody) + `"}`, "application/json", auth.CodeRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.ErrorCode(decodeBody(tt.body, tt.contentType)); got != tt.code {
				t.Fatalf("code %q, want %q", got, tt.code)
			}
		})
	}
}

// FuzzDecode: whatever the body, Decode answers with a contract error or a
// value, never a panic or an internal error, and accepts only valid JSON.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"email":"a","password":"b"}`, `{"price":12}`, `[]`, `{`, `{"a":1}{}`, `null`, `{"price":-1.5e3}`, "\xef\xbb\xbf{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		err := decodeBody(body, "application/json")
		switch auth.ErrorCode(err) {
		case "":
			if !json.Valid([]byte(strings.TrimSpace(body))) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
		case auth.CodeInvalidRequest, auth.CodeRequestTooLarge:
		default:
			t.Fatalf("body %q: unexpected error %v", body, err)
		}
	})
}

// The allocation-free reading of flat bodies finds what the decoder's
// tokens find, whenever it reads the body at all.
func FuzzRepeatedFlatName(f *testing.F) {
	for _, s := range []string{`{"refresh_token":"abc"}`, `{"a":1,"A":2}`, `{"a":"x\"y","b":true,"a":null}`, ` { } `,
		`{"email":"a","password":"b","name":"c"}`, `{"a":{"a":1}}`, `{"\u0061":1,"a":2}`, `{"k":1,"K":2}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fast, ok := repeatedFlatName([]byte(body))
		if !ok || !json.Valid([]byte(body)) {
			return
		}
		if slow := repeatedNameOfTokens([]byte(body)); fast != slow {
			t.Fatalf("%q: flat reading found %q, the tokens %q", body, fast, slow)
		}
	})
}

func BenchmarkDecodeOneField(b *testing.B) {
	body := `{"refresh_token":"0190a0a0-0000-7000-8000-00000000beef.dGhpcyBpcyBhIHNlY3JldCBvZiB0aGUgcmVmcmVzaA"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if _, err := Decode[struct {
			RefreshToken string `json:"refresh_token"`
		}](r, false); err != nil {
			b.Fatal(err)
		}
	}
}
