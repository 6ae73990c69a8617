package signing

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Run does the keyring's background work until ctx is done, then returns
// nil (the contract of background.Runner): every ReloadInterval it reloads
// the keys, retires keys that a newer one has superseded, publishes the
// next key when there is none, and deletes keys that have expired; and it
// reloads at once whenever Options.Changed says another node changed a
// key. Any node may run it; nodes need no coordination (see Keyring).
// Failures are logged and retried on the next tick.
func (k *Keyring) Run(ctx context.Context) error {
	tick := time.NewTicker(k.opts.ReloadInterval)
	defer tick.Stop()
	for {
		if err := k.maintain(ctx); err != nil && ctx.Err() == nil {
			k.log.WarnContext(ctx, "signing: key maintenance failed; will retry", slog.Any("err", err))
		}
		if !k.awaitTick(ctx, tick.C) {
			return nil
		}
	}
}

// awaitTick reloads on every Options.Changed until tick fires (true) or
// ctx is done (false).
func (k *Keyring) awaitTick(ctx context.Context, tick <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case <-k.opts.Changed:
			if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
				k.log.WarnContext(ctx, "signing: reload after a key change failed; the next tick retries", slog.Any("err", err))
			}
		}
	}
}

// maintain is one pass of Run.
func (k *Keyring) maintain(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(ctx); err != nil {
		return err
	}
	_, err := k.maintainLocked(ctx)
	return err
}

