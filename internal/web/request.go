package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// ClientAddress is the address login and factor throttling count failures
// against, and that a session records: the TCP peer. X-Forwarded-For is
// not trusted here; a deployment behind a proxy must rewrite RemoteAddr
// with its trusted-proxy configuration. The one rule for every page.
func ClientAddress(r *http.Request) string { return r.RemoteAddr }

// SetRetryAfter sets Retry-After (RFC 9110 section 10.2.3) to d in whole
// seconds, rounded up so that a client waiting that long is never early,
// and never 0 (which would invite an immediate retry).
func SetRetryAfter(h http.Header, d time.Duration) {
	h.Set("Retry-After", strconv.FormatInt(max(ratelimit.CeilSeconds(d), 1), 10))
}
