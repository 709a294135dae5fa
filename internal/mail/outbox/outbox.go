// Package outbox holds the plain types of the mail outbox, shared by the
// store (which keeps the rows), the mail worker (which delivers them) and
// the services that enqueue mail in their own transactions. It imports
// nothing of Gatehouse, so every one of them can use it without a cycle.
package outbox

import (
	"errors"
	"time"
)

// Message is one rendered mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string // text/plain part
	HTML    string // text/html part
}

// Mail is a message claimed from the outbox for delivery.
type Mail struct {
	ID        string
	Message   Message
	Attempts  int // including the one this claim is for
	CreatedAt time.Time
	// Unreadable says why the body could not be opened (sealed under a
	// master key this server does not hold, or altered): Message then has
	// no body, and the mail is given up rather than sent empty.
	Unreadable error
}

// Sealer seals mail bodies while they are queued, and opens them for
// delivery: internal/seal's Key, the master key. aad binds a body to its
// row, so a body copied to another row does not open.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// ErrLeaseLost is returned when a delivery is recorded for a mail whose lease
// this worker no longer holds (it ran out and another worker claimed it).
var ErrLeaseLost = errors.New("outbox: the mail's lease was lost to another worker")
