package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Store is what the Flusher writes to: a narrow part of auth.UsageStore.
type Store interface {
	AddUsage(ctx context.Context, counts []auth.UsageCount) error
	DeleteUsageBefore(ctx context.Context, g auth.Granularity, t time.Time) (int64, error)
}

// Defaults of Flusher.
const (
	DefaultFlushInterval = 5 * time.Second
	DefaultPruneInterval = time.Hour
	// finalFlushTimeout bounds the flush Run does on its way out.
	finalFlushTimeout = 5 * time.Second
)

// Flusher writes a Counter's counts to the store every Interval, and
// deletes the buckets older than their retention every PruneInterval.
type Flusher struct {
	Counter   *Counter
	Store     Store
	Interval  time.Duration       // default DefaultFlushInterval
	Retention auth.UsageRetention // zero members: auth.DefaultUsageRetention's
	// PruneInterval is how often old buckets are deleted; default
	// DefaultPruneInterval. The first prune runs at the first tick.
	PruneInterval time.Duration
	Now           auth.Now     // default auth.SystemNow
	Logger        *slog.Logger // default: discard
}

// Run flushes every Interval and prunes every PruneInterval until ctx is
// done; then it flushes one last time, with a fresh context of a few
// seconds, and returns nil (background.Runner). A failed flush keeps its
// counts for the next one: nothing counted is lost while the process
// lives.
func (f *Flusher) Run(ctx context.Context) error {
	interval := cmpOr(f.Interval, DefaultFlushInterval)
	pruneEvery := cmpOr(f.PruneInterval, DefaultPruneInterval)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-tick.C:
			if err := f.flushUninterrupted(ctx); err != nil {
				f.log().WarnContext(ctx, "usage: flush failed; the counts are kept for the next one", slog.Any("err", err))
			}
			if now := f.now(); now.Sub(lastPrune) >= pruneEvery {
				if err := f.Prune(ctx); err != nil && ctx.Err() == nil {
					f.log().WarnContext(ctx, "usage: pruning old buckets failed; will retry", slog.Any("err", err))
				} else {
					lastPrune = now
				}
			}
		case <-ctx.Done():
			if err := f.flushUninterrupted(ctx); err != nil {
				f.log().ErrorContext(ctx, "usage: final flush failed; these counts are lost", slog.Any("err", err))
			}
			return nil
		}
	}
}

// flushUninterrupted flushes with a context that stopping Run does not
// cancel, bounded by finalFlushTimeout instead. A write cancelled while
// committing may have landed without the acknowledgement arriving; its
// counts, restored as failed, would then be written twice by the next
// flush.
func (f *Flusher) flushUninterrupted(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
	defer cancel()
	return f.Flush(fctx)
}

// Flush writes the counts taken from the Counter since the last flush, in
// one store transaction. If the store fails they go back into the Counter,
// to be written by the next flush.
func (f *Flusher) Flush(ctx context.Context) error {
	cells := f.Counter.Take()
	if len(cells) == 0 {
		return nil
	}
	counts := make([]auth.UsageCount, 0, len(cells))
	for c, n := range cells {
		counts = append(counts, auth.UsageCount{
			UsageSubject: auth.UsageSubject{KeyID: c.KeyID, ClientID: c.ClientID, UserID: c.UserID, Route: c.Route, Owner: c.Owner},
			Outcome:      c.Outcome,
			Start:        c.Start(),
			Count:        n,
		})
	}
	err := f.Store.AddUsage(ctx, counts)
	if auth.ErrorCode(err) == auth.EINVALID {
		// Text no store keeps (a NUL in another issuer's subject) would
		// fail every flush: such counts are dropped, the others written.
		var kept []auth.UsageCount
		dropped := 0
		for _, c := range counts {
			if _, cerr := auth.RollUpUsage([]auth.UsageCount{c}); cerr != nil {
				dropped++
				continue
			}
			kept = append(kept, c)
		}
		if dropped > 0 {
			f.log().WarnContext(ctx, "usage: counts the store cannot keep were dropped", slog.Int("count", dropped))
			err = f.Store.AddUsage(ctx, kept)
		}
		if err == nil {
			return nil
		}
	}
	if err == nil {
		return nil
	}
	f.Counter.Restore(cells)
	return fmt.Errorf("usage: flush: %w", err)
}

// Prune deletes the buckets of each granularity older than its retention.
func (f *Flusher) Prune(ctx context.Context) error {
	now := f.now()
	ret := f.retention()
	var errs []error
	for _, g := range auth.Granularities {
		if _, err := f.Store.DeleteUsageBefore(ctx, g, g.Floor(now.Add(-ret.Of(g)))); err != nil {
			errs = append(errs, fmt.Errorf("usage: prune %s buckets: %w", g, err))
		}
	}
	return errors.Join(errs...)
}

func (f *Flusher) retention() auth.UsageRetention {
	d := auth.DefaultUsageRetention
	return auth.UsageRetention{
		Minute: cmpOr(f.Retention.Minute, d.Minute),
		Hour:   cmpOr(f.Retention.Hour, d.Hour),
		Day:    cmpOr(f.Retention.Day, d.Day),
	}
}

func (f *Flusher) now() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}

func (f *Flusher) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
