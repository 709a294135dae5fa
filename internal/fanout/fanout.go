// Package fanout spreads one instance's changes to the others through Redis
// pub/sub: sessions ended (so their tokens are refused everywhere almost at
// once), users and OpenID clients changed (so cached copies are dropped).
// Messages can be
// lost when Redis is down; every instance also follows the database's change
// feed, which is the guarantee.
package fanout

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

type message struct {
	Sessions []string `json:"sessions,omitempty"`
	Until    int64    `json:"until,omitempty"` // Unix ms: when the sessions' last tokens expire
	Users    []string `json:"users,omitempty"`
	Clients  []string `json:"clients,omitempty"`
}

// Redis publishes and receives changes on one channel.
type Redis struct {
	channel string
	client  redis.UniversalClient
	log     *slog.Logger
}

// New returns a fan-out over client for one deployment: its instances share
// namespace (the issuer); other deployments on the same Redis do not hear it.
func New(client redis.UniversalClient, namespace string, log *slog.Logger) *Redis {
	return &Redis{channel: Channel(namespace), client: client, log: log}
}

// Channel is the pub/sub channel of namespace's deployment.
func Channel(namespace string) string { return "gatehouse:" + namespace + ":changes" }

// SessionsEnded implements auth.Fanout.
func (r *Redis) SessionsEnded(ctx context.Context, until time.Time, ids []string) {
	r.publish(ctx, message{Sessions: ids, Until: until.UnixMilli()})
}

// UsersChanged implements auth.Fanout.
func (r *Redis) UsersChanged(ctx context.Context, ids []string) {
	r.publish(ctx, message{Users: ids})
}

// ClientsChanged implements auth.Fanout.
func (r *Redis) ClientsChanged(ctx context.Context, ids []string) {
	r.publish(ctx, message{Clients: ids})
}

func (r *Redis) publish(ctx context.Context, m message) {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := r.client.Publish(ctx, r.channel, b).Err(); err != nil {
		r.log.Warn("fan-out publish failed; other instances learn from the database within a poll", "err", err)
	}
}

// Receiver applies the changes other instances publish.
type Receiver interface {
	SessionsEndedElsewhere(until time.Time, sessionIDs []string)
	UsersChangedElsewhere(userIDs []string)
	ClientsChangedElsewhere(clientIDs []string)
}

// Follow applies published changes to rcv until ctx ends, resubscribing
// after Redis comes back.
func (r *Redis) Follow(ctx context.Context, rcv Receiver) {
	sub := r.client.Subscribe(ctx, r.channel)
	defer sub.Close()
	msgs := sub.Channel() // go-redis reconnects and resubscribes by itself
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-msgs:
			if !ok {
				return
			}
			var m message
			if err := json.Unmarshal([]byte(msg.Payload), &m); err != nil {
				continue
			}
			if len(m.Sessions) > 0 {
				rcv.SessionsEndedElsewhere(time.UnixMilli(m.Until), m.Sessions)
			}
			if len(m.Users) > 0 {
				rcv.UsersChangedElsewhere(m.Users)
			}
			if len(m.Clients) > 0 {
				rcv.ClientsChangedElsewhere(m.Clients)
			}
		}
	}
}
