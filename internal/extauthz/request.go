package extauthz

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/peer"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// check holds what one Check needs, reused across calls: the request
// handed to the Decider, the client's header names, and the recorder of
// the decision.
type check struct {
	req    http.Request
	url    url.URL
	header http.Header
	vals   []string // one backing array for the header values
	sent   []sent   // the headers the client sent, as Envoy named them
	cookie []string // the client's Cookie values
	rec    recorder
}

// sent is a header of the client's request: Envoy's name for it (lower
// case) and its key in the request's Header.
type sent struct{ name, key string }

var checks = sync.Pool{New: func() any {
	return &check{header: make(http.Header, 16), rec: recorder{header: make(http.Header, 8)}}
}}

// maxKept bounds what a pooled check keeps between calls, so that one
// request with huge headers does not pin their memory.
const maxKept = 256

func (c *check) release() {
	clear(c.header)
	clear(c.vals)
	clear(c.sent)
	c.vals, c.sent = c.vals[:0], c.sent[:0]
	if cap(c.vals) > maxKept || cap(c.sent) > maxKept {
		c.vals, c.sent = nil, nil
	}
	if len(c.header) > maxKept {
		c.header = make(http.Header, 16)
	}
	c.rec.reset()
	c.req, c.url, c.cookie = http.Request{}, url.URL{}, nil
	checks.Put(c)
}

// request builds the original request that in describes, for the
// Decider: the method, path and query (Envoy's path holds both, as the
// client sent them), Host, and the client's headers with canonical keys
// (from header_map when Envoy sends its raw headers instead). Its
// RemoteAddr is the gRPC peer, the proxy asking, which the decision
// checks against trusted_proxies; the client's address (the source
// attribute) is appended to X-Forwarded-For, where the trusted-proxy walk
// finds it, and X-Forwarded-Proto is the scheme Envoy saw. The body is
// never sent: the decision does not read it.
//
// A method or target that is not HTTP's leaves the path empty: the
// decision refuses it as a path not in canonical form (400), after its
// trust check.
func (c *check) request(ctx context.Context, in *authv3.CheckRequest) *http.Request {
	attrs := in.GetAttributes()
	hr := attrs.GetRequest().GetHttp()
	c.req = http.Request{
		Method:     http.MethodGet,
		URL:        &c.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     c.header,
		Body:       http.NoBody,
		Host:       hr.GetHost(),
		RemoteAddr: peerAddr(ctx),
	}
	if err := gateway.SetOriginalTarget(&c.req, hr.GetMethod(), hr.GetPath()); err != nil {
		c.url = url.URL{}
	}
	c.setHeaders(hr)
	h := c.header
	c.cookie = h["Cookie"]
	if src := attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(); validIP(src) {
		h[xForwardedFor] = append(h[xForwardedFor], src)
	}
	switch scheme := hr.GetScheme(); scheme {
	case "http", "https":
		h[xForwardedProto] = c.one(scheme)
	default:
		delete(h, xForwardedProto)
	}
	return c.req.WithContext(ctx)
}

const (
	xForwardedFor   = "X-Forwarded-For"
	xForwardedProto = "X-Forwarded-Proto"
)

// setHeaders copies the client's headers into c.header, skipping HTTP/2
// pseudo-headers (":authority" is the Host) and Host itself.
func (c *check) setHeaders(hr *authv3.AttributeContext_HttpRequest) {
	if m := hr.GetHeaders(); len(m) > 0 {
		c.vals = slices.Grow(c.vals, len(m)+2)
		c.sent = slices.Grow(c.sent, len(m))
		for name, v := range m {
			c.add(name, v)
		}
		return
	}
	raw := hr.GetHeaderMap().GetHeaders()
	c.vals = slices.Grow(c.vals, len(raw)+2)
	c.sent = slices.Grow(c.sent, len(raw))
	for _, hv := range raw {
		v := hv.GetValue()
		if v == "" && len(hv.GetRawValue()) > 0 {
			v = string(hv.GetRawValue())
		}
		c.add(hv.GetKey(), v)
	}
}

func (c *check) add(name, v string) {
	if name == "" || name[0] == ':' || strings.EqualFold(name, "host") {
		return
	}
	key := canonicalKey(name)
	if old, ok := c.header[key]; ok {
		// Raw headers repeat a name for each value.
		c.header[key] = append(old, v)
		return
	}
	c.header[key] = c.one(v)
	c.sent = append(c.sent, sent{name: name, key: key})
}

// one returns a header value of its own, capped so that an append to it
// cannot write into another's.
func (c *check) one(v string) []string {
	i := len(c.vals)
	c.vals = append(c.vals, v)
	return c.vals[i : i+1 : i+1]
}

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// peerAddr is the address of the gRPC peer ("IP:port"), or "" when it has
// none (then no proxy is trusted).
func peerAddr(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	if tcp, ok := p.Addr.(*net.TCPAddr); ok {
		return tcp.AddrPort().String() // one allocation, where String takes two
	}
	return p.Addr.String()
}

// canonicalKey is http.CanonicalHeaderKey(name), without allocating for
// the names Envoy and Gatehouse's callers send most.
func canonicalKey(name string) string {
	if k, ok := interned[name]; ok {
		return k
	}
	return http.CanonicalHeaderKey(name)
}

var interned = func() map[string]string {
	names := []string{"Authorization", "X-Api-Key", "Dpop", "Cookie", "X-Request-Id", "X-Real-Ip",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Client-Cert",
		"X-Envoy-Expected-Rq-Timeout-Ms", "X-Envoy-Internal", "X-Envoy-External-Address", "X-Envoy-Attempt-Count",
		"X-Envoy-Original-Path", "Traceparent", "Tracestate", "Baggage", "X-B3-Traceid", "X-B3-Spanid",
		"X-B3-Parentspanid", "X-B3-Sampled", "X-Ot-Span-Context", "Accept", "Accept-Encoding", "Accept-Language",
		"User-Agent", "Content-Type", "Content-Length", "Cache-Control", "Connection", "Origin", "Referer",
		"If-None-Match", "If-Modified-Since", "Te"}
	names = append(names, gateway.IdentityHeaders[:]...)
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	return m
}()
