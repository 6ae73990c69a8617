package gateway

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// cookieMarker is in the name of every Gatehouse cookie (auth.GatehouseCookie):
// a Cookie header without it, in any case, holds none, and is left alone
// without being parsed.
const cookieMarker = "gatehouse_"

// stripGatehouseCookies removes Gatehouse's own cookies (the sign-in
// session, the sign-in in progress, ...) from the request's Cookie
// headers, keeping the caller's other cookies as they came. Browsers do
// not separate cookies by port: with the authorization server and the
// gateway on one host name, a signed-in browser sends its Gatehouse
// session through the gateway, and an upstream (or its logs) that
// received it could replay the session at /oauth2/authorize.
func stripGatehouseCookies(h http.Header) {
	vals, ok := h["Cookie"]
	if !ok {
		return
	}
	if !anyContainsFold(vals, cookieMarker) {
		return
	}
	kept := vals[:0:0]
	for _, v := range vals {
		if !containsFoldASCII(v, cookieMarker) {
			kept = append(kept, v)
			continue
		}
		var b strings.Builder
		for pair := range strings.SplitSeq(v, ";") {
			if auth.GatehouseCookie(cookieName(pair)) {
				continue
			}
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(pair)
		}
		if b.Len() > 0 {
			kept = append(kept, b.String())
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}

// stripGatehouseSetCookies removes from an upstream's response every
// Set-Cookie that would set one of Gatehouse's own cookies: the browser
// would store it for the host name the gateway shares with the
// authorization server, and an upstream could so plant a session of its
// choosing there (session fixation).
func stripGatehouseSetCookies(h http.Header) {
	vals, ok := h["Set-Cookie"]
	if !ok || !anyContainsFold(vals, cookieMarker) {
		return
	}
	kept := vals[:0:0]
	for _, v := range vals {
		pair, _, _ := strings.Cut(v, ";")
		if !auth.GatehouseCookie(cookieName(pair)) {
			kept = append(kept, v)
		}
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = kept
}

// cookieName is the name of a "name=value" pair as a browser reads it. A
// pair without a name ("=gatehouse_session=x") is stored by browsers as a
// nameless cookie and sent back as "gatehouse_session=x": its name is then
// the value's.
func cookieName(pair string) string {
	name, value, _ := strings.Cut(pair, "=")
	name = strings.TrimSpace(name)
	if name == "" {
		name, _, _ = strings.Cut(value, "=")
		name = strings.TrimSpace(name)
	}
	return name
}

// setCookieGuard is the transport to upstreams, with
// stripGatehouseSetCookies applied to every response it brings: final
// answers, and the 101 of a protocol switch, whose headers the reverse
// proxy copies after it has hijacked the client's connection.
type setCookieGuard struct{ http.RoundTripper }

func (g setCookieGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.RoundTripper.RoundTrip(r)
	if resp != nil {
		stripGatehouseSetCookies(resp.Header)
	}
	return resp, err
}

func anyContainsFold(vals []string, sub string) bool {
	for _, v := range vals {
		if containsFoldASCII(v, sub) {
			return true
		}
	}
	return false
}

// containsFoldASCII reports whether sub (lower case) is in s, ignoring the
// case of ASCII letters, without allocating.
func containsFoldASCII(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if auth.EqualFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
