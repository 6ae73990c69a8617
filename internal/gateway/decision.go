package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// The decision API: another proxy (Caddy's forward_auth, Traefik's
// ForwardAuth, nginx's auth_request, Envoy's ext_authz) asks whether a
// request may pass, and Gatehouse answers with the decision its own
// gateway would make (admit, the one code path): the same route table,
// authentication, scopes, audience, rate limits, credits, usage counting
// and refusals. Allowed, the answer is 200 with the identity to copy
// upstream (IdentityHeaders, and Authorization with an internal JWT on
// internal_jwt routes); refused, exactly the status, headers and body the
// gateway sends, for the proxy to hand to its client unchanged.
//
// Only a trusted proxy (Config.TrustedProxies) may ask: the original
// request is read from headers it writes, which anyone else could forge.

// DecisionsPath is the decision endpoint. The original request's path may
// also be given below it (/v1/decisions/<path>), as Envoy's HTTP
// ext_authz sends it with a path prefix.
const DecisionsPath = "/v1/decisions"

// IdentityHeaders are the headers an allowed decision carries for the
// proxy to set on the request it forwards; a route with internal_jwt adds
// Authorization. A proxy must also remove them from what its client sent
// when the decision does not carry them.
var IdentityHeaders = [...]string{HeaderAuth, HeaderSubject, HeaderClient, HeaderScopes, HeaderKeyID, HeaderKeyEnvironment}

// Headers a proxy uses to describe the original request: Traefik and Caddy
// send the X-Forwarded-* ones, nginx's auth_request is usually configured
// with X-Original-URI and X-Original-Method.
const (
	headerForwardedMethod = "X-Forwarded-Method"
	headerForwardedURI    = "X-Forwarded-Uri"
	headerForwardedHost   = "X-Forwarded-Host"
	headerForwardedProto  = "X-Forwarded-Proto"
	headerOriginalMethod  = "X-Original-Method"
	headerOriginalURI     = "X-Original-Uri"
)

// Refusals of the decision API itself.
const (
	reasonUntrustedCaller = "untrusted_caller"
	reasonNoOriginal      = "no_original_request"
)

var (
	kindUntrustedCaller = problem.Kind{Name: reasonUntrustedCaller, Status: http.StatusForbidden, Title: "Forbidden"}
	kindNoOriginal      = problem.Kind{Name: reasonNoOriginal, Status: http.StatusBadRequest, Title: "Bad request"}
)

// DecisionHandler serves DecisionsPath and the paths below it: r describes
// the original request in forwarding headers, or in the path below
// DecisionsPath (see originalRequest). The caller must be a trusted proxy.
func (g *Gateway) DecisionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serveDecision(w, r, true)
	})
}

// Decide answers the decision for r, the original request itself as a
// proxy describes it (its method, URL, Host and headers; X-Forwarded-For
// and X-Forwarded-Proto believed from a trusted proxy only), with
// r.RemoteAddr the proxy asking: Envoy's gRPC ext_authz builds r from its
// CheckRequest. It answers as DecisionHandler does.
func (g *Gateway) Decide(w http.ResponseWriter, r *http.Request) {
	g.serveDecision(w, r, false)
}

func (g *Gateway) serveDecision(w http.ResponseWriter, r *http.Request, described bool) {
	x := begin(w)
	defer g.end(x, r)
	x.decision = true
	x.route = g.none
	if addr, ok := ratelimit.PeerAddr(r.RemoteAddr); !ok || !ratelimit.Trusted(addr, g.cfg.TrustedProxies) {
		x.clientIP = r.RemoteAddr
		g.refuseProblem(&x.rec, x, kindUntrustedCaller, "Only a trusted proxy (gateway.trusted_proxies) may ask for decisions.")
		return
	}
	if described {
		if err := originalRequest(r); err != nil {
			g.refuseProblem(&x.rec, x, kindNoOriginal, err.Error())
			return
		}
		x.verbatim = true
	}
	if x.verbatim && carriesURLOverride(r.Header) && !namesDecided(r) {
		// The gateway removes these; behind another proxy they reach the
		// upstream, which (IIS, Symfony, Zend) would serve the path they
		// name rather than the one decided on.
		g.refuseProblem(&x.rec, x, kindBadPath, "URL-override headers (X-Original-URL, X-Rewrite-URL) are not accepted, unless X-Original-URL names the request decided on.")
		return
	}
	if p := firstValue(r.Header[headerForwardedProto]); p == "https" || p == "http" {
		x.id.sentScheme = p
	}
	rt := g.admit(&x.rec, r, x)
	if rt == nil {
		return
	}
	h, out := r.Header, x.rec.Header()
	for _, name := range IdentityHeaders {
		if v, ok := h[name]; ok {
			out[name] = v
		}
	}
	if rt.cfg.InternalJWT {
		out["Authorization"] = h["Authorization"]
	}
	x.rec.WriteHeader(http.StatusOK)
}