// maintainLocked brings the stored keys in line with the schedule, on the
// keys last loaded, and reloads if it changed anything. It returns the
// number of changes. Every step is safe to race with another node doing
// the same: a key retired twice answers ECONFLICT, which is ignored, and a
// next key created twice is retired on a later pass.
func (k *Keyring) maintainLocked(ctx context.Context) (int, error) {
	now := k.now()
	s := k.snap.Load()
	changes := 0
	cur := s.current(now)
	if cur == nil {
		// An empty store (first start), or every key retired: start a new
		// chain. Nobody can have cached a key that never existed, so the
		// first key signs at once.
		if err := k.create(ctx, now, now, auth.ActorSystem); err != nil {
			return changes, err
		}
		changes++
		if err := k.reloadLocked(ctx); err != nil {
			return changes, err
		}
		s = k.snap.Load()
		if cur = s.current(now); cur == nil {
			return changes, fmt.Errorf("signing: the key just created cannot sign")
		}
	}

	var pending []*entry
	for _, e := range s.keys {
		switch {
		case e.retired() || e == cur:
		case !e.activatesAt.After(now):
			// Superseded by cur, which activated later (or ties with a
			// smaller kid): it has signed its last token.
			if err := k.retire(ctx, e, now, auth.ActorSystem, "superseded"); err != nil {
				return changes, err
			}
			changes++
		default:
			pending = append(pending, e)
		}
	}

	// Keep exactly one next key: the one that would sign first. Others are
	// duplicates from nodes racing to publish, or keys of an algorithm the
	// configuration no longer names; none of them has signed anything.
	var next *entry
	for _, e := range pending {
		if next == nil || e.activatesAt.Before(next.activatesAt) ||
			(e.activatesAt.Equal(next.activatesAt) && e.kid < next.kid) {
			next = e
		}
	}
	for _, e := range pending {
		if e != next {
			if err := k.retire(ctx, e, now, auth.ActorSystem, "duplicate next key"); err != nil {
				return changes, err
			}
			changes++
		}
	}
	// A next key of another algorithm is replaced only if it predates this
	// keyring: the configuration changed across a restart. Nodes that
	// disagree on the algorithm therefore never replace each other's keys
	// in a loop; each replaces at most the keys that existed when it
	// started.
	if next != nil && next.alg != k.opts.Algorithm && next.createdAt.Before(k.started) {
		k.log.InfoContext(ctx, "signing: replacing the next key with one of the configured algorithm",
			slog.String("kid", next.kid), slog.String("alg", next.alg), slog.String("configured", k.opts.Algorithm))
		activates := maxTime(next.activatesAt, now.Add(publishDelay(&k.opts)))
		if err := k.create(ctx, now, activates, auth.ActorSystem); err != nil {
			return changes, err
		}
		changes++
		if err := k.retire(ctx, next, now, auth.ActorSystem, "algorithm changed"); err != nil {
			return changes, err
		}
		changes++
		next = nil
	} else if next == nil {
		// If the schedule fell behind (no node ran for a while), the next
		// key still gets a full publication delay before it signs.
		activates := maxTime(cur.activatesAt.Add(k.opts.RotationPeriod), now.Add(publishDelay(&k.opts)))
		if err := k.create(ctx, now, activates, auth.ActorSystem); err != nil {
			return changes, err
		}
		changes++
	}

	deleted, err := k.store.DeleteExpiredSigningKeys(ctx, now)
	if err != nil {
		return changes, fmt.Errorf("signing: delete expired keys: %w", err)
	}
	for _, id := range deleted {
		k.log.InfoContext(ctx, "signing: deleted an expired key", slog.String("kid", id))
	}
	changes += len(deleted)
	if changes > 0 {
		if err := k.reloadLocked(ctx); err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// Rotate retires the current key now, so the published next key signs at
// once, and publishes a new next key. It reloads first, so it acts on the
// store as it is. actor names the admin key that asked (auth.ActorSystem if
// none). It returns the key that now signs.
//
// ECONFLICT if the next key has been published for less than the JWKS
// max-age plus the reload interval (clients and nodes may not know it yet:
// signing with it would fail their verification), or if another node
// rotated at the same moment.
func (k *Keyring) Rotate(ctx context.Context, actor string) (KeyInfo, error) {
	if actor == "" {
		actor = auth.ActorSystem
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(ctx); err != nil {
		return KeyInfo{}, err
	}
	// Bring the store in line first: after this there is a current key and
	// exactly one next key, and no other key that may sign.
	if _, err := k.maintainLocked(ctx); err != nil {
		return KeyInfo{}, err
	}
	now := k.now()
	s := k.snap.Load()
	cur := s.current(now)
	var next *entry
	for _, e := range s.keys {
		if !e.retired() && e != cur {
			next = e
		}
	}
	if cur == nil || next == nil {
		return KeyInfo{}, fmt.Errorf("signing: rotate: no current and next key")
	}
	if ready := next.createdAt.Add(publishDelay(&k.opts)); now.Before(ready) {
		return KeyInfo{}, auth.Errorf(auth.ECONFLICT,
			"The next signing key was published at %s; clients may not have it yet. Rotate again after %s.",
			next.createdAt.Format(time.RFC3339), ready.Format(time.RFC3339))
	}
	if err := k.retire(ctx, cur, now, actor, "rotated"); err != nil {
		return KeyInfo{}, err
	}
	if err := k.create(ctx, now, next.activatesAt.Add(k.opts.RotationPeriod), actor); err != nil {
		// The old key is retired and next signs: the rotation happened.
		// Run will publish the following key.
		k.log.WarnContext(ctx, "signing: rotated, but publishing the following key failed", slog.Any("err", err))
	}
	if err := k.reloadLocked(ctx); err != nil {
		return KeyInfo{}, err
	}
	s = k.snap.Load()
	now = k.now()
	signing := s.current(now)
	if signing == nil {
		return KeyInfo{}, fmt.Errorf("signing: rotate: no key signs after rotation")
	}
	return signing.info(signing, now), nil
}

// create generates, seals and stores a key of the configured algorithm.
func (k *Keyring) create(ctx context.Context, now, activatesAt time.Time, actor string) error {
	rec, _, err := newSigningKey(k.sealer, k.opts.Algorithm, k.opts.RSABits, now, activatesAt)
	if err != nil {
		return err
	}
	ev := auth.AuditEvent{
		Time: now, Type: auth.EventSigningKeyCreated, Actor: actor, Count: 1,
		Details: map[string]string{"kid": rec.ID, "alg": rec.Algorithm, "activates_at": activatesAt.UTC().Format(time.RFC3339)},
	}
	if err := k.store.CreateSigningKey(ctx, rec, ev); err != nil {
		return fmt.Errorf("signing: store new key: %w", err)
	}
	k.log.InfoContext(ctx, "signing: created a key", slog.String("kid", rec.ID), slog.String("alg", rec.Algorithm),
		slog.Time("activates_at", activatesAt))
	return nil
}

// retire stops e from signing and keeps it published for the retention
// time. A key another node retired first is not an error.
func (k *Keyring) retire(ctx context.Context, e *entry, now time.Time, actor, reason string) error {
	expires := now.Add(retention(&k.opts))
	ev := auth.AuditEvent{
		Time: now, Type: auth.EventSigningKeyRetired, Actor: actor, Count: 1,
		Details: map[string]string{"kid": e.kid, "alg": e.alg, "reason": reason, "expires_at": expires.UTC().Format(time.RFC3339)},
	}
	err := k.store.RetireSigningKey(ctx, e.kid, now, expires, ev)
	switch {
	case err == nil:
		k.log.InfoContext(ctx, "signing: retired a key", slog.String("kid", e.kid), slog.String("reason", reason))
		return nil
	case auth.ErrorCode(err) == auth.ECONFLICT && actor == auth.ActorSystem:
		return nil
	default:
		return fmt.Errorf("signing: retire key %s: %w", e.kid, err)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
