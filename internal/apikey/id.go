package apikey

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// IDPrefix starts every key ID.
const IDPrefix = "key_"

// newID returns a new time-ordered key ID ("key_" and 16 base32hex
// characters; see auth.NewID).
func newID(now time.Time) (string, error) { return auth.NewID(IDPrefix, now) }
