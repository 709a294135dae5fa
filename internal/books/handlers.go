package books

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
)

// Handlers serve the books API over a Service. Mount them behind guard's
// Require middleware: they read the caller from guard.ClaimsFrom and nothing
// else.
type Handlers struct {
	Books *Service
	Log   *slog.Logger
}

type bookJSON struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Author    string    `json:"author"`
	Publisher string    `json:"publisher"`
	Price     int64     `json:"price"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toJSON(b Book) bookJSON {
	return bookJSON{ID: b.ID, Title: b.Title, Author: b.Author, Publisher: b.Publisher, Price: b.Price,
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

// CallerOf is the caller of r as the Service knows it, from guard's claims.
func CallerOf(c *guard.Claims) Caller {
	return Caller{ID: c.Subject, Admin: c.Role == auth.RoleAdmin}
}

func caller(r *http.Request) Caller {
	c, _ := guard.ClaimsFrom(r.Context())
	return CallerOf(c)
}

// Create handles POST /books: 201 {"book"}.
func (h Handlers) Create() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[Input](r, false)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		b, err := h.Books.Create(r.Context(), caller(r).ID, in)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		w.Header().Set("Location", "/books/"+b.ID)
		httpjson.Write(w, http.StatusCreated, map[string]any{"book": toJSON(b)})
	})
}

// List handles GET /books?limit=&cursor=&all=: a page of the caller's books,
// or with all=true (admins only) everyone's, and the next page's cursor.
func (h Handlers) List() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		lq := ListQuery{Cursor: q.Get("cursor")}
		switch q.Get("all") {
		case "", "false":
		case "true":
			lq.All = true
		default:
			httpjson.Error(w, r, h.Log, auth.Errorf(auth.CodeInvalidRequest, "The all parameter must be true or false."))
			return
		}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n == 0 {
				n = -1 // out of range: the Service says what is allowed
			}
			lq.Limit = n
		}
		list, next, err := h.Books.List(r.Context(), caller(r), lq)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		out := make([]bookJSON, len(list))
		for i, b := range list {
			out[i] = toJSON(b)
		}
		var cursor *string
		if next != "" {
			cursor = &next
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"books": out, "next_cursor": cursor})
	})
}

// Get handles GET /books/{id}; another user's book is 404, never 403.
func (h Handlers) Get() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := h.Books.Get(r.Context(), caller(r).ID, r.PathValue("id"))
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"book": toJSON(b)})
	})
}

// Update handles PATCH /books/{id}: a partial update of the caller's book.
func (h Handlers) Update() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[Input](r, false)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		b, err := h.Books.Update(r.Context(), caller(r).ID, r.PathValue("id"), in)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"book": toJSON(b)})
	})
}

// Delete handles DELETE /books/{id}: 204, or 404 for another user's book.
func (h Handlers) Delete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.Books.Delete(r.Context(), caller(r).ID, r.PathValue("id")); err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
