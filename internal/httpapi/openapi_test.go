package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// contract is openapi.yaml, loaded once, with a router to find a request's
// operation in it.
var contract = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(gatehouse.OpenAPI)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "application/yaml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	openapi3filter.RegisterBodyDecoder("application/jwk-set+json", openapi3filter.JSONBodyDecoder)
	return legacy.NewRouter(doc)
})

// checkContract fails t when a response does not match openapi.yaml.
func checkContract(t testing.TB, r *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	if err := validateContract(r, w.Code, w.Header(), w.Body.Bytes()); err != nil {
		t.Fatalf("%s %s → %d does not match openapi.yaml: %v\nbody: %.300s", r.Method, r.URL.Path, w.Code, err, w.Body)
	}
}

// validateContract checks a response against the operation openapi.yaml
// declares for its request: its status must be listed, and its body must
// match the schema for its content type. Requests the document has no
// operation for (unknown paths, wrong methods) pass here; harness.do checks
// their error shape.
func validateContract(r *http.Request, status int, header http.Header, body []byte) error {
	router, err := contract()
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		return nil
	}
	route, params, err := router.FindRoute(r)
	if err != nil {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(bytes.Clone(body))
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// The check itself must be able to fail: these responses break the contract.
func TestContractCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	router, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/me", "/books/x", "/users", "/.well-known/jwks.json", "/login"} {
		method := "GET"
		if path == "/login" {
			method = "POST"
		}
		if _, _, err := router.FindRoute(httptest.NewRequest(method, path, nil)); err != nil {
			t.Fatalf("%s %s not found in openapi.yaml: %v", method, path, err)
		}
	}
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	user := `{"id":"u","email":null,"username":"ann","name":null,"role":"user","created_at":"2026-11-22T00:00:00Z","email_verified":false,"mfa":{"totp":false,"passkeys":0}}`
	me := httptest.NewRequest("GET", "/me", nil)
	if err := validateContract(me, 200, jsonHeader, []byte(`{"user":`+user+`}`)); err != nil {
		t.Fatalf("a valid response refused: %v", err)
	}
	for name, c := range map[string]struct {
		status int
		body   string
	}{
		"undeclared status":       {418, `{"error":"internal","message":"x"}`},
		"missing field":           {200, `{"user":{"id":"u","role":"user"}}`},
		"wrong role":              {200, `{"user":` + strings.Replace(user, `"user"`, `"root"`, 1) + `}`},
		"password material":       {200, `{"user":` + strings.Replace(user, `"role"`, `"password":"x","role"`, 1) + `}`},
		"unknown error code":      {401, `{"error":"nope","message":"x"}`},
		"error with extra fields": {401, `{"error":"unauthorized","message":"x","stack":"..."}`},
	} {
		if err := validateContract(me, c.status, jsonHeader, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOpenAPIServedAndValid(t *testing.T) {
	t.Parallel()
	if _, err := contract(); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	h := newHarness(t)
	w := h.do(req{method: "GET", path: "/openapi.yaml"})
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), gatehouse.OpenAPI) {
		t.Fatalf("/openapi.yaml: %d", w.Code)
	}
}
