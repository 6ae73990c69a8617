package apikey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

const (
	// finalFlushTimeout bounds the flush Run does on its way out.
	finalFlushTimeout = 5 * time.Second
	// defaultFlushBatch bounds the records written in one store call, so
	// that no transaction grows with the number of keys in use.
	defaultFlushBatch = 500
)

// Run does the service's background work until ctx is done: every
// FlushInterval it calls Flush. When ctx is done it flushes one last time
// (with a fresh context of a few seconds) and returns nil, as
// background.Runner requires. Failed flushes are logged and retried on the
// next tick: nothing collected is dropped. (Keys changed on other nodes
// reach the cache through Config.Changes, which the node's change feed
// runs.)
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(s.flushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := s.Flush(ctx); err != nil {
				s.log.WarnContext(ctx, "apikey: flush failed; will retry", slog.Any("err", err))
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			if err := s.Flush(fctx); err != nil {
				s.log.WarnContext(fctx, "apikey: final flush failed", slog.Any("err", err))
			}
			return nil
		}
	}
}

// Flush does at once what Run does every FlushInterval: it writes the
// last-used times recorded since the last flush (store.TouchAPIKeys) and
// the failed verifications as aggregated key.verification_failed audit
// events (Reason: the code, Count: how many), the credits counted in Redis
// (with their key.usage_exceeded events), has the store report newly
// expired keys (one key.expired event per key), and drops idle rate-limit
// buckets and the expired entries of both caches. What could not be written
// is kept for the next flush. The error joins the store's errors, wrapped.
func (s *Service) Flush(ctx context.Context) error {
	now := s.now()
	var errs []error
	if err := s.flushTouched(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.flushFailed(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if err := s.flushCredits(ctx); err != nil {
		errs = append(errs, err)
	}
	if ids, err := s.store.MarkExpiredAPIKeys(ctx, now); err != nil {
		errs = append(errs, fmt.Errorf("apikey: mark expired keys: %w", err))
	} else if len(ids) > 0 {
		s.log.InfoContext(ctx, "apikey: keys expired", slog.Int("count", len(ids)))
	}
	s.limits.Sweep(now)
	if s.cache != nil {
		s.cache.sweep(now)
	}
	if s.negative != nil {
		s.negative.sweep(now)
	}
	return errors.Join(errs...)
}

func (s *Service) flushTouched(ctx context.Context) error {
	touched := s.usage.takeTouched()
	batch := make(map[string]time.Time, min(len(touched), s.flushBatch))
	write := func() error {
		if err := s.store.TouchAPIKeys(ctx, batch); err != nil {
			return fmt.Errorf("apikey: record last-used times: %w", err)
		}
		for id := range batch {
			delete(touched, id)
		}
		clear(batch)
		return nil
	}
	var err error
	for id, t := range touched {
		batch[id] = t
		if len(batch) == s.flushBatch {
			if err = write(); err != nil {
				break
			}
		}
	}
	if err == nil && len(batch) > 0 {
		err = write()
	}
	if err != nil {
		s.usage.restoreTouched(touched) // what was not written
	}
	return err
}

func (s *Service) flushFailed(ctx context.Context, now time.Time) error {
	failed := s.usage.takeFailed()
	if len(failed) == 0 {
		return nil
	}
	events := make([]auth.AuditEvent, 0, len(failed))
	for k, n := range failed {
		events = append(events, auth.AuditEvent{
			Time: now, Type: auth.EventKeyVerificationFailed, Actor: auth.ActorSystem,
			KeyID: k.id, Reason: string(k.code), Count: n,
		})
	}
	// A stable order makes the audit log easier to read (and to test).
	slices.SortFunc(events, func(a, b auth.AuditEvent) int {
		return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Reason, b.Reason))
	})
	for len(events) > 0 {
		n := min(len(events), s.flushBatch)
		if err := s.audit.AppendAuditEvents(ctx, events[:n]...); err != nil {
			rest := make(map[failKey]int64, len(events))
			for _, ev := range events {
				rest[failKey{ev.KeyID, Code(ev.Reason)}] = ev.Count
			}
			s.usage.restoreFailed(rest)
			return fmt.Errorf("apikey: record failed verifications: %w", err)
		}
		events = events[n:]
	}
	return nil
}
