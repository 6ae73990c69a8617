package apikey

import (
	"net/http"
	"strings"
)

// HeaderAPIKey is the header Extract reads first.
const HeaderAPIKey = "X-API-Key"

// headerAPIKeyCanonical is HeaderAPIKey as net/http stores it: read
// directly, the map costs no canonicalisation (an allocation) per request.
const headerAPIKeyCanonical = "X-Api-Key"

// maxCredentialLength bounds what Extract returns: well above MaxKeyLength,
// so that Verify still reports a near-miss as INVALID (and counts it), but
// far below anything a server would accept as a header.
const maxCredentialLength = 256

// Extract returns the API key of r: the X-API-Key header, or else the
// credential of an "Authorization: Bearer <key>" header (the scheme is
// case-insensitive, RFC 9110 §11.1). It reports false when there is none,
// when a header is repeated (ambiguous: fail closed), and for empty or
// absurdly long values. It does not check the key: Verify does.
func Extract(r *http.Request) (key string, ok bool) {
	if vals := r.Header[headerAPIKeyCanonical]; len(vals) > 0 {
		if len(vals) > 1 {
			return "", false
		}
		return credential(vals[0])
	}
	vals := r.Header["Authorization"]
	if len(vals) != 1 {
		return "", false
	}
	scheme, rest, found := strings.Cut(vals[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return credential(rest)
}

func credential(v string) (string, bool) {
	if len(v) > 2*maxCredentialLength {
		return "", false // before trimming, so the work is bounded too
	}
	v = strings.Trim(v, " \t")
	if v == "" || len(v) > maxCredentialLength {
		return "", false
	}
	return v, true
}
