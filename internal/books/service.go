package books

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/guard"
	"github.com/google/uuid"
)

// Service holds every rule about books: what a valid book is, that each
// belongs to its creator or its organization (another user's or another
// organization's book is not found, never forbidden), partial updates, and
// paged listing. Gatehouse's JSON handlers
// (internal/httpapi) and web pages (internal/web) are adapters over its methods.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over st; now nil means time.Now.
func NewService(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, now: now}
}

// Caller is who asks: a user id, whether that user is an administrator,
// and the organization its token acts in with the permissions it holds there.
type Caller struct {
	ID          string
	Admin       bool
	OrgID       string
	Permissions []string
}

// PermWrite is the permission that creates, edits and deletes an
// organization's books (owners and admins hold it by default).
const PermWrite = "books:write"

// CallerFrom is the caller guard verified: its token's claims.
func CallerFrom(c *guard.Claims) Caller {
	if c == nil {
		return Caller{}
	}
	return Caller{ID: c.Subject, Admin: c.Role == "admin", OrgID: c.OrgID, Permissions: c.Permissions}
}

// scope is whose books c reaches: its own personal books and its active
// organization's.
func (c Caller) scope() Scope { return Scope{OwnerID: c.ID, OrgID: c.OrgID} }

// mayWrite refuses a change of an organization's book (b) by a caller
// whose role does not hold books:write (a member: it sees the book, so
// forbidden, not not_found).
func (c Caller) mayWrite(b Book) error {
	if b.OrgID == "" || slices.Contains(c.Permissions, PermWrite) {
		return nil
	}
	return &guard.Error{Code: guard.CodeForbidden, Message: "Changing this organization's books needs the books:write permission."}
}

// Input is a create or patch body (JSON, or the web UI's form). "name" and
// "book_prize" are seed 002's names for title and price; its "Author" and
// "Publisher" match already, since JSON field names are matched
// case-insensitively. Absent (nil) fields are left as they are.
type Input struct {
	Title     *string `json:"title"`
	Name      *string `json:"name"`
	Author    *string `json:"author"`
	Publisher *string `json:"publisher"`
	Price     *int64  `json:"price"`
	BookPrize *int64  `json:"book_prize"`
}

// apply copies the fields present in in onto b and validates the result.
func (in Input) apply(b *Book) error {
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
		return ErrPrice
	}
	return nil
}

// invalid is the answer to a request that breaks a rule of books: guard's
// CodeInvalidRequest, which the application's one error writer renders.
func invalid(message string) error {
	return &guard.Error{Code: guard.CodeInvalidRequest, Message: message}
}

// ErrPrice is the answer to a price that is not a whole number of at least 0,
// whichever front end read it.
var ErrPrice = invalid("The price must be a whole number of at least 0.")

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Create makes a book of c from in: c's own, or when c acts in an
// organization that organization's (books:write needed).
func (s *Service) Create(ctx context.Context, c Caller, in Input) (Book, error) {
	now := s.stamp()
	b := Book{ID: uuid.Must(uuid.NewV7()).String(), OwnerID: c.ID, OrgID: c.OrgID, CreatedAt: now, UpdatedAt: now}
	if err := c.mayWrite(b); err != nil {
		return Book{}, err
	}
	if err := in.apply(&b); err != nil {
		return Book{}, err
	}
	if err := s.store.CreateBook(ctx, b); err != nil {
		return Book{}, err
	}
	return b, nil
}

// Get returns the book id: c's own, or its organization's; anyone else's
// is not_found.
func (s *Service) Get(ctx context.Context, c Caller, id string) (Book, error) {
	return s.store.Book(ctx, id, c.scope())
}

// Update changes the fields present in in of the book id (an
// organization's needs books:write).
func (s *Service) Update(ctx context.Context, c Caller, id string, in Input) (Book, error) {
	b, err := s.store.Book(ctx, id, c.scope())
	if err != nil {
		return Book{}, err
	}
	if err := c.mayWrite(b); err != nil {
		return Book{}, err
	}
	if err := in.apply(&b); err != nil {
		return Book{}, err
	}
	b.UpdatedAt = s.stamp()
	if err := s.store.UpdateBook(ctx, b, c.scope()); err != nil {
		return Book{}, err
	}
	return b, nil
}

// Delete removes the book id (an organization's needs books:write);
// anyone else's is not_found.
func (s *Service) Delete(ctx context.Context, c Caller, id string) error {
	b, err := s.store.Book(ctx, id, c.scope())
	if err != nil {
		return err
	}
	if err := c.mayWrite(b); err != nil {
		return err
	}
	return s.store.DeleteBook(ctx, id, c.scope())
}

// Page limits, as for every list of the API.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// ListQuery asks for a page of books.
type ListQuery struct {
	All    bool   // every user's books: administrators only
	Limit  int    // 1 to MaxLimit; 0 means DefaultLimit
	Cursor string // from the previous page's next cursor; "" for the first page
}

// List returns a page of the caller's personal books, or when it acts in
// an organization that organization's (or, for an administrator asking
// for All, everyone's), oldest first, and the cursor of the next page (""
// on the last).
func (s *Service) List(ctx context.Context, c Caller, q ListQuery) ([]Book, string, error) {
	f := Filter{OwnerID: c.ID, Limit: q.Limit}
	if c.OrgID != "" {
		f = Filter{OrgID: c.OrgID, Limit: q.Limit}
	}
	if q.All {
		if !c.Admin {
			return nil, "", &guard.Error{Code: guard.CodeForbidden, Message: "Only administrators may list every book."}
		}
		f.OwnerID, f.OrgID = "", ""
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultLimit
	case f.Limit < 1 || f.Limit > MaxLimit:
		return nil, "", invalid(fmt.Sprintf("The limit must be a whole number from 1 to %d.", MaxLimit))
	}
	if q.Cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || uuid.Validate(string(id)) != nil {
			return nil, "", invalid("The cursor is not valid.")
		}
		f.After = string(id)
	}
	want := f.Limit
	f.Limit++ // one more tells whether a next page exists
	list, err := s.store.Books(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if len(list) <= want {
		return list, "", nil
	}
	list = list[:want]
	return list, base64.RawURLEncoding.EncodeToString([]byte(list[want-1].ID)), nil
}
