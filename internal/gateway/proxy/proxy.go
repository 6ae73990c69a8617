// Package proxy forwards gateway requests to upstream services: round
// robin over the healthy upstreams of a route, a retry on the next one when
// a connection cannot be opened, a bound on the wait for response headers
// that never cuts a streaming body, WebSocket pass-through, and
// problem+json answers when no upstream answers.
//
// It is built on net/http/httputil.ReverseProxy (with Rewrite), which
// handles hop-by-hop headers, protocol upgrades, trailers and flushing.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	pathpkg "path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// maxUpstreams bounds Options.Upstreams: the attempts of one request are
// tracked in a 64-bit set. Routes allow auth.MaxRouteUpstreams (32).
const maxUpstreams = 64

// ErrorKind says how forwarding to an upstream failed.
type ErrorKind string

const (
	// KindUnavailable: no connection could be opened (dial error,
	// connection refused, no upstream). Nothing was sent.
	KindUnavailable ErrorKind = "unavailable"
	// KindTimeout: no response headers within the timeout.
	KindTimeout ErrorKind = "timeout"
	// KindError: any other transport failure (reset, TLS, protocol).
	KindError ErrorKind = "error"
)

// Options configure a Proxy. Only Upstreams is required.
type Options struct {
	// Upstreams are the normalized base URLs (auth.Route.Upstreams). Their
	// path is kept: upstream "http://h/base" and request "/x" give "/base/x".
	Upstreams []string
	// StripPrefix is removed from the request path before forwarding, on
	// a segment boundary ("" = none): "/api" turns "/api/x" into "/x" and
	// "/api" into "/" (or into the upstream's base path exactly).
	StripPrefix string
	// Timeout bounds the wait for the upstream's response HEADERS, not the
	// response body, so streams may run long; 0 = auth.DefaultRouteTimeout.
	// It runs from the first attempt, so it includes connecting, retries
	// and sending the request body (a slow upload needs a long timeout).
	Timeout time.Duration
	// Transport sends the requests; nil = a NewTransport(256) private to
	// this Proxy. Share one between routes.
	Transport http.RoundTripper
	// Health is the passive health state; nil = a private one. Share one
	// between routes and keep it across reloads.
	Health *Health
	// OnError is called for every failed attempt (including a connect
	// failure that was then retried on another upstream, so that metrics
	// see every failing upstream), with the inbound request. It is not
	// called when the client went away.
	OnError func(r *http.Request, upstream string, kind ErrorKind, err error)
	// Logger gets debug messages (retries, clients that went away, copy
	// errors); nil = discard.
	Logger *slog.Logger
}

// Proxy forwards requests to the upstreams of one route. It is safe for
// concurrent use.
type Proxy struct {
	upstreams []upstream
	names     []string
	strip     string
	timeout   time.Duration
	transport http.RoundTripper
	buffers   bufferPool // body copy buffers, reused across requests
	// aheadBuffers hold the request bodies read before the upstream is
	// contacted (readAhead), within the process-wide budget.
	aheadBuffers *aheadBuffers
	health       *Health
	onError      func(*http.Request, string, ErrorKind, error)
	log          *slog.Logger
	rp           *httputil.ReverseProxy
	next         atomic.Uint64 // round-robin counter
}

// upstream is one parsed base URL.
type upstream struct {
	raw     string // as given, the key in Health
	scheme  string
	host    string
	path    string // decoded, without trailing slash
	rawPath string // its escaped form
	hasRaw  bool   // the path needs its escaped form kept (e.g. %2F)
}

