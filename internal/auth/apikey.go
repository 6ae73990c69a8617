package auth

import (
	"context"
	"math"
	"net/netip"
	"strings"
	"time"
)

// APIKey is a server-generated secret held by a service or integration.
// The plaintext key is never stored: only Hash, a keyed hash of it.
type APIKey struct {
	ID     string // short, non-secret, time-ordered id ("key_..."); what lists and logs show
	Hash   []byte // HMAC-SHA-256 of the full plaintext key under the server secret (32 bytes)
	Prefix string // environment prefix the key starts with, e.g. "sk_live_"
	Hint   string // last 4 characters of the key, to help people recognise it

	Owner    string            // the service or client the key belongs to
	Name     string            // a label chosen by the operator
	Scopes   []string          // sorted, unique
	Metadata map[string]string // free-form, not interpreted

	RateLimit      RateLimit     // zero means unlimited
	RotationPeriod time.Duration // scheduled rotation policy; zero means none

	// Credits is the key's usage quota; nil means none. On a record read
	// for verification, Remaining is only as fresh as the read: spending
	// goes through the store (or Redis), never through the record.
	Credits *Credits
	// CreditsKeyID is the key whose credits this one spends: "" for its
	// own, else the first key of its rotation chain. A rotation's old and
	// new keys share one balance (read from that key's record into
	// Credits), so a grace period never doubles the credits.
	CreditsKeyID string
	// AllowedIPs restricts the callers' addresses; empty means any.
	AllowedIPs []netip.Prefix

	CreatedAt     time.Time
	ExpiresAt     time.Time // zero: never expires
	RevokedAt     time.Time // zero: not revoked
	LastUsedAt    time.Time // zero: never used; written in batches
	RotationDueAt time.Time // CreatedAt + RotationPeriod; zero without a policy
	RotatedFrom   string    // the key this one replaced
	RotatedTo     string    // the key that replaced this one; set by a rotation
}

// CreditsLedger is the ID of the key whose record holds k's credits.
func (k *APIKey) CreditsLedger() string {
	if k.CreditsKeyID != "" {
		return k.CreditsKeyID
	}
	return k.ID
}

// RateLimit is a token bucket: Burst tokens at most, refilled at Rate per
// second. The zero value means no limit.
type RateLimit struct {
	Rate  float64 // tokens per second
	Burst int     // bucket size
}

// Unlimited reports whether the limit is off.
func (r RateLimit) Unlimited() bool { return r.Rate <= 0 || r.Burst <= 0 }

// DefaultBurst is the burst of a limit given only its rate: one second's
// worth of requests, at least one; 0 for no rate (no limit).
func DefaultBurst(rate float64) int {
	if rate <= 0 {
		return 0
	}
	return int(math.Max(1, math.Ceil(rate)))
}

// Key states, as reported by Status.
const (
	KeyActive   = "active"
	KeyRotating = "rotating" // replaced, but valid until its grace period ends
	KeyExpired  = "expired"
	KeyRevoked  = "revoked"
)

// Status reports the state of k at time now.
func (k *APIKey) Status(now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt):
		return KeyRevoked
	case Expired(k.ExpiresAt, now):
		return KeyExpired
	case k.RotatedTo != "":
		return KeyRotating
	default:
		return KeyActive
	}
}

// RotationDue reports whether the key's rotation policy says it should be
// rotated by now. A key that has been rotated, revoked or expired is never due.
func (k *APIKey) RotationDue(now time.Time) bool {
	return !k.RotationDueAt.IsZero() && !now.Before(k.RotationDueAt) && k.Status(now) == KeyActive
}

