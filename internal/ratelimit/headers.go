package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// SetHeaders sets RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
// (draft-ietf-httpapi-ratelimit-headers: the delay in whole seconds until
// the bucket is full) when there is a limit, for every endpoint that
// answers for a bucket: the verify endpoint and the gateway alike.
func SetHeaders(h http.Header, limit, remaining int, reset time.Duration) {
	if limit <= 0 {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(CeilSeconds(reset), 10))
}

// CeilSeconds rounds d up to whole seconds, so a client that waits that
// long is never early.
func CeilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	if d > math.MaxInt64-time.Second {
		return math.MaxInt64 / int64(time.Second) // saturate: d + 1s would overflow
	}
	return int64((d + time.Second - 1) / time.Second)
}
