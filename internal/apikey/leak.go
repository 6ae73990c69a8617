package apikey

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// LeakOutcome is what ReportLeaked found and did.
type LeakOutcome int

const (
	// LeakMalformed: not one of our keys by its format or checksum; the
	// store was not read.
	LeakMalformed LeakOutcome = iota
	// LeakUnknown: well-formed, but the store holds no such key.
	LeakUnknown
	// LeakRevoked: a live key, revoked now with a key.leaked and a
	// key.revoked event.
	LeakRevoked
	// LeakNotified: a live key, left valid with a key.leaked event.
	LeakNotified
	// LeakInactive: a key of ours that was already revoked or expired;
	// nothing was written.
	LeakInactive
)

// Ours reports whether the reported string is a key this deployment issued
// (live or not): a true positive for whoever reported it.
func (o LeakOutcome) Ours() bool { return o >= LeakRevoked }

// String names the outcome for logs and metrics.
func (o LeakOutcome) String() string {
	switch o {
	case LeakMalformed:
		return "malformed"
	case LeakUnknown:
		return "unknown"
	case LeakRevoked:
		return "revoked"
	case LeakNotified:
		return "notified"
	case LeakInactive:
		return "inactive"
	}
	return fmt.Sprintf("LeakOutcome(%d)", int(o))
}

// LeakReport is ReportLeaked's answer.
type LeakReport struct {
	Outcome LeakOutcome
	KeyID   string // "" for LeakMalformed and LeakUnknown
}

// ReportLeaked handles a report that key was found in public at url
// (source says where, as the reporter names it: "commit", "content", ...).
// It checks the format and checksum first, without any I/O, since most
// reports of a scanner are noise; then it looks the key up by its keyed hash
// in the store (not the caches: a report must act on the current record).
// A live key — not revoked, not expired — gets a key.leaked event with url
// and source, and with revoke it is also revoked, in the same store
// transaction (with a key.revoked event, so that whatever watches
// revocations sees this one) and dropped from this node's cache at once,
// as Revoke does. Keys of every environment are handled, whatever
// Config.Environments accepts: a leaked test key is still a leaked key.
//
// key is never logged nor stored. url and source are stored as given:
// the caller bounds and cleans them.
//
// Errors: the store's, wrapped (auth.ErrorCode gives their code).
func (s *Service) ReportLeaked(ctx context.Context, key, url, source string, revoke bool) (LeakReport, error) {
	prefix, err := Parse(key)
	if err != nil {
		return LeakReport{Outcome: LeakMalformed}, nil
	}
	sum := s.hasher.Sum(key)
	k, err := s.store.GetAPIKeyByHash(ctx, sum[:])
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return LeakReport{Outcome: LeakUnknown}, nil
	}
	if err != nil {
		return LeakReport{}, fmt.Errorf("apikey: report leaked key: %w", err)
	}
	// As in read: never trust the store's match alone.
	if subtle.ConstantTimeCompare(k.Hash, sum[:]) != 1 || k.Prefix != prefix {
		s.log.ErrorContext(ctx, "apikey: the store returned a key whose hash does not match the one asked for", slog.String("key_id", k.ID))
		return LeakReport{Outcome: LeakUnknown}, nil
	}
	now := s.now()
	if !k.RevokedAt.IsZero() || auth.Expired(k.ExpiresAt, now) {
		return LeakReport{Outcome: LeakInactive, KeyID: k.ID}, nil
	}
	action := "notified"
	if revoke {
		action = "revoked"
	}
	leaked := auth.AuditEvent{
		Time: now, Type: auth.EventKeyLeaked, Actor: auth.ActorSystem, KeyID: k.ID, Count: 1,
		Details: map[string]string{"url": url, "source": source, "action": action},
	}
	if !revoke {
		if err := s.audit.AppendAuditEvents(ctx, leaked); err != nil {
			return LeakReport{}, fmt.Errorf("apikey: report leaked key: %w", err)
		}
		return LeakReport{Outcome: LeakNotified, KeyID: k.ID}, nil
	}
	revoked := auth.AuditEvent{
		Time: now, Type: auth.EventKeyRevoked, Actor: auth.ActorSystem, KeyID: k.ID, Count: 1,
		Details: map[string]string{"reason": "leaked"},
	}
	_, err = s.store.RevokeAPIKey(ctx, k.ID, now, leaked, revoked)
	s.Invalidate(k.ID) // also on error: the store may have committed
	switch {
	case auth.ErrorCode(err) == auth.ENOTFOUND:
		return LeakReport{Outcome: LeakUnknown}, nil // deleted meanwhile
	case err != nil:
		return LeakReport{}, fmt.Errorf("apikey: revoke leaked key: %w", err)
	}
	return LeakReport{Outcome: LeakRevoked, KeyID: k.ID}, nil
}
