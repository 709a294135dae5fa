package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func hasCookie(w *httptest.ResponseRecorder, name string, cleared bool) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == name && c.Secure && c.Path == "/" && (c.MaxAge < 0) == cleared && (cleared || c.Value != "") {
			return true
		}
	}
	return false
}

func TestRegister(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "json", req: req{method: "POST", path: "/register", body: `{"email":" Cy@Example.com ","name":"Cy","password":"a fine long password"}`},
			status: 201, check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				m := decode(t, w)
				if field(m, "user", "email") != "cy@example.com" || field(m, "user", "role") != "user" ||
					field(m, "user", "username") != nil || field(m, "user", "id") == nil || field(m, "user", "created_at") == nil {
					t.Fatalf("user = %v", m)
				}
			}},
		{name: "username only (seed 003)", req: req{method: "POST", path: "/register", body: `{"username":"Romel","password":"pass1425 is longer"}`}, status: 201},
		{name: "seed 003's own password is too common", req: req{method: "POST", path: "/register", body: `{"username":"Romel","password":"pass1425"}`}, status: 400, code: "weak_password"},
		{name: "seed alias /signup", req: req{method: "POST", path: "/signup", body: `{"email":"cy@example.com","password":"a fine long password"}`}, status: 201},
		{name: "privileged fields ignored", req: req{method: "POST", path: "/register",
			body: `{"email":"cy@example.com","password":"a fine long password","role":"admin","admin":true,"is_admin":true,"id":"00000000-0000-0000-0000-000000000000","unknown":1}`},
			status: 201, check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				m := decode(t, w)
				if field(m, "user", "role") != "user" || field(m, "user", "id") == "00000000-0000-0000-0000-000000000000" {
					t.Fatalf("mass assignment honoured: %v", m)
				}
			}},
		{name: "taken email in other case", req: req{method: "POST", path: "/register", body: `{"email":"ANN@example.com","password":"a fine long password"}`}, status: 409, code: "already_exists"},
		{name: "taken username", req: req{method: "POST", path: "/register", body: `{"username":"BOB","password":"a fine long password"}`}, status: 409, code: "already_exists"},
		{name: "weak password", req: req{method: "POST", path: "/register", body: `{"email":"cy@example.com","password":"short"}`}, status: 400, code: "weak_password"},
		{name: "common password", req: req{method: "POST", path: "/register", body: `{"email":"cy@example.com","password":"password123"}`}, status: 400, code: "weak_password"},
		{name: "password over 1024 bytes", req: req{method: "POST", path: "/register", body: `{"email":"cy@example.com","password":"` + strings.Repeat("é", 600) + `"}`}, status: 400, code: "weak_password"},
		{name: "no email or username", req: req{method: "POST", path: "/register", body: `{"name":"Cy","password":"a fine long password"}`}, status: 400, code: "invalid_request"},
		{name: "bad email", req: req{method: "POST", path: "/register", body: `{"email":"cy@","password":"a fine long password"}`}, status: 400, code: "invalid_request"},
		{name: "IP-literal email", req: req{method: "POST", path: "/register", body: `{"email":"cy@[127.0.0.1]","password":"a fine long password"}`}, status: 400, code: "invalid_request"},
		{name: "email with %", req: req{method: "POST", path: "/register", body: `{"email":"cy%evil.example@example.com","password":"a fine long password"}`}, status: 400, code: "invalid_request"},
		{name: "malformed JSON", req: req{method: "POST", path: "/register", body: `{"email":`}, status: 400, code: "invalid_request"},
		{name: "wrong type", req: req{method: "POST", path: "/register", body: `{"email":42,"password":"a fine long password"}`}, status: 400, code: "invalid_request"},
		{name: "trailing data", req: req{method: "POST", path: "/register", body: `{"email":"cy@example.com","password":"a fine long password"} {}`}, status: 400, code: "invalid_request"},
		{name: "empty body", req: req{method: "POST", path: "/register", headers: map[string]string{"Content-Type": "application/json"}}, status: 400, code: "invalid_request"},
		{name: "wrong media type", req: req{method: "POST", path: "/register", body: `{}`, contentType: "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "too large", req: req{method: "POST", path: "/register", body: `{"name":"` + strings.Repeat("x", 70<<10) + `"}`}, status: 413, code: "request_too_large"},
		{name: "form redirects to login", req: req{method: "POST", path: "/register", contentType: "application/x-www-form-urlencoded",
			body: "email=cy%40example.com&name=Cy&password=a+fine+long+password"}, status: 303,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Location") != "/login?registered=1" {
					t.Fatalf("Location %q", w.Header().Get("Location"))
				}
			}},
		{name: "form error re-renders the page", req: req{method: "POST", path: "/signup", contentType: "application/x-www-form-urlencoded",
			body: "email=ann%40example.com&name=%3Cb%3EAnn%3C%2Fb%3E&password=a+fine+long+password"}, status: 409,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				b := w.Body.String()
				if !strings.Contains(b, "already exists") || strings.Contains(b, "<b>Ann</b>") || !strings.Contains(b, "&lt;b&gt;Ann&lt;/b&gt;") {
					t.Fatalf("page does not show the escaped error: %s", b)
				}
			}},
		{name: "cross-site form refused", req: req{method: "POST", path: "/signup", contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, body: "email=cy%40example.com&password=a+fine+long+password"}, status: 403},
		{name: "GET not allowed", req: req{method: "GET", path: "/register"}, status: 405, code: "method_not_allowed",
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Allow") != "POST" {
					t.Fatalf("Allow %q", w.Header().Get("Allow"))
				}
			}},
	})
}