// New checks o and returns a Proxy.
func New(o Options) (*Proxy, error) {
	if len(o.Upstreams) == 0 {
		return nil, errors.New("proxy: at least one upstream is required")
	}
	if len(o.Upstreams) > maxUpstreams {
		return nil, fmt.Errorf("proxy: at most %d upstreams", maxUpstreams)
	}
	if o.Timeout < 0 {
		return nil, errors.New("proxy: Timeout must not be negative")
	}
	strip := strings.TrimSuffix(o.StripPrefix, "/")
	if strip != "" && !strings.HasPrefix(strip, "/") {
		return nil, fmt.Errorf("proxy: StripPrefix %q must start with '/'", o.StripPrefix)
	}
	p := &Proxy{
		strip:     strip,
		timeout:   o.Timeout,
		transport: o.Transport,
		health:    o.Health,
		onError:   o.OnError,
		log:       o.Logger,

		aheadBuffers: sharedAheadBuffers,
	}
	for _, s := range o.Upstreams {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return nil, fmt.Errorf("proxy: upstream %q is not an http or https base URL", s)
		}
		path := strings.TrimSuffix(u.Path, "/")
		raw := strings.TrimSuffix(u.EscapedPath(), "/")
		p.upstreams = append(p.upstreams, upstream{
			raw: s, scheme: u.Scheme, host: u.Host,
			path: path, rawPath: raw, hasRaw: u.RawPath != "",
		})
		p.names = append(p.names, s)
	}
	if p.timeout == 0 {
		p.timeout = auth.DefaultRouteTimeout
	}
	if p.transport == nil {
		p.transport = NewTransport(256)
	}
	if p.health == nil {
		p.health = NewHealth(0, nil)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    roundTripperFunc(p.roundTrip),
		ErrorHandler: p.serveError,
		// Copy errors are almost always a client that went away.
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		// FlushInterval 0: ReverseProxy already flushes every write of
		// responses without Content-Length and of text/event-stream,
		// which are the streams; bodies of known length are copied whole.

		// Without a pool ReverseProxy allocates a 32 KiB copy buffer per
		// response: on small answers that garbage was the largest cost
		// of the whole request (pprof under load: mallocgcLarge and GC
		// work at a fifth of the CPU).
		BufferPool: &p.buffers,
	}
	return p, nil
}

// Upstreams returns the upstream base URLs, as given.
func (p *Proxy) Upstreams() []string {
	return append([]string(nil), p.names...)
}

// stateKey carries a request's *requestState through ReverseProxy to the
// round trip and the error handler.
type stateKey struct{}

type requestState struct {
	in    *http.Request // the inbound request, for OnError
	start uint64        // the round-robin position of this request
}

// ServeHTTP forwards r to one of the upstreams.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := r.Header["Upgrade"]; ok {
		dropH2CUpgrade(r.Header)
	}
	ahead, err := p.readAhead(r)
	if err != nil {
		// Nothing has been sent anywhere: the upstream never sees a
		// request whose body is malformed or late.
		p.serveBodyError(w, r, err)
		return
	}
	if ahead != nil {
		// Returns the pooled buffer if the transport has not read it all
		// (an upstream that answered before reading the body, a failure).
		defer ahead.Close()
	}
	st := &requestState{in: r, start: p.next.Add(1) - 1}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// dropH2CUpgrade removes "h2c" from a request's Upgrade header (and its
// HTTP2-Settings). ReverseProxy passes every upgrade through, and an
// upstream that accepts h2c would turn the connection into an HTTP/2
// tunnel carrying any request to any path of the upstream, none of them
// seen by the proxy or the gateway in front of it ("h2c smuggling").
// WebSocket and other upgrades are kept.
func dropH2CUpgrade(h http.Header) {
	var kept []string
	found := false
	for _, v := range h["Upgrade"] {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			name, _, _ := strings.Cut(tok, "/")
			if strings.EqualFold(strings.TrimSpace(name), "h2c") {
				found = true
				continue
			}
			if tok != "" {
				kept = append(kept, tok)
			}
		}
	}
	if !found {
		return
	}
	delete(h, "Http2-Settings")
	if len(kept) == 0 {
		delete(h, "Upgrade")
		return
	}
	h["Upgrade"] = []string{strings.Join(kept, ", ")}
}

// rewrite prepares the outbound request; the upstream is chosen (and the
// URL completed) in roundTrip, so that a retry can choose another.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	in := pr.In
	pr.Out.URL.Path, pr.Out.URL.RawPath = p.relativePath(in.URL.Path, in.URL.RawPath)
	pr.Out.Host = "" // the upstream's host, from the URL

	// The caller has removed the X-Forwarded-* it does not trust, so what
	// is left came from a trusted proxy in front of us: the client chain
	// is extended, and the original host and scheme are kept.
	if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		pr.Out.Header["X-Forwarded-For"] = append([]string(nil), prior...)
	}
	pr.SetXForwarded()
	for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := in.Header.Get(h); v != "" {
			pr.Out.Header.Set(h, v)
		}
	}
}

// relativePath is the request path (and its escaped form) to append to
// an upstream's base: stripped of the prefix, and without dot segments.
func (p *Proxy) relativePath(path, rawPath string) (string, string) {
	if p.strip != "" {
		path, rawPath = stripPrefix(p.strip, path, rawPath)
	}
	if hasDotSegment(path) {
		// "/api/../admin" must not reach the upstream as
		// "/base/../admin": that would leave the route's base path (and
		// its prefix, which the policy was chosen for). Resolved here like
		// a browser would, the request stays below the base.
		path, rawPath = resolveDotSegments(path), ""
	}
	return path, rawPath
}

