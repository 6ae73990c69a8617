package auth

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// These are the rules every backend applies before it writes, kept here so
// that the backends cannot drift apart: PostgreSQL rejects NUL characters
// and invalid UTF-8 in text, and JSON encoding would silently replace
// invalid UTF-8, so both refuse such text with EINVALID and behave alike.

// CheckStorable returns EINVALID if k cannot be stored exactly as it is.
func (k *APIKey) CheckStorable() error {
	switch {
	case k == nil:
		return Errorf(EINVALID, "API key is missing.")
	case k.ID == "":
		return Errorf(EINVALID, "API key ID is required.")
	case len(k.Hash) == 0:
		return Errorf(EINVALID, "API key hash is required.")
	case !storable(k.ID, k.Prefix, k.Hint, k.Owner, k.Name, k.RotatedFrom, k.RotatedTo) ||
		!storable(k.Scopes...) || !storableMap(k.Metadata):
		return Errorf(EINVALID, "API key text must be valid UTF-8 without NUL characters.")
	case math.IsNaN(k.RateLimit.Rate) || math.IsInf(k.RateLimit.Rate, 0):
		return Errorf(EINVALID, "API key rate limit must be a finite number.")
	}
	if err := CheckCredits(k.Credits); err != nil {
		return err
	}
	return CheckAllowedIPs(k.AllowedIPs)
}

// CheckStorableEvents returns EINVALID if any event cannot be stored exactly
// as it is.
func CheckStorableEvents(events []AuditEvent) error {
	for _, e := range events {
		if !storable(e.Type, e.Actor, e.KeyID, e.Reason) || !storableMap(e.Details) {
			return Errorf(EINVALID, "Audit event text must be valid UTF-8 without NUL characters.")
		}
	}
	return nil
}

// RotatedExpiry is the expiry a rotation leaves on the old key: next, unless
// current is earlier, so a rotation never extends a key's life. A zero time
// means "never", the latest of all.
func RotatedExpiry(current, next time.Time) time.Time {
	if next.IsZero() || (!current.IsZero() && current.Before(next)) {
		return current
	}
	return next
}

func storable(s ...string) bool {
	for _, v := range s {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return false
		}
	}
	return true
}

func storableMap(m map[string]string) bool {
	for k, v := range m {
		if !storable(k, v) {
			return false
		}
	}
	return true
}