func TestRegisterConcurrentCaseVariants(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "Race@Example.com"
			switch i % 3 {
			case 1:
				email = "race@example.com"
			case 2:
				email = "RACE@EXAMPLE.COM"
			}
			codes <- h.do(req{method: "POST", path: "/register", body: fmt.Sprintf(`{"email":%q,"password":"a fine long password"}`, email)}).Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != 49 {
		t.Fatalf("status counts %v, want one 201 and 49 409", count)
	}
}

func basic(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	tokenResponse := func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
		m := decode(t, w)
		if m["token_type"] != "Bearer" || m["expires_in"] != 900.0 || m["refresh_expires_in"] != 2592000.0 ||
			m["access_token"] == nil || len(m["refresh_token"].(string)) < 43 || field(m, "user", "email") != "ann@example.com" {
			t.Fatalf("token response = %v", m)
		}
		if _, err := h.app.Guard.Verify(m["access_token"].(string)); err != nil {
			t.Fatalf("issued access token does not verify: %v", err)
		}
	}
	const badCreds = `{"error":"invalid_credentials","message":"The credentials are not valid."}` + "\n"
	sameAsUnknown := func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
		if w.Body.String() != badCreds {
			t.Fatalf("body %q differs from the unknown-user answer", w.Body)
		}
	}
	runScenarios(t, []scenario{
		{name: "json email", req: req{method: "POST", path: "/login", body: `{"email":"ANN@example.com","password":"` + annPassword + `"}`}, status: 200, check: tokenResponse},
		{name: "json username", req: req{method: "POST", path: "/login", body: `{"username":"Ann","password":"` + annPassword + `"}`}, status: 200, check: tokenResponse},
		{name: "json identifier", req: req{method: "POST", path: "/login", body: `{"identifier":"ann","password":"` + annPassword + `"}`}, status: 200, check: tokenResponse},
		{name: "seed alias /set-jwt", req: req{method: "POST", path: "/set-jwt", body: `{"username":"ann","password":"` + annPassword + `"}`}, status: 200, check: tokenResponse},
		{name: "basic (seed 002)", req: req{method: "POST", path: "/login", headers: basic("ann", annPassword)}, status: 200, check: tokenResponse},
		{name: "form sets cookies and redirects", req: req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
			body: "email=ann%40example.com&password=" + strings.ReplaceAll(annPassword, " ", "+")}, status: 303,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Location") != "/dashboard" {
					t.Fatalf("Location %q", w.Header().Get("Location"))
				}
				for _, c := range []string{"__Host-access", "__Host-refresh", "__Host-csrf"} {
					if !hasCookie(w, c, false) {
						t.Fatalf("cookie %s missing or not Secure/Path=/: %v", c, w.Header().Values("Set-Cookie"))
					}
				}
				for _, c := range w.Result().Cookies() {
					if (c.Name != "__Host-csrf") != c.HttpOnly || c.SameSite != 2 /* Lax */ {
						t.Fatalf("cookie %s flags wrong: %+v", c.Name, c)
					}
				}
			}},
		{name: "form follows a same-site next", req: req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
			body: "identifier=ann&next=%2Fbooks%3Fx%3D1&password=" + strings.ReplaceAll(annPassword, " ", "+")}, status: 303,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Location") != "/books?x=1" {
					t.Fatalf("Location %q", w.Header().Get("Location"))
				}
			}},
		{name: "form ignores an off-site next", req: req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
			body: "identifier=ann&next=%2F%2Fevil.example&password=" + strings.ReplaceAll(annPassword, " ", "+")}, status: 303,
			check: func(t *testing.T, h *harness, w *httptest.ResponseRecorder) {
				if w.Header().Get("Location") != "/dashboard" {
					t.Fatalf("Location %q", w.Header().Get("Location"))
				}
			}},
		{name: "form with wrong CSRF token", req: req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"Cookie": "__Host-csrf=abcdefabcdefabcdef"},
			body:    "identifier=ann&csrf_token=other&password=" + strings.ReplaceAll(annPassword, " ", "+")}, status: 403},
		{name: "cross-origin form refused", req: req{method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded",
			headers: map[string]string{"Origin": "https://evil.example"},
			body:    "identifier=ann&password=" + strings.ReplaceAll(annPassword, " ", "+")}, status: 403},
		{name: "unknown user", req: req{method: "POST", path: "/login", body: `{"email":"nobody@example.com","password":"whatever it is"}`}, status: 401, code: "invalid_credentials", check: sameAsUnknown},
		{name: "wrong password", req: req{method: "POST", path: "/login", body: `{"email":"ann@example.com","password":"not ann's password"}`}, status: 401, code: "invalid_credentials", check: sameAsUnknown},
		{name: "wrong password basic", req: req{method: "POST", path: "/login", headers: basic("ann", "nope nope")}, status: 401, code: "invalid_credentials", check: sameAsUnknown},
		{name: "missing password", req: req{method: "POST", path: "/login", body: `{"email":"ann@example.com"}`}, status: 401, code: "invalid_credentials", check: sameAsUnknown},
		{name: "basic without colon", req: req{method: "POST", path: "/login", headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ann"))}}, status: 400, code: "invalid_request"},
		{name: "basic not base64", req: req{method: "POST", path: "/login", headers: map[string]string{"Authorization": "Basic %%%"}}, status: 400, code: "invalid_request"},
		{name: "basic empty user", req: req{method: "POST", path: "/login", headers: basic("", "pw")}, status: 400, code: "invalid_request"},
		{name: "basic not UTF-8", req: req{method: "POST", path: "/login", headers: basic("\xff\xfe", "pw")}, status: 400, code: "invalid_request"},
		{name: "basic huge", req: req{method: "POST", path: "/login", headers: basic(strings.Repeat("a", 5000), "pw")}, status: 400, code: "invalid_request"},
		{name: "no credentials at all", req: req{method: "POST", path: "/login"}, status: 415, code: "unsupported_media_type"},
		{name: "GET is the page, PUT is not allowed", req: req{method: "PUT", path: "/login"}, status: 405, code: "method_not_allowed"},
	})
}

func TestLoginDisabledAccountLooksLikeWrongPassword(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(req{method: "PATCH", path: "/users/" + h.users["bob"].ID, as: "admin", body: `{"disabled":true}`})
	w := h.do(req{method: "POST", path: "/login", body: `{"email":"bob@example.com","password":"` + bobPassword + `"}`})
	if w.Code != 401 || errorCode(w) != "invalid_credentials" {
		t.Fatalf("disabled login: %d %s", w.Code, w.Body)
	}
}
