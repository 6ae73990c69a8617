package gateway

import (
	"crypto/rand"
	"net/http"
	"net/netip"
	"strings"
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

// forwardingHeaders are believed only from trusted proxies.
var forwardingHeaders = [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"}

// stripIdentity removes every header named X-Gatehouse-* in any case, and
// every header whose name reads as one the gateway owns once '_' is taken
// for '-' ("X_Gatehouse_Subject", "X_Forwarded_For", "X_Api_Key"): CGI,
// WSGI, PHP and Rack servers fold both into HTTP_X_GATEHOUSE_SUBJECT, so
// such a header would reach the upstream as the identity the gateway
// vouches for. Header maps from net/http are canonical, but a handler in
// front of the gateway may have added odd-cased keys, so the comparison
// ignores case.
func stripIdentity(h http.Header) {
	for k := range h {
		if identityName(k) {
			delete(h, k)
			continue
		}
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		a := strings.ReplaceAll(k, "_", "-")
		if identityName(a) || gatewayHeader(a) || strings.EqualFold(a, headerAPIKey) || strings.EqualFold(a, "Forwarded") {
			delete(h, k)
		}
	}
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

// trusted reports whether addr is one of the trusted proxies.
func (g *Gateway) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range g.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientIP works out who is calling and cleans the forwarding headers:
// from an untrusted peer they are removed (anyone can write them); from a
// trusted one the client is the right-most X-Forwarded-For entry that is
// not itself a trusted proxy. An unparsable entry stops the walk at the
// last trusted hop: fail closed, never believe what is left of garbage.
func (g *Gateway) clientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		addr = a.Unmap()
	} else {
		// Not an address (a test or a Unix socket): nothing to trust.
		for _, name := range forwardingHeaders {
			r.Header.Del(name)
		}
		return r.RemoteAddr
	}
	if len(g.cfg.TrustedProxies) == 0 || !g.trusted(addr) {
		for _, name := range forwardingHeaders {
			delete(r.Header, name)
		}
		return addr.String()
	}
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var part string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				part, v = v[j+1:], v[:j]
			} else {
				part, v = v, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return addr.String()
			}
			a = a.Unmap()
			if !g.trusted(a) {
				return a.String()
			}
			addr = a
		}
	}
	return addr.String()
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
		strings.EqualFold(name, "X-Forwarded-Proto")
}
