package httpapi_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestBooksPaging: GET /books pages like /users (?limit= 1-200, default 50,
// ?cursor=, next_cursor), for the owner and for an admin's ?all=true; the
// books page shows the first page and links to the next.
func TestBooksPaging(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i := range 63 {
		who := "ann"
		if i%10 == 9 {
			who = "bob"
		}
		if w := h.do(req{method: "POST", path: "/books", as: who, body: fmt.Sprintf(`{"title":"Book %02d"}`, i)}); w.Code != 201 {
			t.Fatalf("create: %d %s", w.Code, w.Body)
		}
	}
	walk := func(as, query string) (titles []string, pages int) {
		path := "/books?" + query
		for path != "" {
			if pages++; pages > 60 {
				t.Fatal("paging does not end")
			}
			w := h.do(req{method: "GET", path: path, as: as})
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
			m := decode(t, w)
			for _, b := range m["books"].([]any) {
				titles = append(titles, b.(map[string]any)["title"].(string))
			}
			path = ""
			if c, ok := m["next_cursor"].(string); ok {
				path = "/books?" + query + "&cursor=" + url.QueryEscape(c)
			} else if m["next_cursor"] != nil {
				t.Fatalf("next_cursor %v", m["next_cursor"])
			}
		}
		return titles, pages
	}
	ann, pages := walk("ann", "limit=7")
	if len(ann) != 57 || pages != 9 || ann[0] != "Book 00" || ann[56] != "Book 62" {
		t.Fatalf("ann's pages: %d books in %d pages: %v", len(ann), pages, ann)
	}
	for i := 1; i < len(ann); i++ {
		if ann[i] <= ann[i-1] {
			t.Fatalf("not oldest first: %q after %q", ann[i], ann[i-1])
		}
	}
	if bob, _ := walk("bob", "limit=2"); len(bob) != 6 {
		t.Fatalf("bob's pages: %v", bob)
	}
	if all, pages := walk("admin", "all=true"); len(all) != 63 || pages != 2 {
		t.Fatalf("admin's all=true with the default limit: %d books in %d pages", len(all), pages)
	}
	if first, pages := walk("ann", "limit=200"); len(first) != 57 || pages != 1 {
		t.Fatalf("limit=200: %d books in %d pages", len(first), pages)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=!!", "cursor=bm90LWEtdXVpZA"} {
		if w := h.do(req{method: "GET", path: "/books?" + q, as: "ann"}); w.Code != 400 || errorCode(w) != "invalid_request" {
			t.Fatalf("%s: %d %s", q, w.Code, w.Body)
		}
	}

	// The page: the first 50 of ann's books, and a link to the rest.
	w := page(h, "ann", "/books")
	body := w.Body.String()
	if w.Code != 200 || strings.Count(body, `class="row book"`) != 50 || !strings.Contains(body, "Book 00") || strings.Contains(body, "Book 62") {
		t.Fatalf("books page: %d, %d rows", w.Code, strings.Count(body, `class="row book"`))
	}
	i := strings.Index(body, `href="/books?cursor=`)
	if i < 0 {
		t.Fatal("no link to the next page")
	}
	next := body[i+len(`href="`):]
	next = strings.ReplaceAll(next[:strings.Index(next, `"`)], "&amp;", "&")
	w = page(h, "ann", next)
	if body := w.Body.String(); w.Code != 200 || strings.Count(body, `class="row book"`) != 7 || !strings.Contains(body, "Book 62") || strings.Contains(body, `href="/books?cursor=`) {
		t.Fatalf("second books page: %d %d rows", w.Code, strings.Count(body, `class="row book"`))
	}
}
