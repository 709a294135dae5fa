package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/google/uuid"
)

// book is one user's book, or one organization's. Its owner is a Gatehouse
// user id: the sub of the token that created it; its organization the
// org_id of that token, when it acted in one.
type book struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"-"`
	OrgID     string    `json:"-"`
	Title     string    `json:"title"`
	Author    string    `json:"author"`
	Publisher string    `json:"publisher"`
	Price     int64     `json:"price"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// adminRole is the role claim of Gatehouse's administrators, who may list
// every user's books.
const adminRole = "admin"

// Page limits, as for every list of Gatehouse's API.
const (
	defaultLimit = 50
	maxLimit     = 200
	maxBody      = 64 << 10
)

// apiError is a refused request, answered in Gatehouse's error format:
// {"error", "message"} with its status.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalid(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...)}
}

var errNotFound = &apiError{http.StatusNotFound, "not_found", "The book was not found."}

// writeError answers err in the format guard answers its refusals with;
// an error that is not an *apiError is logged and answered as a bare 500.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{http.StatusInternalServerError, "internal", "An internal error occurred."}
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.code, "message": ae.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads r's JSON body into v: application/json only (415), at most
// 64 KiB (413), one well-formed value of the right types (400). Unknown
// fields are ignored.
func decode(r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "The request body must be application/json."}
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch err := dec.Decode(v); {
	case err == nil:
	case errors.As(err, &tooLarge):
		return &apiError{http.StatusRequestEntityTooLarge, "request_too_large", "The request body must be at most 64 KiB."}
	case errors.Is(err, io.EOF):
		return invalid("The request body is empty.")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return invalid("The field %q has the wrong type.", typeErr.Field)
	default:
		return invalid("The request body is not valid JSON.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("The request body must hold a single JSON value.")
	}
	return nil
}

// input is a create or patch body. "name" and "book_prize" are the original
// bookstore's names for title and price (its "Author" and "Publisher" match
// already: JSON field names are matched case-insensitively). Absent (nil)
// fields are left as they are.
type input struct {
	Title     *string `json:"title"`
	Name      *string `json:"name"`
	Author    *string `json:"author"`
	Publisher *string `json:"publisher"`
	Price     *int64  `json:"price"`
	BookPrize *int64  `json:"book_prize"`
}

// apply copies the fields present in in onto b and validates the result.
func (in input) apply(b *book) error {
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
		return invalid("The title must be 1 to 200 characters.")
	case utf8.RuneCountInString(b.Author) > 200 || utf8.RuneCountInString(b.Publisher) > 200:
		return invalid("The author and publisher must be at most 200 characters.")
	case b.Price < 0:
		return invalid("The price must be a whole number of at least 0.")
	}
	return nil
}

// books serves the books API. Mount its handlers behind guard's Require:
// they know the caller only from guard.ClaimsFrom.
type books struct {
	store *store
	log   *slog.Logger
	now   func() time.Time
}

func caller(r *http.Request) *guard.Claims {
	c, _ := guard.ClaimsFrom(r.Context())
	return c
}

// scopeOf is whose books the caller reaches: its own, and those of the
// organization its token acts in (guard.OrgID).
func scopeOf(r *http.Request) scope {
	return scope{ownerID: caller(r).Subject, orgID: guard.OrgID(r.Context())}
}

// writePermission is what changing an organization's books needs.
const writePermission = "books:write"

// mayWrite refuses a change of an organization's book by a token whose
// role there lacks books:write (it sees the book: forbidden, not 404).
func mayWrite(r *http.Request, b book) error {
	if b.OrgID == "" {
		return nil
	}
	if err := guard.CheckPermission(caller(r), writePermission); err != nil {
		return &apiError{http.StatusForbidden, "forbidden", "Changing this organization's books needs the books:write permission."}
	}
	return nil
}

func (h books) stamp() time.Time { return h.now().UTC().Truncate(time.Millisecond) }

// create handles POST /books: 201 {"book"}.
func (h books) create(w http.ResponseWriter, r *http.Request) {
	var in input
	if err := decode(r, &in); err != nil {
		writeError(w, r, h.log, err)
		return
	}
	now := h.stamp()
	b := book{ID: uuid.Must(uuid.NewV7()).String(), OwnerID: caller(r).Subject, OrgID: guard.OrgID(r.Context()), CreatedAt: now, UpdatedAt: now}
	err := mayWrite(r, b)
	if err == nil {
		err = in.apply(&b)
	}
	if err == nil {
		err = h.store.create(r.Context(), b)
	}
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	w.Header().Set("Location", "/books/"+b.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"book": b})
}

// list handles GET /books?limit=&cursor=&all=: a page of the caller's books
// (those of its organization when its token acts in one), oldest first, or
// with all=true (administrators only) everyone's, and the next page's
// cursor (null on the last).
func (h books) list(w http.ResponseWriter, r *http.Request) {
	q, c := r.URL.Query(), caller(r)
	f := filter{scope: scopeOf(r), limit: defaultLimit}
	if f.orgID != "" {
		f.ownerID = ""
	}
	var err error
	switch q.Get("all") {
	case "", "false":
	case "true":
		if c.Role != adminRole {
			err = &apiError{http.StatusForbidden, "forbidden", "Only administrators may list every book."}
		}
		f.scope = scope{}
	default:
		err = invalid("The all parameter must be true or false.")
	}
	if s := q.Get("limit"); s != "" && err == nil {
		if f.limit, err = strconv.Atoi(s); err != nil || f.limit < 1 || f.limit > maxLimit {
			err = invalid("The limit must be a whole number from 1 to %d.", maxLimit)
		}
	}
	if s := q.Get("cursor"); s != "" && err == nil {
		id, decErr := base64.RawURLEncoding.DecodeString(s)
		if decErr != nil || uuid.Validate(string(id)) != nil {
			err = invalid("The cursor is not valid.")
		}
		f.after = string(id)
	}
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	want := f.limit
	f.limit++ // one more tells whether a next page exists
	list, err := h.store.list(r.Context(), f)
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	var next *string
	if len(list) > want {
		list = list[:want]
		cursor := base64.RawURLEncoding.EncodeToString([]byte(list[want-1].ID))
		next = &cursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"books": list, "next_cursor": next})
}

// get handles GET /books/{id}; another user's or organization's book is
// 404, never 403.
func (h books) get(w http.ResponseWriter, r *http.Request) {
	b, err := h.store.get(r.Context(), r.PathValue("id"), scopeOf(r))
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"book": b})
}

// update handles PATCH /books/{id}: a partial update of the caller's book.
func (h books) update(w http.ResponseWriter, r *http.Request) {
	var in input
	if err := decode(r, &in); err != nil {
		writeError(w, r, h.log, err)
		return
	}
	b, err := h.store.get(r.Context(), r.PathValue("id"), scopeOf(r))
	if err == nil {
		err = mayWrite(r, b)
	}
	if err == nil {
		err = in.apply(&b)
	}
	if err == nil {
		b.UpdatedAt = h.stamp()
		err = h.store.update(r.Context(), b, scopeOf(r))
	}
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"book": b})
}

// remove handles DELETE /books/{id}: 204, or 404 for another user's or
// organization's book.
func (h books) remove(w http.ResponseWriter, r *http.Request) {
	b, err := h.store.get(r.Context(), r.PathValue("id"), scopeOf(r))
	if err == nil {
		err = mayWrite(r, b)
	}
	if err == nil {
		err = h.store.remove(r.Context(), b.ID, scopeOf(r))
	}
	if err != nil {
		writeError(w, r, h.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
