package auth

import (
	"context"
	"time"
)

// ChangeKind names what kind of record a Change is about: every change that
// can refuse a caller on a node other than the one that made it.
type ChangeKind string

// The kinds of Change. The PostgreSQL backend writes each into its
// notification payload, so their text is part of its wire format between
// nodes of different versions: add kinds, never rename one.
const (
	ChangeAPIKey     ChangeKind = "api_key"     // rotated or revoked; ID is the key's
	ChangeClient     ChangeKind = "client"      // updated (secret rotated, disabled) or deleted
	ChangeUser       ChangeKind = "user"        // updated (disabled, password reset) or deleted
	ChangeConsent    ChangeKind = "consent"     // revoked; ID is the user's
	ChangeRoute      ChangeKind = "route"       // created, updated or deleted; ID is the name
	ChangeSigningKey ChangeKind = "signing_key" // created, retired or deleted; ID is the kid
	ChangeRevocation ChangeKind = "revocation"  // access tokens put on the revocation list; no ID
)

// ChangeKinds lists every kind, for watchers that must say "anything of
// every kind may have changed".
var ChangeKinds = []ChangeKind{
	ChangeAPIKey, ChangeClient, ChangeUser, ChangeConsent, ChangeRoute, ChangeSigningKey, ChangeRevocation,
}

// Change says that a record was changed by a committed transaction, on this
// node or another. An empty ID means that any record of that kind may have
// changed: the consumer drops, or rereads, everything of that kind.
type Change struct {
	Kind ChangeKind
	ID   string
}

// ChangeWatcher is implemented by backends shared by several nodes, which
// can tell every node what any node changed so that its caches drop the
// record at once. A backend without one (SQLite) serves one node, whose
// services drop their own changes from their caches themselves.
type ChangeWatcher interface {
	// WatchChanges reports to h, until ctx is done, every change committed
	// by any node and how far that report is known to be complete. It
	// returns ctx.Err() then, or the error that stopped it.
	WatchChanges(ctx context.Context, h ChangeHandler) error
}

// FeedMaxAge is how long a ChangeHandler.FeedSynced vouches for a feed: a
// cache that drops changed records may answer from an entry without
// reading the store only until FeedMaxAge after the at of the last
// FeedSynced, measured on the monotonic clock (never on a wall clock, which
// may be stepped back, nor on an injected Now), and never between a
// FeedLost and the next FeedSynced. So a change committed on any node is
// honoured by every node within it, even when a watcher's connection dies
// without a word. A healthy watcher calls FeedSynced well within it (the
// PostgreSQL backend: every quarter of it).
const FeedMaxAge = time.Second

// ChangeHandler receives what a ChangeWatcher hears, one call at a time,
// from the watcher's goroutine; each call must return quickly.
type ChangeHandler interface {
	// Changed reports a committed change. A change may be reported more
	// than once, and a watcher that cannot say which records of a kind
	// changed while it was away reports the kind with an empty ID.
	Changed(c Change)
	// FeedSynced reports that every change committed before at has been
	// passed to Changed. at is a time.Now reading taken on this node
	// (no later than the call) with its monotonic clock reading intact:
	// not rounded, converted (UTC, In) or decoded, so that the handler can
	// measure FeedMaxAge from it on the monotonic clock.
	FeedSynced(at time.Time)
	// FeedLost reports, as soon as the watcher knows it, that changes may
	// go unreported (its connection failed); err says why. What is missed
	// meanwhile is reported before a later FeedSynced covers it.
	FeedLost(err error)
}
