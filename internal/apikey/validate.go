package apikey

import (
	"math"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Limits on what a key may carry. They keep records small, so the cache
// stays cheap and no caller can store megabytes through the admin API.
const (
	MaxNameLength        = 128 // bytes
	MaxActorLength       = 128 // bytes
	MaxScopes            = 64
	MaxScopeLength       = auth.MaxScopeTokenLength // bytes
	MaxOwnerLength       = auth.MaxOwnerLength      // bytes; the rule is auth.CheckOwner
	MaxMetadataEntries   = 32
	MaxMetadataKeyLength = 64  // bytes
	MaxMetadataValLength = 512 // bytes
	MaxBurst             = 1_000_000
	MinRotationPeriod    = time.Hour
	// MaxLifetime bounds ExpiresAt, so every time a key carries can be
	// written as RFC 3339 (years up to 9999) by every client.
	MaxLifetime = 100 * 365 * 24 * time.Hour
	// MinRate is one request a day: slower limits are better served by
	// revoking the key.
	MinRate = 1.0 / 86400
)

// newRecord validates p and returns the key record it describes, without
// ID, Hash, Prefix and Hint. Every error is an auth.EINVALID whose message
// can be shown to the caller (it names the field, never echoes long input).
func newRecord(p CreateParams, now time.Time) (*auth.APIKey, error) {
	if p.Owner == "" {
		return nil, auth.Errorf(auth.EINVALID, "owner is required")
	}
	if err := auth.CheckOwner(p.Owner); err != nil {
		return nil, err
	}
	if err := checkText("name", p.Name, MaxNameLength); err != nil {
		return nil, err
	}
	if err := checkActor(p.Actor); err != nil {
		return nil, err
	}
	scopes, err := normalizeScopes(p.Scopes)
	if err != nil {
		return nil, err
	}
	metadata, err := copyMetadata(p.Metadata)
	if err != nil {
		return nil, err
	}
	if err := checkExpiry(p.ExpiresAt, now); err != nil {
		return nil, err
	}
	limit, err := normalizeRateLimit(p.RateLimit)
	if err != nil {
		return nil, err
	}
	if p.RotationPeriod < 0 || (p.RotationPeriod > 0 && p.RotationPeriod < MinRotationPeriod) {
		return nil, auth.Errorf(auth.EINVALID, "rotation_period must be 0 (none) or at least %s", MinRotationPeriod)
	}
	var credits *auth.Credits
	if p.Credits != nil {
		c := auth.Credits{Remaining: p.Credits.Remaining, Refill: p.Credits.Refill}
		if err := auth.CheckCredits(&c); err != nil {
			return nil, err
		}
		c.RefilledAt, c.Version = now, creditsVersion(0, now)
		credits = &c
	}
	if err := auth.CheckAllowedIPs(p.AllowedIPs); err != nil {
		return nil, err
	}
	k := &auth.APIKey{
		Credits:        credits,
		AllowedIPs:     slices.Clone(p.AllowedIPs),
		Owner:          p.Owner,
		Name:           p.Name,
		Scopes:         scopes,
		Metadata:       metadata,
		RateLimit:      limit,
		RotationPeriod: p.RotationPeriod,
		CreatedAt:      now,
		ExpiresAt:      p.ExpiresAt,
	}
	if p.RotationPeriod > 0 {
		k.RotationDueAt = now.Add(p.RotationPeriod)
	}
	return k, nil
}

// checkText accepts printable UTF-8 of at most max bytes: no control or
// format characters (which could hide text in logs and dashboards, or
// reorder it, like U+202E).
func checkText(field, s string, max int) error {
	if len(s) > max {
		return auth.Errorf(auth.EINVALID, "%s must have at most %d bytes", field, max)
	}
	if !printable(s) {
		return auth.Errorf(auth.EINVALID, "%s must be printable UTF-8 text without control characters", field)
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checkActor requires the actor that the audit events will name.
func checkActor(actor string) error {
	if actor == "" {
		return auth.Errorf(auth.EINVALID, "actor is required")
	}
	return checkText("actor", actor, MaxActorLength)
}

// normalizeScopes returns a sorted, deduplicated copy of scopes, each of
// which must be an RFC 6749 §3.3 scope token (auth.ValidScopeToken): the
// grammar of routes and OAuth clients, so that a key can hold any scope a
// route can require.
func normalizeScopes(scopes []string) ([]string, error) {
	out, bad, ok := auth.CheckScopes(scopes)
	if !ok {
		return nil, auth.Errorf(auth.EINVALID, "scopes[%d] must be 1 to %d printable ASCII characters other than space, \" and \\ (an RFC 6749 scope token)", bad, MaxScopeLength)
	}
	if len(out) > MaxScopes {
		return nil, auth.Errorf(auth.EINVALID, "at most %d scopes are allowed", MaxScopes)
	}
	return out, nil
}

func copyMetadata(m map[string]string) (map[string]string, error) {
	if len(m) > MaxMetadataEntries {
		return nil, auth.Errorf(auth.EINVALID, "metadata may have at most %d entries", MaxMetadataEntries)
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k == "" {
			return nil, auth.Errorf(auth.EINVALID, "metadata keys must not be empty")
		}
		if err := checkText("each metadata key", k, MaxMetadataKeyLength); err != nil {
			return nil, err
		}
		if err := checkText("each metadata value", v, MaxMetadataValLength); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// normalizeRateLimit checks l and fills in Burst = ceil(Rate) when only
// the rate is given.
func normalizeRateLimit(l auth.RateLimit) (auth.RateLimit, error) {
	if math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0 {
		return l, auth.Errorf(auth.EINVALID, "rate_limit.rate must be a finite number of requests per second, 0 or more")
	}
	if l.Burst < 0 || l.Burst > MaxBurst {
		return l, auth.Errorf(auth.EINVALID, "rate_limit.burst must be between 0 and %d", MaxBurst)
	}
	if l.Rate == 0 {
		if l.Burst != 0 {
			// Rate 0 means unlimited (auth.RateLimit.Unlimited), which
			// is surely not what a caller who set a burst meant.
			return l, auth.Errorf(auth.EINVALID, "rate_limit.burst needs a rate_limit.rate above 0")
		}
		return l, nil
	}
	if l.Rate < MinRate {
		return l, auth.Errorf(auth.EINVALID, "rate_limit.rate must be at least one request a day (%g per second)", MinRate)
	}
	if l.Burst == 0 {
		if l.Rate > MaxBurst {
			return l, auth.Errorf(auth.EINVALID, "rate_limit.rate above %d needs an explicit rate_limit.burst", MaxBurst)
		}
		l.Burst = auth.DefaultBurst(l.Rate)
	}
	return l, nil
}

// creditsVersion is the version of credits set at now by an admin, after
// credits of version prev (0 for none known): increasing, and a time, so
// that credits taken away and given again never reuse a version that a
// copy in Redis may still hold.
func creditsVersion(prev int64, now time.Time) int64 {
	return max(prev+1, now.UnixMicro())
}

// checkExpiry is the rule for a key's ExpiresAt set at now: zero (never),
// or in the future and within MaxLifetime.
func checkExpiry(t, now time.Time) error {
	if !t.IsZero() && !t.After(now) {
		return auth.Errorf(auth.EINVALID, "expires_at must be in the future")
	}
	if t.After(now.Add(MaxLifetime)) {
		return auth.Errorf(auth.EINVALID, "expires_at must be within 100 years")
	}
	return nil
}