// HasScopes reports whether k holds every scope in want.
func (k *APIKey) HasScopes(want []string) bool {
	for _, w := range want {
		found := false
		for _, s := range k.Scopes {
			if s == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// CreditSpend is the outcome of SpendAPIKeyCredits.
type CreditSpend struct {
	Spent     bool  // the credits were taken
	Remaining int64 // credits left after the call
	Unmetered bool  // the key has no credits (any more): nothing to take
}

// APIKeyFilter selects keys in ListAPIKeys. Keys are listed in ascending ID
// order, which is creation order.
type APIKeyFilter struct {
	Owner string // exact match; empty for all owners
	// Owners, when not empty, keeps only the keys whose owner is one of
	// them (a developer's owners); with Owner set too, both must hold.
	// Empty means every owner: a caller restricting to a user's owners
	// must not call with an empty list.
	Owners []string
	// Status keeps only the keys in that state (KeyActive, KeyRotating,
	// KeyExpired, KeyRevoked) at time At, as APIKey.Status reports it;
	// "" for all.
	Status string
	At     time.Time
	// Environment keeps only the keys of that environment (KeyEnvLive,
	// KeyEnvTest), as KeyEnvironmentOf reads it from their prefix.
	Environment string
	// Search keeps the keys whose ID equals it or whose name contains it,
	// ASCII letters compared without case; "" for all.
	Search string
	After  string // cursor: list keys with an ID greater than this
	Limit  int    // at most this many; backends cap it at MaxPageSize

	// RotationDueBy, when set, keeps only keys that are not revoked, not
	// rotated and not expired at that time, and whose RotationDueAt is set
	// and not after it.
	RotationDueBy time.Time
}

// CheckKeyFilter refuses (EINVALID) a filter no backend can apply: an
// unknown Status or Environment, or a Search or owner no backend can keep.
func CheckKeyFilter(f APIKeyFilter) error {
	switch f.Status {
	case "", KeyActive, KeyRotating, KeyExpired, KeyRevoked:
	default:
		return Errorf(EINVALID, "Unknown key status %q.", f.Status)
	}
	if f.Environment != "" && !ValidKeyEnvironment(f.Environment) {
		return Errorf(EINVALID, "Unknown key environment %q.", f.Environment)
	}
	if err := CheckText("search", f.Search); err != nil {
		return err
	}
	return CheckLists("owners", f.Owners)
}

// ContainsPattern is the SQL LIKE pattern, with \ as its escape character,
// that matches the text containing s, for a text and an s whose ASCII
// letters the backend and this function have both lowered: % and _ in s
// match themselves, never any text.
func ContainsPattern(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('%')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' || c == '_' || c == '\\':
			b.WriteByte('\\')
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	b.WriteByte('%')
	return b.String()
}

// MaxPageSize caps every list call.
const MaxPageSize = 500

// APIKeyStore keeps API keys. Every method that changes state also appends
// the given audit events in the same transaction: either all of it is
// written or none of it.
type APIKeyStore interface {
	// CreateAPIKey inserts k and the events. ECONFLICT if the ID or hash exists.
	CreateAPIKey(ctx context.Context, k *APIKey, events ...AuditEvent) error

	// GetAPIKey returns the key with that ID, or ENOTFOUND.
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)

	// GetAPIKeyByHash returns the key whose Hash equals hash, or ENOTFOUND.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)

	// ListAPIKeys returns one page of keys and the cursor of the next page
	// ("" on the last page).
	ListAPIKeys(ctx context.Context, f APIKeyFilter) (keys []*APIKey, next string, err error)

	// RotateAPIKey, in one transaction, inserts next, sets the old key's
	// RotatedTo to next.ID and its ExpiresAt to oldExpiresAt (unless it
	// already expires earlier), and appends the events. ENOTFOUND if the old
	// key does not exist; ECONFLICT if it is revoked or already rotated.
	// It returns the old key as updated.
	RotateAPIKey(ctx context.Context, oldID string, next *APIKey, oldExpiresAt time.Time, events ...AuditEvent) (*APIKey, error)

	// RevokeAPIKey sets RevokedAt to at and appends the events. ENOTFOUND if
	// the key does not exist. Revoking a revoked key changes nothing, writes
	// no event and returns the key as it is.
	RevokeAPIKey(ctx context.Context, id string, at time.Time, events ...AuditEvent) (*APIKey, error)

	// TouchAPIKeys records last-used times: for each ID, LastUsedAt becomes
	// the later of its current value and the given time. Unknown IDs are
	// ignored. Called in batches, never on the request path.
	TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error

	// UpdateAPIKey, in one transaction, reads the key with that ID (no
	// other write to it can interleave), calls update with that record,
	// writes back what update may change (Name, Scopes, Metadata,
	// RateLimit, Credits, AllowedIPs, ExpiresAt; nothing else), appends
	// the events update returns, and returns the key as updated. update
	// decides: it returns an error (returned as is, nothing written) to
	// refuse, and no events when nothing changed (nothing written).
	// ENOTFOUND if the key does not exist; EINVALID as for CreateAPIKey.
	// Backends with a change feed report the key as changed.
	UpdateAPIKey(ctx context.Context, id string, update func(k *APIKey) ([]AuditEvent, error)) (*APIKey, error)

	// SpendAPIKeyCredits takes cost (at least 1) credits from the key
	// with that ID, as they stand at now (Credits.At: refilled when a
	// period has begun since the last refill), if it has at least cost;
	// otherwise it takes none. Each spend is atomic, so spends from any
	// number of nodes never take more than the key has. At the first
	// spend of a version and period that leaves 0 or cannot be paid, it
	// appends the exhausted events in the same transaction and records
	// the credits' ExhaustedMarker in ExhaustedFor, so that they are
	// written once per version and period. A key without
	// credits spends nothing and reports Unmetered. ENOTFOUND if the key
	// does not exist.
	SpendAPIKeyCredits(ctx context.Context, id string, cost int64, now time.Time, exhausted ...AuditEvent) (CreditSpend, error)

	// SyncAPIKeyCredits records the credits of a key as counted elsewhere
	// (Redis): it sets Remaining and RefilledAt to c's if the key's
	// credits are still at c.Version and c is newer than what is stored (a
	// later RefilledAt, or the same and a lower Remaining), so that
	// write-backs arriving out of order never undo a newer state. Anything
	// else (unknown key, no credits, another version, an older state) is
	// ignored. A c.ExhaustedFor that is set is recorded too (at
	// c.Version).
	SyncAPIKeyCredits(ctx context.Context, id string, c Credits) error

	// MarkExpiredAPIKeys finds keys whose ExpiresAt is set and not after now,
	// that are not revoked and have not been reported before, and in one
	// transaction appends a "key.expired" event for each (Actor "system")
	// and remembers them as reported. It returns the IDs it reported.
	MarkExpiredAPIKeys(ctx context.Context, now time.Time) ([]string, error)
}
