package changes

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The watcher is restarted with backoff between these bounds when it
// stops on its own (the store was closed, or refused to watch).
const (
	minRestartBackoff = time.Second
	maxRestartBackoff = 30 * time.Second
)

// Feed runs a node's one watcher and passes what it reports on to the
// handlers subscribed to each kind of change: Changed to those of the
// change's kind, FeedSynced and FeedLost to all. Handlers are called one
// at a time from Run's goroutine, as auth.ChangeHandler requires, and must
// return quickly: one that has slow work to do (reread the routes, reload
// the signing keys) wakes a goroutine of its own, as Kick does.
type Feed struct {
	watcher  auth.ChangeWatcher
	log      *slog.Logger
	byKind   map[auth.ChangeKind][]auth.ChangeHandler
	handlers []auth.ChangeHandler // each once, in subscription order

	// grace is the store outage grace (see StoreOutage); zero: none.
	// trust follows the feed as its subscribers' do, so that the node can
	// tell (InGrace, logs) whether its caches answer from the grace.
	grace  time.Duration
	trust  *Trust
	graced bool        // whether the last FeedLost started or continued a grace; Run's goroutine only
	expiry *time.Timer // logs the grace's end if no FeedSynced comes first
}

var _ auth.ChangeHandler = (*Feed)(nil)

// New returns the feed of w. A nil logger discards.
func New(w auth.ChangeWatcher, log *slog.Logger) *Feed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feed{watcher: w, log: log, byKind: map[auth.ChangeKind][]auth.ChangeHandler{}, trust: NewTrust(true)}
}

// SetOutageGrace sets the store outage grace (see StoreOutage): how long
// after the feed's last sync the caches of a node that cannot reach its
// database keep answering. Zero (the default) keeps them failing closed
// after auth.FeedMaxAge. Set it before Run.
func (f *Feed) SetOutageGrace(d time.Duration) { f.grace = max(d, 0) }

// InGrace reports whether the node's caches are answering now only by the
// store outage grace.
func (f *Feed) InGrace() bool { return f.trust.Graced() }

// Subscribe has h told of the changes of the given kinds, and of the
// feed's state. Subscribe before Run: a handler added later may miss a
// change.
func (f *Feed) Subscribe(h auth.ChangeHandler, kinds ...auth.ChangeKind) {
	for _, k := range kinds {
		f.byKind[k] = append(f.byKind[k], h)
	}
	if !slices.Contains(f.handlers, h) {
		f.handlers = append(f.handlers, h)
	}
}

