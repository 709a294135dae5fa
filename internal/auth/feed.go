package auth

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Feed keeps this instance's revocation set, user cache and OpenID
// clients current from the database's change feed and the other instances
// (feed.go), and serves the feed to guard's clients.
type Feed struct {
	*core
	store  ChangeStore
	revMu  sync.Mutex      // serialises SyncChanges
	feed   feedState       // how far the change feed has been read
	forget func(id string) // drops this instance's copy of a client (OnClientChanged); nil: none held
}

// Page sizes of GET /revocations.
const (
	DefaultRevocationPage = 1000
	MaxRevocationPage     = 10000
)

// syncPage is how many entries SyncChanges reads at a time.
const syncPage = 1000

// feedStale is how long SyncChanges may go without reading the feed before
// it no longer trusts its user cache: changed users stay in the feed for a
// day (store), so an instance cut off from the database for an hour or more
// drops every cached user rather than risk missing a change.
const feedStale = time.Hour

// feedState is how far this instance has read the change feed.
type feedState struct {
	cursor int64     // seq of the last entry read
	synced time.Time // when the feed was last read to its end; zero before the first read
}

// RevocationPage is a page of GET /revocations: sessions ended while their
// access tokens may still be live, oldest first, with the cursor to read
// from next and whether more follow at once.
type RevocationPage struct {
	Revoked []Revocation
	Cursor  string
	HasMore bool
}

// RevocationsSince returns the ended sessions after cursor ("" for the start
// of the feed) whose access tokens may still be live, at most limit (0: the
// default of 1000; 1 to 10000). The cursor follows commit order: a
// revocation that commits after a read is in the next read, however long its
// transaction waited. The cursor is opaque to clients (a decimal seq).
func (s *Feed) RevocationsSince(ctx context.Context, cursor string, limit int) (RevocationPage, error) {
	after, err := parseCursor(cursor)
	if err != nil {
		return RevocationPage{}, err
	}
	if limit == 0 {
		limit = DefaultRevocationPage
	}
	if limit < 1 || limit > MaxRevocationPage {
		return RevocationPage{}, Errorf(CodeInvalidRequest, "The limit must be a whole number from 1 to %d.", MaxRevocationPage)
	}
	page, err := s.store.Changes(ctx, ChangeFilter{After: after, Limit: limit, Now: s.now()})
	if err != nil {
		return RevocationPage{}, fmt.Errorf("read change feed: %w", err)
	}
	out := RevocationPage{Revoked: make([]Revocation, 0, len(page.Changes)), Cursor: strconv.FormatInt(page.Cursor, 10), HasMore: page.More}
	for _, c := range page.Changes {
		out.Revoked = append(out.Revoked, Revocation{SessionID: c.SessionID, ExpiresAt: c.ExpiresAt})
	}
	return out, nil
}

func parseCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != cursor {
		return 0, Errorf(CodeInvalidRequest, "The since cursor is not valid.")
	}
	return n, nil
}

// SyncChanges reads the change feed from where the last read ended, to its
// end: ended sessions into the in-memory revocation set (at start, so a
// restart forgets no logout, then every poll, so a logout on another instance
// is seen here), changed users out of the user cache, changed clients
// forgotten (OnClientChanged: a client changed at another instance or by the
// command line, which writes the database alone). It also brings this
// instance's own revocations up to the lifetime of the longest token their
// sessions were given (the store knows it; the instance knows only its own
// --access-ttl).
func (s *Feed) SyncChanges(ctx context.Context) error {
	s.revMu.Lock()
	defer s.revMu.Unlock()
	now := s.now()
	if !s.feed.synced.IsZero() && now.Sub(s.feed.synced) > feedStale {
		s.users.dropAll()
	}
	for {
		page, err := s.store.Changes(ctx, ChangeFilter{After: s.feed.cursor, Limit: syncPage, Users: true, Clients: true, Now: now})
		if err != nil {
			return fmt.Errorf("read change feed: %w", err)
		}
		var users []string
		for _, c := range page.Changes {
			switch {
			case c.UserID != "":
				users = append(users, c.UserID)
			case c.ClientID != "":
				s.forgetClients(c.ClientID)
			default:
				s.revocations.Add(c.ExpiresAt, c.SessionID)
			}
		}
		s.users.drop(users...)
		s.feed.cursor = page.Cursor
		if !page.More {
			break
		}
	}
	s.feed.synced = now
	return nil
}

// UsersChangedElsewhere applies another instance's fan-out message.
func (s *Feed) UsersChangedElsewhere(userIDs []string) { s.users.drop(userIDs...) }

// OnClientChanged sets what forgets this instance's copy of a changed
// client (the OpenID provider's ForgetClient). Call it once, before the
// feed is followed (app.Run).
func (s *Feed) OnClientChanged(forget func(id string)) { s.forget = forget }

// ClientChanged tells every instance that client id changed (its store
// write put it in the change feed too): this one forgets its copy at once,
// the others through the fan-out, or when they next read the feed.
func (s *Feed) ClientChanged(ctx context.Context, id string) {
	s.forgetClients(id)
	if s.fanout != nil {
		s.fanout.ClientsChanged(ctx, []string{id})
	}
}

// ClientsChangedElsewhere applies another instance's fan-out message.
func (s *Feed) ClientsChangedElsewhere(clientIDs []string) { s.forgetClients(clientIDs...) }

func (s *Feed) forgetClients(ids ...string) {
	if s.forget == nil {
		return
	}
	for _, id := range ids {
		s.forget(id)
	}
}

// EndSessionsBy runs end, a store write of another service that ends
// sessions (deleting a grant or a client), at the services' time now, each
// revocation kept until liveUntil; the sessions it ended (returned) are
// then revoked here and announced to every instance, as EndSessions does
// for its own.
func (s *Feed) EndSessionsBy(ctx context.Context, end func(now, liveUntil time.Time) ([]string, error)) ([]string, error) {
	now := s.now()
	ids, err := end(now, s.liveUntil(now))
	if err != nil {
		return nil, err
	}
	s.ended(ctx, now, ids...)
	return ids, nil
}

// SessionsEndedElsewhere applies another instance's fan-out message.
func (s *Feed) SessionsEndedElsewhere(until time.Time, sessionIDs []string) {
	s.revocations.Add(until, sessionIDs...)
}
