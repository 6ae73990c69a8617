package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/jackc/pgx/v5/pgtype"
)

// defaultPageSize is the page size when a filter leaves Limit at zero (or
// below); the contract caps it at auth.MaxPageSize.
const defaultPageSize = 100

func pageSize(limit int) int {
	if limit <= 0 {
		return defaultPageSize
	}
	return min(limit, auth.MaxPageSize)
}

// The zero time is stored as NULL, so "never" stays distinct from any
// instant. timestamptz keeps microseconds, the precision auth.SystemNow
// keeps, and reads back in UTC.

func timeValue(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func timeFrom(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// stored returns t as it reads back once stored: truncated to microseconds
// (as pgx encodes it), in UTC.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

// Metadata and event details are jsonb: nil and empty encode alike and
// decode to an empty, non-nil map, so callers can use them as is.

func mapJSON(m map[string]string) ([]byte, error) {
	if m == nil {
		m = map[string]string{}
	}
	return json.Marshal(m)
}

func mapFrom(b []byte) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode map: %w", err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}

// storable reports whether every backend can keep s exactly: PostgreSQL
// rejects NUL characters and invalid UTF-8 in text, and JSON encoding would
// silently replace invalid UTF-8. Both backends refuse such text with
// auth.EINVALID so they behave alike.
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

// checkKey returns auth.EINVALID if k cannot be stored as it is.
func checkKey(k *auth.APIKey) error {
	switch {
	case k == nil:
		return auth.Errorf(auth.EINVALID, "API key is missing.")
	case k.ID == "":
		return auth.Errorf(auth.EINVALID, "API key ID is required.")
	case len(k.Hash) == 0:
		return auth.Errorf(auth.EINVALID, "API key hash is required.")
	case !storable(k.ID, k.Prefix, k.Hint, k.Owner, k.Name, k.RotatedFrom, k.RotatedTo) ||
		!storable(k.Scopes...) || !storableMap(k.Metadata):
		return auth.Errorf(auth.EINVALID, "API key text must be valid UTF-8 without NUL characters.")
	case math.IsNaN(k.RateLimit.Rate) || math.IsInf(k.RateLimit.Rate, 0):
		return auth.Errorf(auth.EINVALID, "API key rate limit must be a finite number.")
	}
	return nil
}

// checkEvents returns auth.EINVALID if any event cannot be stored as it is.
func checkEvents(events []auth.AuditEvent) error {
	for _, e := range events {
		if !storable(e.Type, e.Actor, e.KeyID, e.Reason) || !storableMap(e.Details) {
			return auth.Errorf(auth.EINVALID, "Audit event text must be valid UTF-8 without NUL characters.")
		}
	}
	return nil
}

// rotatedExpiry returns the expiry a rotation leaves on the old key: next,
// unless current is earlier. A zero time means "never", the latest of all.
func rotatedExpiry(current, next time.Time) time.Time {
	if next.IsZero() || (!current.IsZero() && current.Before(next)) {
		return current
	}
	return next
}
