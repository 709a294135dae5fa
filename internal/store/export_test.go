package store

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/mail/outbox"
)

// EnqueueMailThenFail enqueues msgs in a transaction whose next statement
// fails, as a store method storing a token and its mail would.
func EnqueueMailThenFail(ctx context.Context, s *Store, now time.Time, msgs ...outbox.Message) error {
	return s.inTx(ctx, func(e execer) error {
		if err := enqueueMail(ctx, e, now, msgs); err != nil {
			return err
		}
		return errors.New("the token's insert failed")
	})
}
