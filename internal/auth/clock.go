package auth

import "time"

// Now is the type of the clock every component takes, so tests control time.
type Now func() time.Time

// SystemNow is the wall clock, truncated to microseconds: the precision every
// backend keeps, so a record reads back exactly as it was written.
func SystemNow() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
