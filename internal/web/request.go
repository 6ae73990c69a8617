package web

import (
	"encoding/json"
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

// SameOriginScript reports whether a request of one of our page scripts
// (a fetch POST of JSON) comes from our own pages, served at origin: a
// browser always sends Origin on such a request, so it must be origin,
// and Sec-Fetch-Site, when sent, must be same-origin. Stricter than
// SameOrigin, which also admits forms whose Origin is "null" or absent.
func SameOriginScript(r *http.Request, origin string) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	return r.Header.Get("Origin") == origin
}

// WriteJSON writes v as a JSON document that is never cached or sniffed:
// the one writer of the JSON our pages' scripts and the OAuth endpoints
// read.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; they always marshal.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

// JSONError answers a page script with {"error": msg}, a message it shows.
func JSONError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}
