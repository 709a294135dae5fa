package mail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail"
)

func TestTemplatesRenderBothPartsWithProductAndLink(t *testing.T) {
	t.Parallel()
	tpl, err := mail.NewTemplates("Acme ID", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	link := "https://id.example.com/reset-password?token=abc_DEF-123"
	for _, k := range mail.Kinds {
		t.Run(string(k), func(t *testing.T) {
			d := mail.Data{Name: "Ann", Expires: 30 * time.Minute, NewEmail: "new@example.com", Remaining: 7, OrgName: "Shop", Role: "member"}
			if k == mail.VerifyEmail || k == mail.ResetPassword || k == mail.EmailChangeConfirm || k == mail.OrgInvitation {
				d.Link = link
			}
			m, err := tpl.Render(k, "ann@example.com", d)
			if err != nil {
				t.Fatal(err)
			}
			if m.To != "ann@example.com" || !strings.Contains(m.Subject, "Acme ID") || strings.ContainsAny(m.Subject, "\r\n") {
				t.Fatalf("to %q, subject %q", m.To, m.Subject)
			}
			for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				for _, want := range []string{"Acme ID", "https://id.example.com", "ann@example.com"} {
					if !strings.Contains(body, want) {
						t.Errorf("%s part lacks %q:\n%s", part, want, body)
					}
				}
				if d.Link != "" && !strings.Contains(body, link) {
					t.Errorf("%s part lacks the link:\n%s", part, body)
				}
				if strings.Contains(body, "<no value>") {
					t.Errorf("%s part has a missing field:\n%s", part, body)
				}
			}
			if !strings.HasPrefix(m.HTML, "<!doctype html>") || !strings.Contains(m.HTML, "<title>"+m.Subject+"</title>") {
				t.Errorf("HTML part is not a document titled with the subject:\n%s", m.HTML)
			}
			if d.Link != "" && !strings.Contains(m.HTML, `href="`+link+`"`) {
				t.Errorf("HTML part has no button to the link:\n%s", m.HTML)
			}
		})
	}
	m, err := tpl.Render(mail.ResetPassword, "ann@example.com", mail.Data{Link: link, Expires: 30 * time.Minute})
	if err != nil || !strings.Contains(m.Text, "expires in 30 minutes") || !strings.Contains(m.Text, "Hello,") {
		t.Fatalf("reset mail without a name: %v\n%s", err, m.Text)
	}
}

func TestTemplatesEscapeInputsInHTML(t *testing.T) {
	t.Parallel()
	tpl, err := mail.NewTemplates("", "https://id.example.com")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(mail.EmailChangeNotice, "ann@example.com", mail.Data{
		Name: `<script>alert(1)</script>`, NewEmail: `"><img src=x onerror=alert(2)>@evil.example`})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Subject, "Gatehouse") {
		t.Errorf("default product name missing: %q", m.Subject)
	}
	for _, raw := range []string{"<script>", "<img"} {
		if strings.Contains(m.HTML, raw) {
			t.Errorf("HTML part carries %q unescaped:\n%s", raw, m.HTML)
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.Text, "<script>alert(1)</script>") {
		t.Errorf("name not escaped in HTML / kept verbatim in text:\n%s\n%s", m.HTML, m.Text)
	}
	if _, err := tpl.Render(mail.ResetPassword, "ann@example.com", mail.Data{Link: "javascript:alert(1)"}); err == nil {
		t.Error("a javascript: link was rendered")
	}
	if _, err := tpl.Render(mail.VerifyEmail, "ann@example.com", mail.Data{Link: "/verify-email?token=x"}); err == nil {
		t.Error("a relative link was rendered")
	}
	if _, err := tpl.Render(mail.ResetPassword, "ann@example.com", mail.Data{}); err == nil {
		t.Error("a reset mail without a link was rendered")
	}
	if _, err := tpl.Render(mail.Test, "ann@example.com\r\nBcc: x@evil.example", mail.Data{}); err == nil {
		t.Error("a recipient with a line break was accepted")
	}
	if _, err := tpl.Render("nonsense", "ann@example.com", mail.Data{}); err == nil {
		t.Error("an unknown kind was rendered")
	}
	if _, err := mail.NewTemplates("", "id.example.com"); err == nil {
		t.Error("a public URL without a scheme was accepted")
	}
}
