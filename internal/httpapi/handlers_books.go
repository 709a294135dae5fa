package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/books"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// The books API: thin adapters over books.Service, behind guard's Require.
// They know the caller only through guard's claims, as any application
// protected by Gatehouse would.

type bookJSON struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Author    string    `json:"author"`
	Publisher string    `json:"publisher"`
	Price     int64     `json:"price"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func bookView(b books.Book) bookJSON {
	return bookJSON{ID: b.ID, Title: b.Title, Author: b.Author, Publisher: b.Publisher, Price: b.Price,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

// bookCallerOf is the caller as books.Service knows it, from guard's claims.
func bookCallerOf(r *http.Request) books.Caller {
	c, _ := guard.ClaimsFrom(r.Context())
	return books.CallerFrom(c)
}

// handleCreateBook serves POST /books (and seed 002's POST /book): 201 {"book"}.
func handleCreateBook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[books.Input](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		b, err := d.Books.Create(r.Context(), bookCallerOf(r), in)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.Header().Set("Location", "/books/"+b.ID)
		httpjson.Write(w, http.StatusCreated, map[string]any{"book": bookView(b)})
	})
}

// handleListBooks serves GET /books?limit=&cursor=&all=: a page of the
// caller's books, or with all=true (admins only) everyone's, and the next
// page's cursor.
func handleListBooks(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		lq := books.ListQuery{Cursor: q.Get("cursor")}
		switch q.Get("all") {
		case "", "false":
		case "true":
			lq.All = true
		default:
			httpjson.Error(w, r, d.Log, auth.Errorf(auth.CodeInvalidRequest, "The all parameter must be true or false."))
			return
		}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n == 0 {
				n = -1 // out of range: the Service says what is allowed
			}
			lq.Limit = n
		}
		list, next, err := d.Books.List(r.Context(), bookCallerOf(r), lq)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		out := make([]bookJSON, len(list))
		for i, b := range list {
			out[i] = bookView(b)
		}
		var cursor *string
		if next != "" {
			cursor = &next
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"books": out, "next_cursor": cursor})
	})
}

// handleGetBook serves GET /books/{id}; another user's book is 404, never 403.
func handleGetBook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := d.Books.Get(r.Context(), bookCallerOf(r), r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"book": bookView(b)})
	})
}

// handleUpdateBook serves PATCH /books/{id}: a partial update of the caller's book.
func handleUpdateBook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[books.Input](r, false)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		b, err := d.Books.Update(r.Context(), bookCallerOf(r), r.PathValue("id"), in)
		if err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"book": bookView(b)})
	})
}

// handleDeleteBook serves DELETE /books/{id}: 204, or 404 for another user's book.
func handleDeleteBook(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Books.Delete(r.Context(), bookCallerOf(r), r.PathValue("id")); err != nil {
			httpjson.Error(w, r, d.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
