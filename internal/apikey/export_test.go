package apikey

import (
	"crypto/sha256"
	"hash/crc32"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Assemble returns prefix+body followed by its checksum: the key Generate
// would return had it drawn body. The checksum is computed here as the
// format defines it (CRC-32 IEEE as 6 base62 digits, most significant
// first) rather than by a function the product does not need.
func Assemble(prefix, body string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	s := prefix + body
	c := crc32.ChecksumIEEE([]byte(s))
	digits := make([]byte, secret.ChecksumLength)
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = base62[c%62]
		c /= 62
	}
	return s + string(digits)
}

// NewID exposes ID generation at a chosen time.
func NewID(now time.Time) (string, error) { return newID(now) }

// CacheLen returns the number of cached entries (0 without a cache).
func (s *Service) CacheLen() int {
	if s.cache == nil {
		return 0
	}
	return s.cache.len()
}

// SetFlushBatch changes how many records one store call of Flush writes.
func (s *Service) SetFlushBatch(n int) { s.flushBatch = n }

// NegativeCacheLen returns the number of unknown keys remembered (0 without
// a negative cache).
func (s *Service) NegativeCacheLen() int {
	if s.negative == nil {
		return 0
	}
	return s.negative.len()
}

// OnLookupJoined sets a func called by every Verify that, instead of reading
// the store, waits for the answer of a read of the same key in progress.
// Set it before any Verify.
func (s *Service) OnLookupJoined(f func()) { s.flights.joined = f }

// StartUnknownLookup does what Verify does around a store read that finds
// no key of that hash: it reads the negative cache's epoch now, as before the
// read, and returns the func that records the answer, as after it.
func (s *Service) StartUnknownLookup(hash []byte) (found func()) {
	epoch := s.negative.epoch.Load()
	return func() { s.negative.put((*[sha256.Size]byte)(hash), epoch, s.now()) }
}

// SetMonotonic makes now the clock on which the service measures how long
// its change feed's last FeedSynced vouches for the cache (by default the
// monotonic clock, through time.Now and time.Since). Set it before Run.
func (s *Service) SetMonotonic(now func() time.Time) { s.trust.SetMonotonic(now) }

// NormalizeScopes exposes the check of a new key's scopes.
func NormalizeScopes(scopes []string) ([]string, error) { return normalizeScopes(scopes) }
