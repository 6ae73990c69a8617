// Package revocation keeps a node's in-memory copy of the JWT revocation
// list, so the gateway can refuse a revoked access token on every request
// without a database round trip.
//
// A JWT cannot be recalled once issued: revoking one puts its jti on a list
// (auth.TokenStore) until the token's own exp. Each node loads that list at
// start, polls it for new entries every Interval, syncs at once when the
// store announces a revocation by any node (PostgreSQL NOTIFY), and — on
// the node where the revocation happens — syncs after the write itself
// (SyncingStore), so a token revoked through this node is refused on the
// very next request and through another node as soon as it hears of it
// (within Interval plus one sync's duration at worst, while the store can
// be read). A node that cannot read the store keeps its last list, and
// Fresh tells once that list is older than Options.MaxAge, so that the
// gateway stops accepting tokens it cannot know are still good.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Defaults of Options.
const (
	DefaultInterval = time.Second
	// DefaultOverlap re-reads entries this much older than the last sync:
	// revoked_at is the revoking node's clock, and its transaction may
	// commit a little after that instant.
	DefaultOverlap = 30 * time.Second
)

// Options configure a List.
type Options struct {
	Store    auth.TokenStore
	Now      auth.Now // nil: the wall clock
	Interval time.Duration
	Overlap  time.Duration
	// MaxAge, when positive, is the oldest the list may be: once the last
	// successful sync began longer ago than that (the store unreachable),
	// Fresh reports false, since a revocation made on another node
	// meanwhile cannot be known. It must exceed Interval plus the time a
	// sync takes, or the list goes stale between two healthy polls. Zero:
	// always fresh. Its age is real elapsed time (the monotonic clock),
	// not Now's: a test clock moves token time, not the poll's.
	MaxAge time.Duration
	// Outage, if set, reports whether the node's store is unreachable and
	// within its store outage grace (changes.Feed.InGrace): the list then
	// stays fresh past MaxAge, as of its last sync, since no sync can
	// succeed and the node's other caches answer as of theirs too. When
	// the store returns, the change feed's catch-up wakes Run (Changed),
	// whose sync reads what was revoked meanwhile.
	Outage func() bool
	Logger *slog.Logger
	// Changed, if set, wakes Run to sync at once: the node's change feed
	// (a changes.Kick subscribed to auth.ChangeRevocation) sends on it
	// when any node revokes, so that the poll is only the safety net.
	Changed <-chan struct{}
}

// List is the revocation list of one node. Lookups read an immutable map
// through an atomic pointer: they take no lock, and revocations (rare) pay
// for a copy instead.
type List struct {
	opts Options

	jtis atomic.Pointer[map[string]time.Time] // jti -> the token's exp

	syncMu   sync.Mutex // one Sync at a time, so syncs never interleave their reads
	lastSync time.Time  // when the last successful Sync began (local clock)
	// synced is when the last successful Sync began on the monotonic
	// clock, for Fresh to read without the lock.
	synced atomic.Pointer[time.Time]
	since  func(time.Time) time.Duration // time.Since; tests move it
}