// originalRequest rewrites r, a request to the decision endpoint, into the
// original request it describes: the method from X-Forwarded-Method or
// X-Original-Method (else r's own), the path and query from
// X-Forwarded-Uri or X-Original-URI, or the path below DecisionsPath and
// r's query, the host from X-Forwarded-Host (else r's Host). Its headers,
// the credential among them, are the client's, which the proxy passes on.
// r.URL.Path must start with DecisionsPath.
//
// A proxy sets one set of these headers and passes the client's others on
// (nginx's auth_request passes every header the client sent): a client
// that adds the other set must not choose which request is decided. So
// the descriptions present must agree, each given once, and a path below
// DecisionsPath is not combined with a URI header; otherwise 400.
func originalRequest(r *http.Request) error {
	h := r.Header
	method, err := described(h[headerForwardedMethod], h[headerOriginalMethod])
	if err != nil {
		return err
	}
	if method != "" {
		if !validMethod(method) {
			return errors.New("The original method is not an HTTP method.")
		}
		r.Method = method
	}
	uri, err := described(h[headerForwardedURI], h[headerOriginalURI])
	if err != nil {
		return err
	}
	below := r.URL.Path[len(DecisionsPath):]
	switch {
	case uri != "" && below != "":
		return errors.New("The original request is described twice: by a forwarding header and by the path below " + DecisionsPath + ".")
	case uri != "":
		if err := setRequestURI(r.URL, uri); err != nil {
			return err
		}
	default:
		if below == "" || below[0] != '/' {
			return errors.New("The original request is unknown: send X-Forwarded-Uri (or X-Original-URI), or ask for " + DecisionsPath + "/<original path>.")
		}
		raw := r.URL.RawPath
		if strings.HasPrefix(raw, DecisionsPath+"/") {
			raw = raw[len(DecisionsPath):]
		} else {
			raw = ""
		}
		r.URL.Path, r.URL.RawPath = below, raw
	}
	if host := firstValue(h[headerForwardedHost]); host != "" {
		r.Host = host
	}
	return nil
}

// described is the value that the two headers of one part of the original
// request (X-Forwarded-* and X-Original-*) give: "" when neither is sent,
// an error when either is sent more than once or they disagree.
func described(forwarded, original []string) (string, error) {
	if len(forwarded) > 1 || len(original) > 1 {
		return "", errors.New("A header describing the original request is sent more than once.")
	}
	switch {
	case len(forwarded) == 1 && len(original) == 1 && forwarded[0] != original[0]:
		return "", errors.New("X-Forwarded-* and X-Original-* describe different requests.")
	case len(forwarded) == 1:
		return strings.TrimSpace(forwarded[0]), nil
	case len(original) == 1:
		return strings.TrimSpace(original[0]), nil
	}
	return "", nil
}

// setRequestURI sets u's path and query from uri, a request target in
// origin form ("/a%2Fb?c=d") or absolute form ("https://host/a"), without
// allocating for a path that holds no escapes.
func setRequestURI(u *url.URL, uri string) error {
	if i := strings.Index(uri, "://"); i > 0 && !strings.HasPrefix(uri, "/") {
		scheme := uri[:i]
		if !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
			return errors.New("The original URI is neither a path nor an http(s) URL.")
		}
		rest := uri[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			uri = "/"
			if k := strings.IndexByte(rest, '?'); k >= 0 {
				uri = "/" + rest[k:]
			}
		} else {
			uri = rest[j:]
		}
	}
	if uri == "" || uri[0] != '/' || strings.IndexByte(uri, '#') >= 0 {
		return errors.New("The original URI must be a path starting with '/', with no fragment.")
	}
	path, query, _ := strings.Cut(uri, "?")
	u.RawQuery = query
	if strings.IndexByte(path, '%') < 0 {
		u.Path, u.RawPath = path, ""
		return nil
	}
	p, err := url.PathUnescape(path)
	if err != nil {
		return errors.New("The original URI has an invalid escape.")
	}
	u.Path, u.RawPath = p, path
	return nil
}

// firstValue is the first element of a header's first value: a proxy in a
// chain may have appended its own after a comma.
func firstValue(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	v := vals[0]
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// validMethod reports whether m is an HTTP method token (RFC 9110 9.1).
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// SetOriginalTarget sets r's method, and its URL's path and query from
// target (a request target in origin or absolute form), as DecisionHandler
// reads them from X-Forwarded-Method and X-Forwarded-Uri: for a caller
// that describes the original request field by field before Decide, as
// Envoy's gRPC ext_authz does (internal/extauthz). The error's text is a
// sentence for a problem's detail.
func SetOriginalTarget(r *http.Request, method, target string) error {
	if !validMethod(method) {
		return errors.New("The original method is not an HTTP method.")
	}
	r.Method = method
	return setRequestURI(r.URL, target)
}

// namesDecided reports whether the request's only URL-override header is
// one X-Original-URL naming the very request decided on (r's path and
// query, once originalRequest has read them): ingress-nginx sends the
// original URL so with every decision, and it overrides nothing then.
func namesDecided(r *http.Request) bool {
	vals := r.Header["X-Original-Url"]
	if len(vals) != 1 {
		return false
	}
	for k := range r.Header {
		if k != "X-Original-Url" && inFold(urlOverrideHeaders[:], strings.ReplaceAll(k, "_", "-")) {
			return false
		}
	}
	var named url.URL
	if err := setRequestURI(&named, vals[0]); err != nil {
		return false
	}
	return named.Path == r.URL.Path && named.RawQuery == r.URL.RawQuery
}
