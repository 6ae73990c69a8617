package auth

import "time"

// Now is the type of the clock every component takes, so tests control time.
type Now func() time.Time

// SystemNow is the wall clock, truncated to microseconds: the precision every
// backend keeps, so a record reads back exactly as it was written.
func SystemNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// CeilMicro rounds t up to the microsecond, the precision backends keep
// times at: for a stored time s, t <= s holds exactly when CeilMicro(t) <=
// s, and s < t exactly when s < CeilMicro(t), so a bound with nanoseconds
// compares in SQL as it does in Go. (Backends truncate what they are
// given, which is right only for the bounds a stored time must not pass.)
func CeilMicro(t time.Time) time.Time {
	if c := t.Truncate(time.Microsecond); !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}
