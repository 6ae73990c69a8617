package gateway

import (
	"crypto/rand"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// Headers the gateway sets on forwarded requests. Every inbound header
// starting with identityPrefix is removed first, whatever its case, so a
// caller can never pose as someone else.
const (
	identityPrefix  = "X-Gatehouse-"
	HeaderAuth      = "X-Gatehouse-Auth"    // api_key or jwt
	HeaderSubject   = "X-Gatehouse-Subject" // API key: owner; JWT: sub
	HeaderClient    = "X-Gatehouse-Client"  // API key: owner; JWT: client_id
	HeaderScopes    = "X-Gatehouse-Scopes"  // space-separated
	HeaderKeyID     = "X-Gatehouse-Key-Id"  // API key id; absent for JWTs
	HeaderRequestID = "X-Request-Id"
)

// HeaderKeyEnvironment is the API key's environment, live or test; absent
// for JWTs. Like every X-Gatehouse-* header, it is removed from inbound
// requests.
const HeaderKeyEnvironment = "X-Gatehouse-Key-Environment"

// forwardingHeaders are believed only from trusted proxies: besides the
// client chain, host and scheme, those that tell an upstream which path
// the client asked for (Spring's ForwardedHeaderFilter reads
// X-Forwarded-Prefix; nginx's auth_request, X-Original-URI; Envoy,
// X-Envoy-Original-Path).
var forwardingHeaders = [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded",
	"X-Forwarded-Prefix", "X-Forwarded-Uri", "X-Forwarded-Path", "X-Original-Uri", "X-Envoy-Original-Path"}

// headerRealIP is set to the client address the gateway believes (see
// clientIP): nginx-style upstreams read it as the caller's address.
const headerRealIP = "X-Real-Ip"

// urlOverrideHeaders make IIS (URL Rewrite), Symfony, Zend and others
// serve another path than the request line's: a request matched to a
// public route would reach a protected resource. Always removed.
var urlOverrideHeaders = [...]string{"X-Original-Url", "X-Rewrite-Url", "X-Override-Url"}

// methodOverrideHeaders make many frameworks (Rails, Laravel, Express's
// method-override, ASP.NET) run the method they name instead of the
// request's: a GET that a GET-only route let through would become a
// DELETE. Removed unless the route says ForwardMethodOverride.
var methodOverrideHeaders = [...]string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// stripInbound removes what no caller may send upstream: every header
// named X-Gatehouse-* in any case, X-Real-IP (set again by the gateway),
// and the URL-override headers. A header spelled oddly is compared as it
// will be read: net/http keeps a name it cannot canonicalise as it came
// (a handler in front of the gateway may also add odd-cased keys), and
// CGI, WSGI, PHP and Rack servers fold '_' and '-' alike into
// HTTP_X_GATEHOUSE_SUBJECT, so "X_Gatehouse_Subject", "X_Forwarded_For"
// or "X_Api_Key" would reach the upstream as what the gateway vouches
// for. It reports whether the request carries a method-override header,
// which the route decides about (stripMethodOverride).
func stripInbound(h http.Header) (methodOverride bool) {
	for k := range h {
		if identityName(k) {
			delete(h, k)
			continue
		}
		if strings.IndexByte(k, '_') < 0 && http.CanonicalHeaderKey(k) == k {
			continue
		}
		a := strings.ReplaceAll(k, "_", "-")
		switch {
		case identityName(a) || gatewayHeader(a) || strings.EqualFold(a, headerAPIKey) ||
			inFold(forwardingHeaders[:], a) || inFold(urlOverrideHeaders[:], a):
			delete(h, k)
		case inFold(methodOverrideHeaders[:], a):
			methodOverride = true
		}
	}
	delete(h, headerRealIP)
	for _, name := range urlOverrideHeaders {
		delete(h, name)
	}
	for _, name := range methodOverrideHeaders {
		if _, ok := h[name]; ok {
			methodOverride = true
		}
	}
	return methodOverride
}

// stripMethodOverride removes the method-override headers in every
// spelling. With keepCanonical (a route that forwards them) the canonical
// spellings stay and their methods are returned, upper case, for the
// route to check; the odd spellings go all the same, so that what the
// upstream reads is what the gateway checked.
func stripMethodOverride(h http.Header, keepCanonical bool) (methods []string) {
	for k := range h {
		canonical := strings.IndexByte(k, '_') < 0 && http.CanonicalHeaderKey(k) == k
		if !inFold(methodOverrideHeaders[:], strings.ReplaceAll(k, "_", "-")) {
			continue
		}
		if keepCanonical && canonical {
			for _, v := range h[k] {
				methods = append(methods, strings.ToUpper(strings.TrimSpace(v)))
			}
			continue
		}
		delete(h, k)
	}
	return methods
}

// overrideMethods returns the methods the method-override headers name,
// in every spelling, upper case, leaving the headers as they are.
func overrideMethods(h http.Header) (methods []string) {
	for k, vals := range h {
		if !inFold(methodOverrideHeaders[:], strings.ReplaceAll(k, "_", "-")) {
			continue
		}
		for _, v := range vals {
			methods = append(methods, strings.ToUpper(strings.TrimSpace(v)))
		}
	}
	return methods
}

// carriesURLOverride reports whether h holds a URL-override header in any
// spelling (see urlOverrideHeaders).
func carriesURLOverride(h http.Header) bool {
	for k := range h {
		if inFold(urlOverrideHeaders[:], strings.ReplaceAll(k, "_", "-")) {
			return true
		}
	}
	return false
}

func inFold(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

func identityName(k string) bool {
	return len(k) >= len(identityPrefix) && strings.EqualFold(k[:len(identityPrefix)], identityPrefix)
}

// stripNamed removes the headers names (a route's strip_headers), in any
// case and with '_' for '-' (see stripIdentity).
func stripNamed(h http.Header, names []string) {
	if len(names) == 0 {
		return
	}
	for _, name := range names {
		delete(h, name)
	}
	for k := range h {
		if strings.IndexByte(k, '_') < 0 && http.CanonicalHeaderKey(k) == k {
			continue
		}
		a := strings.ReplaceAll(k, "_", "-")
		for _, name := range names {
			if strings.EqualFold(a, name) {
				delete(h, k)
				break
			}
		}
	}
}

// clientIP works out who is calling (ratelimit.ClientAddr) and cleans the
// forwarding headers: from an untrusted peer they are removed (anyone can
// write them). It returns the address, for keys restricted to networks
// (the zero Addr when the peer is not an address), and its text for the
// logs, the per-client limits and X-Real-IP.
func (g *Gateway) clientIP(r *http.Request) (netip.Addr, string) {
	addr, ok := ratelimit.PeerAddr(r.RemoteAddr)
	if !ok {
		// Not an address (a test or a Unix socket): nothing to trust.
		for _, name := range forwardingHeaders {
			r.Header.Del(name)
		}
		return netip.Addr{}, r.RemoteAddr
	}
	if !ratelimit.Trusted(addr, g.cfg.TrustedProxies) {
		for _, name := range forwardingHeaders {
			delete(r.Header, name)
		}
		return addr, addr.String()
	}
	addr = ratelimit.ClientAddr(addr, r.Header.Values("X-Forwarded-For"), g.cfg.TrustedProxies)
	return addr, addr.String()
}

// requestID returns the caller's X-Request-Id when it is 1-128 characters
// of [A-Za-z0-9._:-] (safe in logs and headers), or a new random one.
func requestID(r *http.Request) string {
	if vals := r.Header[HeaderRequestID]; len(vals) == 1 && validRequestID(vals[0]) {
		return vals[0]
	}
	return rand.Text()
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// protectFromConnection drops from the Connection header every option
// that names a header the gateway sets: the proxy removes the headers a
// request's Connection lists (RFC 9110 §7.6.1), so "Connection:
// X-Gatehouse-Subject" would otherwise strip the identity the gateway
// forwards, or the internal JWT, or the request id, on their way upstream.
func protectFromConnection(h http.Header) {
	vals, ok := h["Connection"]
	if !ok {
		return
	}
	var kept []string
	changed := false
	for _, v := range vals {
		for opt := range strings.SplitSeq(v, ",") {
			opt = strings.TrimSpace(opt)
			if opt == "" {
				continue
			}
			if gatewayHeader(opt) {
				changed = true
				continue
			}
			kept = append(kept, opt)
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// gatewayHeader reports whether name is a header the gateway sets on the
// forwarded request.
func gatewayHeader(name string) bool {
	return (len(name) >= len(identityPrefix) && strings.EqualFold(name[:len(identityPrefix)], identityPrefix)) ||
		strings.EqualFold(name, "Authorization") || strings.EqualFold(name, HeaderRequestID) ||
		strings.EqualFold(name, "X-Forwarded-For") || strings.EqualFold(name, "X-Forwarded-Host") ||
		strings.EqualFold(name, "X-Forwarded-Proto") || strings.EqualFold(name, headerRealIP)
}
