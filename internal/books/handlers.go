package books

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/gatehouse-auth/gatehouse/internal/auth"
	"github.com/gatehouse-auth/gatehouse/internal/httpjson"
	"github.com/google/uuid"
)

// Handlers serve the books API. Mount them behind guard's Require middleware:
// they read the caller from guard.ClaimsFrom and nothing else.
type Handlers struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time
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

// Input is a create or patch body (JSON, or the web UI's form). "name" and
// "book_prize" are seed 002's names for title and price; its "Author" and
// "Publisher" match already, since JSON field names are matched
// case-insensitively. Absent fields are left as they are.
type Input struct {
	Title     *string `json:"title"`
	Name      *string `json:"name"`
	Author    *string `json:"author"`
	Publisher *string `json:"publisher"`
	Price     *int64  `json:"price"`
	BookPrize *int64  `json:"book_prize"`
}

// Apply copies the fields present in in onto b and validates the result.
func (in Input) Apply(b *Book) error {
	if in.Title == nil {
		in.Title = in.Name
	}
	if in.Price == nil {
		in.Price = in.BookPrize
	}
	if in.Title != nil {
		b.Title = strings.TrimSpace(*in.Title)
	}
	if in.Author != nil {
		b.Author = strings.TrimSpace(*in.Author)
	}
	if in.Publisher != nil {
		b.Publisher = strings.TrimSpace(*in.Publisher)
	}
	if in.Price != nil {
		b.Price = *in.Price
	}
	switch n := utf8.RuneCountInString(b.Title); {
	case n < 1 || n > 200:
		return auth.Errorf(auth.CodeInvalidRequest, "The title must be 1 to 200 characters.")
	case utf8.RuneCountInString(b.Author) > 200 || utf8.RuneCountInString(b.Publisher) > 200:
		return auth.Errorf(auth.CodeInvalidRequest, "The author and publisher must be at most 200 characters.")
	case b.Price < 0:
		return auth.Errorf(auth.CodeInvalidRequest, "The price must be an integer of at least 0.")
	}
	return nil
}

// New makes a book owned by ownerID from in, validated.
func New(ownerID string, in Input, now time.Time) (Book, error) {
	now = now.UTC().Truncate(time.Millisecond)
	b := Book{ID: uuid.Must(uuid.NewV7()).String(), OwnerID: ownerID, CreatedAt: now, UpdatedAt: now}
	return b, in.Apply(&b)
}

func caller(r *http.Request) *guard.Claims {
	c, _ := guard.ClaimsFrom(r.Context())
	return c
}

// Create handles POST /books: 201 {"book"}.
func (h Handlers) Create() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := httpjson.Decode[Input](r, false)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		b, err := New(caller(r).Subject, in, h.Now())
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		if err := h.Store.CreateBook(r.Context(), b); err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		w.Header().Set("Location", "/books/"+b.ID)
		httpjson.Write(w, http.StatusCreated, map[string]any{"book": toJSON(b)})
	})
}

// List handles GET /books: the caller's books, or with ?all=true (admins
// only) everyone's.
func (h Handlers) List() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := caller(r)
		owner := c.Subject
		switch r.URL.Query().Get("all") {
		case "", "false":
		case "true":
			if c.Role != auth.RoleAdmin {
				httpjson.Error(w, r, h.Log, auth.Errorf(auth.CodeForbidden, "Only administrators may list every book."))
				return
			}
			owner = ""
		default:
			httpjson.Error(w, r, h.Log, auth.Errorf(auth.CodeInvalidRequest, "The all parameter must be true or false."))
			return
		}
		list, err := h.Store.Books(r.Context(), owner)
		if err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		out := make([]bookJSON, len(list))
		for i, b := range list {
			out[i] = toJSON(b)
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"books": out})
	})
}

// Get handles GET /books/{id}; another user's book is 404, never 403.
func (h Handlers) Get() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := h.Store.Book(r.Context(), r.PathValue("id"), caller(r).Subject)
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
		b, err := h.Store.Book(r.Context(), r.PathValue("id"), caller(r).Subject)
		if err == nil {
			err = in.Apply(&b)
		}
		if err == nil {
			b.UpdatedAt = h.Now().UTC().Truncate(time.Millisecond)
			err = h.Store.UpdateBook(r.Context(), b)
		}
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
		if err := h.Store.DeleteBook(r.Context(), r.PathValue("id"), caller(r).Subject); err != nil {
			httpjson.Error(w, r, h.Log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