// Run follows the watcher until ctx is done, then returns nil (the
// contract of internal/background). If the watcher stops on its own it is
// restarted with backoff; meanwhile its handlers have been told FeedLost,
// and before the new watch each is told that anything of its kinds may
// have changed (an empty ID): a new watch reports only what changes after
// it starts, so what changed in between is otherwise lost.
func (f *Feed) Run(ctx context.Context) error {
	backoff := minRestartBackoff
	for {
		started := time.Now()
		err := f.watcher.WatchChanges(ctx, f)
		if ctx.Err() != nil {
			f.FeedLost(ctx.Err()) // nobody follows the feed any more
			return nil
		}
		f.FeedLost(err)
		if time.Since(started) > maxRestartBackoff {
			backoff = minRestartBackoff // it worked for a while: a new failure
		}
		f.log.WarnContext(ctx, "changes: the change feed stopped; restarting it",
			slog.Any("err", err), slog.Duration("retry_in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxRestartBackoff)
		for kind := range f.byKind {
			f.Changed(auth.Change{Kind: kind})
		}
	}
}

// Changed passes c on to the handlers of its kind; a kind nobody
// subscribed to (or a newer node's) is ignored.
func (f *Feed) Changed(c auth.Change) {
	for _, h := range f.byKind[c.Kind] {
		h.Changed(c)
	}
}

// FeedSynced passes on to every handler. It ends a store outage grace:
// the watcher has reported what changed meanwhile before calling it.
func (f *Feed) FeedSynced(at time.Time) {
	f.trust.Synced(at)
	for _, h := range f.handlers {
		h.FeedSynced(at)
	}
	f.endGrace("changes: the change feed is back and caught up; caches are trusted again")
}

// FeedLost passes on to every handler; when the database is unreachable
// and a grace is set, err reaches them as a *StoreOutage.
func (f *Feed) FeedLost(err error) {
	if f.grace > 0 && Unreachable(err) {
		err = &StoreOutage{Err: err, Grace: f.grace}
	}
	f.trust.Lost(err)
	for _, h := range f.handlers {
		h.FeedLost(err)
	}
	switch graced := f.trust.Graced(); {
	case graced && !f.graced:
		f.graced = true
		remaining := f.trust.remaining()
		f.log.Warn("changes: the database is unreachable; cached keys, clients and the revocation list answer as of the last sync (store outage grace), writes and unknown keys fail",
			slog.Any("err", err), slog.Duration("grace_left", remaining))
		f.expiry = time.AfterFunc(remaining, func() {
			f.log.Warn("changes: the store outage grace ran out; every cache fails closed until the database is back")
		})
	case !graced:
		f.endGrace("changes: the store outage grace ended; caches fail closed until the change feed is back")
	}
}

// endGrace logs the end of a grace in progress, once.
func (f *Feed) endGrace(msg string) {
	if !f.graced {
		return
	}
	f.graced = false
	if f.expiry.Stop() {
		f.log.Info(msg) // the grace had not run out: this is its end
	}
}

// Kick is a handler for consumers that reread the store on any change of
// their kinds: each Changed wakes whoever receives from C, without waiting.
// Any number of changes before the receiver gets to it make one wake-up.
//
// While the feed does not vouch for itself (see Trust: before its first
// FeedSynced, more than auth.FeedMaxAge after the last one, and from a
// FeedLost to the next FeedSynced) a change may go unreported, so Run also
// wakes the receiver when the feed's last FeedSynced stops vouching and
// then every auth.FeedMaxAge until the next one: a change made on another
// node is reread here within auth.FeedMaxAge of it even then, as the key
// and client caches read the store. The consumer's own poll is only the
// safety net of a Kick that is not run.
type Kick struct {
	C chan struct{}

	trust  *Trust
	synced chan struct{}                        // a FeedSynced moved the end of the trust: Run recomputes it
	after  func(time.Duration) <-chan time.Time // time.After; tests replace it
}

var _ auth.ChangeHandler = (*Kick)(nil)

// NewKick returns a Kick whose C holds one pending wake-up.
func NewKick() *Kick {
	return &Kick{
		C:      make(chan struct{}, 1),
		trust:  NewTrust(true),
		synced: make(chan struct{}, 1),
		after:  time.After,
	}
}

// Changed wakes the receiver.
func (k *Kick) Changed(auth.Change) { k.wake() }

func (k *Kick) wake() {
	select {
	case k.C <- struct{}{}:
	default: // one is pending already, and covers this change too
	}
}

// FeedSynced has the feed vouch for auth.FeedMaxAge after at.
func (k *Kick) FeedSynced(at time.Time) {
	k.trust.Synced(at)
	select {
	case k.synced <- struct{}{}:
	default:
	}
}

// FeedLost stops the feed vouching: Run wakes the receiver when the last
// FeedSynced would have stopped vouching anyway, the moment up to which
// every change was reported, and every auth.FeedMaxAge from then on.
func (k *Kick) FeedLost(err error) { k.trust.Lost(err) }

// Run wakes the receiver while the feed does not vouch for itself (see
// Kick), until ctx is done; it returns nil then (the contract of
// internal/background).
func (k *Kick) Run(ctx context.Context) error {
	for {
		wait := k.trust.remaining()
		if wait <= 0 {
			k.wake()
			wait = auth.FeedMaxAge
		}
		select {
		case <-ctx.Done():
			return nil
		case <-k.after(wait):
		case <-k.synced:
		}
	}
}
