package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

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
