package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Times are stored as UTC unix microseconds, the precision auth.SystemNow
// keeps, and the zero time as NULL so "never" stays distinct from 1970.

func timeValue(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timeFrom(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// Scopes, metadata and event details are JSON text. nil and empty encode
// alike and decode to empty, non-nil values, so callers can use them as is.

func scopesJSON(s []string) (string, error) {
	if s == nil {
		s = []string{}
	}
	b, err := json.Marshal(s)
	return string(b), err
}

func mapJSON(m map[string]string) (string, error) {
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func scopesFrom(text string) ([]string, error) {
	var s []string
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, fmt.Errorf("decode scopes: %w", err)
	}
	if s == nil {
		s = []string{}
	}
	return s, nil
}

func mapFrom(text string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		return nil, fmt.Errorf("decode map: %w", err)
	}
	if m == nil {
		m = map[string]string{}
	}
	return m, nil
}
