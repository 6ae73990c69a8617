package apikey

import "time"

// Assemble returns prefix+body followed by its checksum: the key Generate
// would return had it drawn body.
func Assemble(prefix, body string) string {
	return string(appendChecksum([]byte(prefix+body), crc32Of(prefix+body)))
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
