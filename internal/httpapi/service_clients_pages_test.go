package httpapi_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// An administrator registers a service client on its page (the secret shown
// once), disables it (its grants stop), enables and removes it; a user
// cannot reach the page.
func TestServiceClientsAdminPages(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	if w := page(f.harness, "ann", "/admin/clients"); w.Code != 403 {
		t.Fatalf("a user on the clients page: %d", w.Code)
	}
	w := page(f.harness, "admin", "/admin/clients")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Nightly job") || strings.Contains(w.Body.String(), "Web App") {
		t.Fatalf("clients page: %d %s", w.Code, w.Body)
	}
	w = form(f.harness, "admin", "/admin/clients", url.Values{"name": {"Page job"}, "scopes": {"books:read, reports:write"},
		"audiences": {apiAudience}})
	m := regexp.MustCompile(`Registered client <code>([0-9a-f-]+)</code>.*?\n.*?<code>([A-Za-z0-9_-]{43})</code>`).FindStringSubmatch(w.Body.String())
	if w.Code != 201 || m == nil {
		t.Fatalf("register: %d %s", w.Code, w.Body)
	}
	id, secret := m[1], m[2]
	f.grant(t, ccForm("scope", "reports:write"), id+":"+secret)
	if w := form(f.harness, "admin", "/admin/clients", url.Values{"name": {"Bad"}, "scopes": {"Not A Scope"}}); w.Code != 400 {
		t.Fatalf("a bad scope: %d", w.Code)
	}

	if w := form(f.harness, "admin", "/admin/clients/"+id, url.Values{"disabled": {"true"}}); w.Code != 303 || w.Header().Get("Location") != "/admin/clients?done=disabled" {
		t.Fatalf("disable: %d %v", w.Code, w.Header())
	}
	if w := f.token(ccForm(), id+":"+secret); w.Code != 401 {
		t.Fatalf("a client disabled on its page still gets tokens: %d", w.Code)
	}
	if w := page(f.harness, "admin", "/admin/clients?done=disabled"); !strings.Contains(w.Body.String(), "disabled") {
		t.Fatal("the page does not show the client disabled")
	}
	if w := form(f.harness, "admin", "/admin/clients/"+id, url.Values{"disabled": {"false"}}); w.Code != 303 {
		t.Fatalf("enable: %d", w.Code)
	}
	f.grant(t, ccForm(), id+":"+secret)
	if w := form(f.harness, "admin", "/admin/clients/"+id+"/remove", url.Values{}); w.Code != 303 || w.Header().Get("Location") != "/admin/clients?done=removed" {
		t.Fatalf("remove: %d %v", w.Code, w.Header())
	}
	if w := f.token(ccForm(), id+":"+secret); w.Code != 401 {
		t.Fatalf("a removed client still gets tokens: %d", w.Code)
	}
}
