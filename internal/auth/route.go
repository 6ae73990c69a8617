package auth

import (
	"context"
	"errors"
	"math"
	"net"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Route policies: which credential a gateway route requires.
const (
	PolicyJWT    = "jwt"     // a JWT access token (users, OAuth clients)
	PolicyAPIKey = "api_key" // an API key (services)
	PolicyAny    = "any"     // either
	PolicyPublic = "public"  // none; identity headers are still stripped
)

// Audit events of the routes managed through the admin API.
const (
	EventRouteCreated = "route.created"
	EventRouteUpdated = "route.updated"
	EventRouteDeleted = "route.deleted"
)

// Bounds of a route, generous for real use and small enough that a route
// table is cheap to hold and to match.
const (
	MaxRouteUpstreams = 32
	MaxRouteHosts     = 32
	MaxRouteScopes    = 32
	MaxRouteTimeout   = 10 * time.Minute
	// DefaultRouteTimeout bounds the wait for an upstream's response
	// headers when a route sets none. Streaming bodies are not bounded.
	DefaultRouteTimeout = 30 * time.Second
)

// Route is one gateway route: which requests it matches, the credential
// they need, and the upstreams they are forwarded to. Routes come from the
// routes file and from the admin API (stored with RouteStore).
type Route struct {
	Name string // unique; lower-case letters, digits, '.', '_' and '-'

	// Matching. A request matches when its host is one of Hosts (or Hosts
	// is empty), its path is PathPrefix or below it on a segment boundary
	// ("/orders" matches "/orders" and "/orders/1", not "/ordersx"), and
	// its method is one of Methods (or Methods is empty). Among matches the
	// longest PathPrefix wins, then a route with hosts over one without.
	Hosts      []string // lower case, no port; "*.example.com" matches any subdomain
	PathPrefix string   // "/" or "/a/b" without a trailing slash
	Methods    []string // upper case

	Upstreams   []string      // http or https base URLs; requests go round robin
	StripPrefix bool          // remove PathPrefix before forwarding
	Timeout     time.Duration // for the upstream's response headers; 0: DefaultRouteTimeout

	Policy   string   // one of the Policy* constants
	Scopes   []string // every one is required (API-key scopes or the JWT's scope claim)
	Audience string   // jwt, any: the aud the token must carry
	// AnyAudience accepts the issuer's tokens whatever their audience, on a
	// jwt or any route without Audience. It must be said: a token minted for
	// another API of the same issuer would pass.
	AnyAudience bool
	// KeyEnvironment, on an api_key or any route, admits only API keys of
	// that environment (one of KeyEnvironments); "" admits every one.
	KeyEnvironment string
	// RequireMFA, on a jwt or any route, admits only tokens of a sign-in
	// with two factors: an amr claim holding AMRMFA or the acr ACRMFA.
	RequireMFA bool

	// JWTs of another identity provider: its issuer (the exact iss), where
	// its keys are (JWKSURI; "" discovers them from the issuer's
	// /.well-known/openid-configuration) and the algorithms it signs with
	// (never taken from a token). Issuer "" means Gatehouse's own tokens.
	Issuer     string
	JWKSURI    string
	Algorithms []string

	RateLimit       RateLimit // every caller of the route together
	ClientRateLimit RateLimit // each caller: API-key owner, JWT subject, or client IP on public routes

	// InternalJWT replaces the caller's credential with a short-lived JWT
	// signed by Gatehouse whose audience is the upstream, so the upstream
	// can verify the caller itself.
	InternalJWT bool
	// StripHeaders are request headers removed besides X-Gatehouse-*
	// (canonical form).
	StripHeaders []string

	// AllowPathParams lets path segments carry ";parameters" (matrix
	// parameters, ";jsessionid=") to an upstream that understands them. The
	// route is then matched as if the parameters were not there, which is
	// how servlet containers resolve such a path. Otherwise a ';' in the
	// path is refused: it would match one route here and another there.
	AllowPathParams bool
	// CaseInsensitive matches PathPrefix whatever the case of its ASCII
	// letters, for upstreams whose router ignores case (Express by default,
	// ASP.NET, IIS): "/PRIVATE/x" is then this route's, not a catch-all's.
	CaseInsensitive bool
	// ForwardMethodOverride forwards X-HTTP-Method-Override, X-HTTP-Method
	// and X-Method-Override, which frameworks may honour to run another
	// method than the one matched; they are removed otherwise. The method
	// they name must then be one of Methods, when the route has Methods.
	ForwardMethodOverride bool

	CreatedAt time.Time
	UpdatedAt time.Time
}

// RouteStore keeps the routes managed through the admin API.
type RouteStore interface {
	// CreateRoute inserts r. ECONFLICT if the name exists.
	CreateRoute(ctx context.Context, r *Route, events ...AuditEvent) error
	// GetRoute returns the route, or ENOTFOUND.
	GetRoute(ctx context.Context, name string) (*Route, error)
	// ListRoutes returns every stored route, by name.
	ListRoutes(ctx context.Context) ([]*Route, error)
	// UpdateRoute replaces the stored route named r.Name if its UpdatedAt
	// is still ifUpdatedAt. ENOTFOUND if it does not exist; ECONFLICT if
	// it changed since.
	UpdateRoute(ctx context.Context, r *Route, ifUpdatedAt time.Time, events ...AuditEvent) error
	// DeleteRoute removes it. ENOTFOUND if it does not exist.
	DeleteRoute(ctx context.Context, name string, events ...AuditEvent) error
}

var (
	routeNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	hostLabelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	methodRE     = regexp.MustCompile(`^[A-Z]{1,20}$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
)

// ValidRouteName reports whether name follows the rule for route names: a
// name that breaks it cannot be stored, so a lookup of it needs no store.
func ValidRouteName(name string) bool { return routeNameRE.MatchString(name) }

// Normalize puts r in canonical form (lower-case hosts, upper-case
// methods, sorted unique lists, canonical header names) and checks every
// rule of a route on its own; the error is an EINVALID *Error naming the
// field at fault. It is the one check of a route, whatever its source
// (admin API, routes file, the gateway's table); the rules between the
// routes of one table are CheckRouteTable's.
func (r *Route) Normalize() error {
	if !ValidRouteName(r.Name) {
		return Errorf(EINVALID, "route name %q must be 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", r.Name)
	}
	bad := func(format string, args ...any) error {
		return Errorf(EINVALID, "route %s: "+format, append([]any{r.Name}, args...)...)
	}

	if len(r.Hosts) > MaxRouteHosts {
		return bad("at most %d hosts", MaxRouteHosts)
	}
	for i, h := range r.Hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !validHostPattern(h) {
			return bad("host %q is not a host name or *.domain pattern (no port, no scheme)", r.Hosts[i])
		}
		r.Hosts[i] = h
	}
	r.Hosts = sortedUnique(r.Hosts)

	if r.PathPrefix == "" {
		r.PathPrefix = "/"
	}
	if !validPathPrefix(r.PathPrefix) {
		return bad("path %q must start with '/', have no trailing slash, empty or dot segments, query or fragment", r.PathPrefix)
	}
	for i, m := range r.Methods {
		m = strings.ToUpper(m)
		if !methodRE.MatchString(m) {
			return bad("method %q is not an HTTP method", r.Methods[i])
		}
		r.Methods[i] = m
	}
	r.Methods = sortedUnique(r.Methods)

	if len(r.Upstreams) == 0 {
		return bad("at least one upstream is required")
	}
	if len(r.Upstreams) > MaxRouteUpstreams {
		return bad("at most %d upstreams", MaxRouteUpstreams)
	}
	for i, u := range r.Upstreams {
		norm, err := normalizeUpstream(u)
		if err != nil {
			return bad("upstream %q: %s", u, err.Error())
		}
		r.Upstreams[i] = norm
	}
	if slices.Contains(r.Upstreams, "") {
		return bad("an upstream is empty")
	}
	if r.Timeout < 0 || r.Timeout > MaxRouteTimeout {
		return bad("timeout must be between 0 (the default, %s) and %s", DefaultRouteTimeout, MaxRouteTimeout)
	}

	switch r.Policy {
	case PolicyJWT, PolicyAPIKey, PolicyAny, PolicyPublic:
	case "":
		return bad("a policy is required: jwt, api_key, any or public")
	default:
		return bad("policy %q is not one of jwt, api_key, any, public", r.Policy)
	}
	if len(r.Scopes) > MaxRouteScopes {
		return bad("at most %d scopes", MaxRouteScopes)
	}
	scopes, i, ok := CheckScopes(r.Scopes)
	if !ok {
		return bad("scope %q is not a valid scope token", r.Scopes[i])
	}
	r.Scopes = scopes
	if r.Policy == PolicyPublic && (len(r.Scopes) > 0 || r.Audience != "" || r.Issuer != "" || r.InternalJWT) {
		return bad("a public route takes no scopes, audience, issuer or internal_jwt")
	}
	if r.Policy == PolicyAPIKey && (r.Audience != "" || r.Issuer != "" || r.AnyAudience) {
		return bad("audience, any_audience and issuer apply to JWTs: use policy jwt or any")
	}
	if r.KeyEnvironment != "" {
		if !ValidKeyEnvironment(r.KeyEnvironment) {
			return bad("key_environment %q is not one of %s", r.KeyEnvironment, strings.Join(KeyEnvironments, ", "))
		}
		if r.Policy != PolicyAPIKey && r.Policy != PolicyAny {
			return bad("key_environment applies to API keys: use policy api_key or any")
		}
	}
	if r.Policy == PolicyPublic && r.AnyAudience {
		return bad("a public route takes no any_audience")
	}
	if r.RequireMFA && r.Policy != PolicyJWT && r.Policy != PolicyAny {
		// An API key proves no sign-in, and a public route checks none:
		// the requirement could only be ignored there, so it is refused.
		return bad("require_mfa applies to user tokens (their amr or acr claim): use policy jwt or any")
	}
	if r.AnyAudience && r.Audience != "" {
		return bad("set either audience or any_audience, not both")
	}
	if len(r.Audience) > 256 || strings.ContainsAny(r.Audience, "\x00\r\n") || !utf8.ValidString(r.Audience) {
		return bad("audience is not valid")
	}

	if r.Issuer == "" {
		if r.JWKSURI != "" || len(r.Algorithms) > 0 {
			return bad("jwks_uri and algorithms need an issuer (they describe another identity provider)")
		}
	} else {
		if err := checkHTTPURL(r.Issuer, true); err != nil {
			return bad("issuer %q: %s", r.Issuer, err.Error())
		}
		if r.JWKSURI != "" {
			if err := checkHTTPURL(r.JWKSURI, false); err != nil {
				return bad("jwks_uri %q: %s", r.JWKSURI, err.Error())
			}
		}
		if len(r.Algorithms) == 0 {
			r.Algorithms = []string{"RS256"}
		}
		for _, a := range r.Algorithms {
			if !slices.Contains(routeAlgorithms, a) {
				return bad("algorithm %q is not one of %s", a, strings.Join(routeAlgorithms, ", "))
			}
		}
		r.Algorithms = sortedUnique(r.Algorithms)
		// Other providers often type their access tokens "JWT", like their
		// ID tokens: only the audience then tells an access token for this
		// API from an ID token issued to any client of that provider.
		if r.Audience == "" {
			return bad("a route for another identity provider needs an audience (the aud of the access tokens it issues for this API)")
		}
	}

	for _, l := range []struct {
		name string
		l    RateLimit
	}{{"rate_limit", r.RateLimit}, {"client_rate_limit", r.ClientRateLimit}} {
		// NaN passes every comparison, so it is refused by name.
		if math.IsNaN(l.l.Rate) || l.l.Rate < 0 || l.l.Burst < 0 || l.l.Rate > 1e6 || l.l.Burst > 1e6 {
			return bad("%s must have a rate and burst between 0 and 1000000", l.name)
		}
		if (l.l.Rate > 0) != (l.l.Burst > 0) {
			return bad("%s needs both a rate and a burst", l.name)
		}
	}
	for i, h := range r.StripHeaders {
		if !headerNameRE.MatchString(h) {
			return bad("strip_headers: %q is not a header name", h)
		}
		// net/http's canonical form, the one the gateway deletes by.
		r.StripHeaders[i] = textproto.CanonicalMIMEHeaderKey(h)
	}
	r.StripHeaders = sortedUnique(r.StripHeaders)
	if (r.Policy == PolicyJWT || r.Policy == PolicyAny) && r.Audience == "" && !r.AnyAudience {
		return bad("a route with policy %s needs an audience (the aud its access tokens must carry, such as the API's URL), or any_audience: true; without one, a token the issuer minted for another API would be accepted here", r.Policy)
	}
	if field, uri := r.keySource(); field != "" && !fetchable(uri) {
		return bad("%s %q: keys are fetched only over https, or http to a loopback host", field, uri)
	}
	return nil
}

// keySource names where the gateway fetches the keys of another identity
// provider: its jwks_uri, or its issuer's discovery document when it has
// none. ("", "") for Gatehouse's own tokens.
func (r *Route) keySource() (field, uri string) {
	switch {
	case r.Issuer == "":
		return "", ""
	case r.JWKSURI != "":
		return "jwks_uri", r.JWKSURI
	default:
		return "issuer", r.Issuer
	}
}

// fetchable reports whether keys may be fetched from raw: over https, or
// http to a loopback host, the rule of the verify package, which fetches
// them — keys read in clear text over a network could be replaced, and
// with them every token accepted. A route that broke it would be stored,
// then refused when the gateway builds its table, holding back every
// other change.
func fetchable(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return LoopbackHost(u.Hostname())
	}
	return false
}

// LoopbackHost reports whether host (a name or IP address, without port or
// brackets) is this machine: localhost in any case, or a loopback address.
// It is the exception to "https only" wherever the server takes a URL or
// listens in clear text: traffic to it never crosses a network.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Clone returns a copy of r that shares no memory with it: Normalize works
// in place, and a caller's records must not change under it.
func (r *Route) Clone() *Route {
	c := *r
	c.Hosts = slices.Clone(r.Hosts)
	c.Methods = slices.Clone(r.Methods)
	c.Upstreams = slices.Clone(r.Upstreams)
	c.Scopes = slices.Clone(r.Scopes)
	c.Algorithms = slices.Clone(r.Algorithms)
	c.StripHeaders = slices.Clone(r.StripHeaders)
	return &c
}

// routeAlgorithms are the asymmetric algorithms a route may accept from
// another issuer. Symmetric ones (HS256) are refused: the gateway would
// need the issuer's secret, which could then mint tokens.
var routeAlgorithms = []string{"ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}

// PrefixesClash reports whether two path prefixes differ only by the case
// of ASCII letters. Such routes cannot both be served: an upstream that
// ignores case would take a request matched to one for the other.
func PrefixesClash(a, b string) bool {
	return a != b && EqualFoldASCII(a, b)
}

// MatchesHost reports whether host (lower case, without port) is one of
// the route's hosts; a route without hosts matches every host.
func (r *Route) MatchesHost(host string) bool {
	if len(r.Hosts) == 0 {
		return true
	}
	for _, h := range r.Hosts {
		if h == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(h, "*"); ok && len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// MatchesMethod reports whether the route takes method.
func (r *Route) MatchesMethod(method string) bool {
	return len(r.Methods) == 0 || slices.Contains(r.Methods, method)
}

func validHostPattern(h string) bool {
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		h = rest
		if !strings.Contains(h, ".") {
			return false // "*.com" would match half the internet
		}
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if !hostLabelRE.MatchString(label) {
			return false
		}
	}
	return true
}

func validPathPrefix(p string) bool {
	if p == "/" {
		return true
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || len(p) > 1024 {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	u, err := url.Parse(p)
	// A prefix the gateway would refuse in a request could match nothing.
	return err == nil && u.Path == p && u.RawQuery == "" && u.Fragment == "" && !strings.ContainsAny(p, "%?#*\\ \t") &&
		CheckPath(p) == PathOK
}

func normalizeUpstream(s string) (string, error) {
	if err := checkHTTPURL(s, false); err != nil {
		return "", err
	}
	u, _ := url.Parse(s)
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	// Every trailing slash goes, or "http://a//" would take two rounds to
	// reach its canonical form; the escaped path is trimmed so that an
	// escaped slash ("%2F") stays escaped.
	escaped := strings.TrimRight(u.EscapedPath(), "/")
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return "", errors.New("has a malformed path")
	}
	u.Path, u.RawPath = path, escaped
	// "http://a?" has an empty query that would otherwise survive.
	u.ForceQuery = false
	return u.String(), nil
}

func checkHTTPURL(s string, exact bool) error {
	if len(s) > 2048 {
		return errors.New("too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || (!exact && u.RawQuery != "") || u.Opaque != "" {
		return errors.New("must have a host, and no user information, query or fragment")
	}
	return nil
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