// stripPrefix removes prefix from path when path is prefix or below it,
// and the matching part of rawPath (the escaped form, "" when the default
// encoding of path is right). The result path is "" when path == prefix.
func stripPrefix(prefix, path, rawPath string) (string, string) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return path, rawPath // not below the prefix: the caller routed it here anyway
	}
	if rawPath == "" {
		return rest, ""
	}
	// Walk the escaped form until it has covered as many decoded bytes as
	// the prefix; what follows is the escaped rest, if it decodes to rest.
	i := 0
	for n := 0; n < len(prefix) && i < len(rawPath); n++ {
		if rawPath[i] == '%' {
			i += 3
		} else {
			i++
		}
	}
	if i <= len(rawPath) {
		rawRest := rawPath[i:]
		if len(rawRest) >= 3 && rawRest[0] == '%' && rawRest[1] == '2' && (rawRest[2] == 'F' || rawRest[2] == 'f') {
			// The prefix ended at an escaped slash ("/api%2Fx"): the rest
			// starts at a segment boundary, and a path must begin with a
			// plain '/' (an upstream answers 400 to "%2Fx" and reads
			// "/base%2Fx" as one segment).
			rawRest = "/" + rawRest[3:]
		}
		if dec, err := url.PathUnescape(rawRest); err == nil && dec == rest {
			return rest, rawRest
		}
	}
	return rest, "" // inconsistent escaping: fall back to the default encoding
}

// hasDotSegment reports whether p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// resolveDotSegments resolves the dot segments of p (never above its
// root) as a browser would, and keeps a trailing slash. It rewrites a
// path the gateway has already matched; deciding whether a path may be
// matched at all is auth.CheckPath's, which refuses dot segments outright.
func resolveDotSegments(p string) string {
	c := pathpkg.Clean("/" + p)
	if c != "/" && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")) {
		c += "/"
	}
	return c
}

