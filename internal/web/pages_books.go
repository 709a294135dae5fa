package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// BookPages are the books page and its forms: the demo resource, over
// books.Service as the JSON API is.
type BookPages struct{ *Site }

// booksPage is what the books page lists: a page of books and the cursor
// of the next ("" on the last).
type booksPage struct {
	Books []Book
	Next  string
	Org   string // the organization the session acts in, whose books these are
}

// BooksPage serves GET /books?cursor= for browsers: a page of the user's
// books, with a link to the next.
func (site *BookPages) BooksPage(w http.ResponseWriter, r *http.Request, s *Session) {
	site.renderBooks(w, r, s.page("Books"), s, http.StatusOK)
}

func (site *BookPages) renderBooks(w http.ResponseWriter, r *http.Request, p Page, s *Session, status int) {
	cursor := ""
	if r.Method == http.MethodGet {
		cursor = r.URL.Query().Get("cursor")
	}
	list, next, err := site.Books.List(r.Context(), books.CallerFrom(s.Claims), books.ListQuery{Cursor: cursor})
	if err != nil {
		site.renderError(w, r, err)
		return
	}
	data := booksPage{Next: next}
	if s.Claims.OrgID != "" && site.Orgs != nil {
		if o, err := site.Orgs.Get(r.Context(), s.User.ID, s.Claims.OrgID); err == nil {
			data.Org = o.Name
		}
	}
	for _, b := range list {
		data.Books = append(data.Books, Book{ID: b.ID, Title: b.Title, Author: b.Author, Publisher: b.Publisher, Price: b.Price})
	}
	p.Data = data
	site.Pages.Render(w, status, "books", p)
}

// bookInput reads a book form as the Service's partial Input: a field the
// form does not send is left as it is, and an empty price means 0.
func bookInput(r *http.Request) (books.Input, error) {
	var in books.Input
	if err := httpjson.ParseForm(r); err != nil {
		return in, err
	}
	field := func(name string) *string {
		if vs, ok := r.PostForm[name]; ok && len(vs) > 0 {
			return &vs[0]
		}
		return nil
	}
	in.Title, in.Author, in.Publisher = field("title"), field("author"), field("publisher")
	if p := field("price"); p != nil {
		price := int64(0)
		if s := strings.TrimSpace(*p); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return in, books.ErrPrice
			}
			price = n
		}
		in.Price = &price
	}
	return in, nil
}

// AddBookForm serves the books page's POST /books.
func (site *BookPages) AddBookForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.bookForm(w, r, s, true, func(ctx context.Context, in books.Input) error {
		_, err := site.Books.Create(ctx, books.CallerFrom(s.Claims), in)
		return err
	})
}

// EditBookForm serves POST /books/{id}/edit.
func (site *BookPages) EditBookForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.bookForm(w, r, s, false, func(ctx context.Context, in books.Input) error {
		_, err := site.Books.Update(ctx, books.CallerFrom(s.Claims), r.PathValue("id"), in)
		return err
	})
}

// DeleteBookForm serves POST /books/{id}/delete.
func (site *BookPages) DeleteBookForm(w http.ResponseWriter, r *http.Request, s *Session) {
	site.bookForm(w, r, s, false, func(ctx context.Context, _ books.Input) error {
		return site.Books.Delete(ctx, books.CallerFrom(s.Claims), r.PathValue("id"))
	})
}

// bookForm runs a books page form's change. The rules are the Service's,
// as for the JSON API; this only reads the form and shows the outcome: the
// books page again, with an invalid form's error (and, refill, its values).
func (site *BookPages) bookForm(w http.ResponseWriter, r *http.Request, s *Session, refill bool, change func(context.Context, books.Input) error) {
	in, err := bookInput(r)
	if err == nil {
		err = change(r.Context(), in)
	}
	if err == nil {
		http.Redirect(w, r, "/books", http.StatusSeeOther)
		return
	}
	if auth.ErrorCode(err) != auth.CodeInvalidRequest {
		site.renderError(w, r, err)
		return
	}
	p := s.page("Books")
	if refill {
		p.Form = map[string]string{"title": r.PostFormValue("title"), "author": r.PostFormValue("author"),
			"publisher": r.PostFormValue("publisher"), "price": r.PostFormValue("price")}
	}
	status := site.formError(w, r, &p, err, nil) // the message names the field
	site.renderBooks(w, r, p, s, status)
}