// New loads the whole list. It fails when the store cannot be read: a node
// that does not know which tokens are revoked must not accept tokens.
func New(ctx context.Context, opts Options) (*List, error) {
	if opts.Store == nil {
		return nil, errors.New("revocation: a store is required")
	}
	if opts.Now == nil {
		opts.Now = auth.SystemNow
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Overlap <= 0 {
		opts.Overlap = DefaultOverlap
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &List{opts: opts, since: time.Since}
	empty := map[string]time.Time{}
	l.jtis.Store(&empty)
	if err := l.Sync(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Revoked reports whether the jti is on the list.
func (l *List) Revoked(jti string) bool {
	_, ok := (*l.jtis.Load())[jti]
	return ok
}

// Fresh reports whether the list was read from the store within MaxAge
// (always, without one). A list that is not fresh may lack revocations
// made through other nodes: a caller fails closed on it.
func (l *List) Fresh() bool {
	if l.opts.MaxAge <= 0 {
		return true
	}
	t := l.synced.Load()
	if t != nil && l.since(*t) <= l.opts.MaxAge {
		return true
	}
	return t != nil && l.opts.Outage != nil && l.opts.Outage()
}

// Len is the number of entries held.
func (l *List) Len() int { return len(*l.jtis.Load()) }

// Sync reads the entries revoked since the last sync (with the overlap) and
// drops the ones whose tokens have expired.
func (l *List) Sync(ctx context.Context) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	began := time.Now()
	start := l.opts.Now()
	since := time.Time{}
	if !l.lastSync.IsZero() {
		since = l.lastSync.Add(-l.opts.Overlap)
	}
	entries, err := l.opts.Store.ListRevokedTokens(ctx, since, start)
	if err != nil {
		return fmt.Errorf("revocation: read the list: %w", err)
	}
	cur := *l.jtis.Load()
	var next map[string]time.Time
	for _, e := range entries {
		if exp, ok := cur[e.JTI]; ok && exp.Equal(e.ExpiresAt) {
			continue
		}
		if next == nil {
			next = maps.Clone(cur)
		}
		next[e.JTI] = e.ExpiresAt
	}
	// Expired tokens are refused for their exp anyway; dropping them keeps
	// the list as small as the set of live revoked tokens. An entry without
	// an expiry (the zero time) never expires, as the store treats it.
	for jti, exp := range cur {
		if !exp.IsZero() && !exp.After(start) {
			if next == nil {
				next = maps.Clone(cur)
			}
			delete(next, jti)
		}
	}
	if next != nil {
		l.jtis.Store(&next)
	}
	l.lastSync = start
	l.synced.Store(&began)
	return nil
}

// Run syncs every Interval until ctx is done, then returns nil (the
// contract of background.Runner) — and at once whenever Options.Changed
// says that a node revoked. A failed sync is logged and retried at the next
// tick; the entries already held stay.
func (l *List) Run(ctx context.Context) error {
	t := time.NewTicker(l.opts.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-l.opts.Changed:
		}
		if err := l.Sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				l.opts.Logger.Error("revocation list sync failed; revocations from other nodes are not seen until it recovers", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			l.opts.Logger.Info("revocation list sync recovered")
		}
		failing = false
	}
}

// SyncingStore is the authorization server's store on a node whose gateway
// holds a List: after every write that can put access tokens on the
// revocation list it syncs the list, so that the revocation applies to this
// node's next request rather than its next poll.
type SyncingStore struct {
	auth.OAuthStore
	List *List
}

func (s SyncingStore) synced(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	// The write is done: a failed sync only delays the revocation here
	// until the next poll, and must not fail the write.
	if serr := s.List.Sync(ctx); serr != nil {
		s.List.opts.Logger.Warn("revocation list sync after a revocation failed; the poll will catch up", "err", serr)
	}
	return nil
}

// RevokeToken revokes one access token.
func (s SyncingStore) RevokeToken(ctx context.Context, t auth.RevokedToken, events ...auth.AuditEvent) error {
	return s.synced(ctx, s.OAuthStore.RevokeToken(ctx, t, events...))
}

// RevokeFamily revokes a refresh-token family and its access tokens.
func (s SyncingStore) RevokeFamily(ctx context.Context, familyID string, at time.Time, events ...auth.AuditEvent) ([]string, error) {
	jtis, err := s.OAuthStore.RevokeFamily(ctx, familyID, at, events...)
	return jtis, s.synced(ctx, err)
}

// DeleteConsent revokes the families of a user and client.
func (s SyncingStore) DeleteConsent(ctx context.Context, userID, clientID string, at time.Time, events ...auth.AuditEvent) error {
	return s.synced(ctx, s.OAuthStore.DeleteConsent(ctx, userID, clientID, at, events...))
}

// DeleteClient revokes every token of the client.
func (s SyncingStore) DeleteClient(ctx context.Context, id string, at time.Time, events ...auth.AuditEvent) error {
	return s.synced(ctx, s.OAuthStore.DeleteClient(ctx, id, at, events...))
}