// target is the URL of rel (the stripped request path and query) at u.
func (u *upstream) target(rel *url.URL) *url.URL {
	t := &url.URL{Scheme: u.scheme, Host: u.host, RawQuery: rel.RawQuery}
	if rel.Path == "" {
		// The whole prefix was stripped: the request is for the base itself.
		t.Path = u.path
		if u.hasRaw {
			t.RawPath = u.rawPath
		}
		if t.Path == "" {
			t.Path = "/"
		}
		return t
	}
	t.Path = u.path + rel.Path
	if u.hasRaw || rel.RawPath != "" {
		t.RawPath = u.rawPath + rel.EscapedPath()
	}
	return t
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// errHeaderTimeout is the cause of the cancellation of a request whose
// upstream sent no headers in time.
var errHeaderTimeout = errors.New("proxy: no response headers within the timeout")

// upstreamError is the final failure of a request, for serveError.
type upstreamError struct {
	upstream string
	kind     ErrorKind
	err      error
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("upstream %s: %s: %v", e.upstream, e.kind, e.err)
}
func (e *upstreamError) Unwrap() error { return e.err }

// clientBodyError marks failures to read the client's request body: body
// is the error of that read (what bodyReadStatus judges), err the round
// trip's.
type clientBodyError struct{ body, err error }

func (e *clientBodyError) Error() string {
	return "reading the request body: " + e.body.Error() + " (round trip: " + e.err.Error() + ")"
}
func (e *clientBodyError) Unwrap() error { return e.body }

// clientGoneError marks failures caused by the client going away.
type clientGoneError struct{ err error }

func (e *clientGoneError) Error() string { return "client went away: " + e.err.Error() }
func (e *clientGoneError) Unwrap() error { return e.err }

// roundTrip sends out to an upstream, moving to the next one when a
// connection cannot be opened (nothing was sent, so any method is safe to
// repeat), each upstream at most once.
func (p *Proxy) roundTrip(out *http.Request) (*http.Response, error) {
	st, _ := out.Context().Value(stateKey{}).(*requestState)
	if st == nil { // called outside ServeHTTP: cannot happen, but not a panic
		st = &requestState{in: out, start: p.next.Add(1) - 1}
	}
	parent := out.Context()
	// The timer bounds the wait for headers only: once RoundTrip has
	// returned it is stopped, and the body (a stream, a WebSocket) may run
	// as long as the client and upstream want. A context deadline or the
	// Transport's ResponseHeaderTimeout would not allow a per-route value.
	ctx, cancel := context.WithCancelCause(parent)
	timer := time.AfterFunc(p.timeout, func() { cancel(errHeaderTimeout) })

	var body *watchedBody
	if out.Body != nil {
		body = &watchedBody{rc: out.Body}
	}

	var tried uint64
	for {
		i := p.pick(st.start, tried)
		u := &p.upstreams[i]
		tried |= 1 << i

		req := out.WithContext(ctx)
		req.URL = u.target(out.URL)
		req.Host = ""
		if body != nil {
			req.Body = body
		}
		resp, err := p.transport.RoundTrip(req)
		if err == nil {
			if timer.Stop() {
				p.health.markOK(u.raw)
				resp.Body = withCancel(resp.Body, cancel)
				return resp, nil
			}
			// The timer fired as the headers arrived: too late, and the
			// request context is already cancelled.
			resp.Body.Close()
			err = errHeaderTimeout
		}

		if bodyErr := body.failure(); bodyErr != nil {
			// The client's body did not arrive (too slow for the read
			// deadline, malformed, or cut off; the server may then cancel
			// the request's context too): the upstream is not at fault,
			// and the transport has dropped its connection, so it did not
			// get a complete request.
			timer.Stop()
			cancel(nil)
			return nil, &clientBodyError{body: bodyErr, err: err}
		}
		if parent.Err() != nil {
			timer.Stop()
			cancel(nil)
			return nil, &clientGoneError{err: err}
		}
		kind := classify(ctx, err)
		if kind != KindError {
			p.health.markFailed(u.raw)
		}
		if p.onError != nil {
			p.onError(st.in, u.raw, kind, err)
		}
		if kind == KindUnavailable && (body == nil || !body.read.Load()) && tried != p.all() {
			p.log.DebugContext(parent, "proxy: upstream unavailable, trying the next one",
				"upstream", u.raw, "err", err)
			continue
		}
		timer.Stop()
		cancel(nil)
		return nil, &upstreamError{upstream: u.raw, kind: kind, err: err}
	}
}

// all is the set of every upstream index.
func (p *Proxy) all() uint64 {
	n := len(p.upstreams)
	if n == 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// pick returns the next upstream not tried yet, from the request's
// round-robin position: the first healthy one, else (every one is in
// cooldown) the one that failed longest ago — better a chance than a
// certain 502. tried is never every upstream.
func (p *Proxy) pick(start, tried uint64) int {
	n := uint64(len(p.upstreams))
	for k := range n {
		i := (start + k) % n
		if tried&(1<<i) == 0 && p.health.Healthy(p.upstreams[i].raw) {
			return int(i)
		}
	}
	best := -1
	var bestT time.Time
	for k := range n {
		i := (start + k) % n
		if tried&(1<<i) != 0 {
			continue
		}
		if t := p.health.lastFailure(p.upstreams[i].raw); best < 0 || t.Before(bestT) {
			best, bestT = int(i), t
		}
	}
	return best
}

// classify names the failure of a round trip made with ctx.
func classify(ctx context.Context, err error) ErrorKind {
	if errors.Is(err, errHeaderTimeout) || context.Cause(ctx) == errHeaderTimeout {
		return KindTimeout
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return KindUnavailable // includes a dial timeout: nothing was sent
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	return KindError
}

// watchedBody records whether the transport has read the request body: a
// body that was read cannot be sent again.
type watchedBody struct {
	rc     io.ReadCloser
	read   atomic.Bool
	failed bodyFailure // reading the client's body failed: the client's fault, not the upstream's
}

func (b *watchedBody) Read(buf []byte) (int, error) {
	b.read.Store(true)
	n, err := b.rc.Read(buf)
	if err != nil && err != io.EOF {
		b.failed.set(err)
	}
	return n, err
}

// failure returns the error of reading the client's body, nil if there
// was none (or no body).
func (b *watchedBody) failure() error {
	if b == nil {
		return nil
	}
	return b.failed.get()
}

// Close does nothing: the transport closes the body when a connection
// fails, and ReverseProxy's wrapper would then refuse the retry's reads.
// ReverseProxy closes its wrapper itself when ServeHTTP returns, and the
// server closes the inbound body.
func (b *watchedBody) Close() error { return nil }

// withCancel makes closing the response body release the request's
// context, keeping the io.ReadWriteCloser of a 101 response (the upgraded
// connection) that ReverseProxy needs.
func withCancel(body io.ReadCloser, cancel context.CancelCauseFunc) io.ReadCloser {
	if rwc, ok := body.(io.ReadWriteCloser); ok {
		return &cancelRWC{ReadWriteCloser: rwc, cancel: cancel}
	}
	return &cancelBody{ReadCloser: body, cancel: cancel}
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

type cancelRWC struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (b *cancelRWC) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel(nil)
	return err
}

// bufferPool is an httputil.BufferPool of 32 KiB buffers (ReverseProxy's
// own size).
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != 32<<10 {
		return
	}
	buf = buf[:cap(buf)]
	b.p.Put(&buf)
}
