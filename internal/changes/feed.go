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
}

var _ auth.ChangeHandler = (*Feed)(nil)

// New returns the feed of w. A nil logger discards.
func New(w auth.ChangeWatcher, log *slog.Logger) *Feed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Feed{watcher: w, log: log, byKind: map[auth.ChangeKind][]auth.ChangeHandler{}}
}

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

// FeedSynced passes on to every handler.
func (f *Feed) FeedSynced(at time.Time) {
	for _, h := range f.handlers {
		h.FeedSynced(at)
	}
}

// FeedLost passes on to every handler.
func (f *Feed) FeedLost(err error) {
	for _, h := range f.handlers {
		h.FeedLost(err)
	}
}

// Kick is a handler for consumers that reread the store on any change of
// their kinds: each Changed wakes whoever receives from C, without waiting.
// Any number of changes before the receiver gets to it make one wake-up.
// It ignores the feed's state: such a consumer polls as well, its safety
// net while the feed is lost.
type Kick struct {
	C chan struct{}
}

var _ auth.ChangeHandler = (*Kick)(nil)

// NewKick returns a Kick whose C holds one pending wake-up.
func NewKick() *Kick { return &Kick{C: make(chan struct{}, 1)} }

// Changed wakes the receiver.
func (k *Kick) Changed(auth.Change) {
	select {
	case k.C <- struct{}{}:
	default: // one is pending already, and covers this change too
	}
}

// FeedSynced does nothing: the receiver polls anyway.
func (k *Kick) FeedSynced(time.Time) {}

// FeedLost does nothing: the receiver polls anyway.
func (k *Kick) FeedLost(error) {}
