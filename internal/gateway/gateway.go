// Package gateway is Gatehouse's authenticating reverse proxy: it matches a
// request to a route, checks the credential the route's policy asks for
// (API key, Gatehouse JWT, another issuer's JWT, or none), applies the
// route's rate limits, forwards the verified identity in X-Gatehouse-*
// headers (or as a short-lived internal JWT) and hands the request to the
// route's upstreams.
//
// The route table is an immutable snapshot swapped atomically: SetRoutes
// never drops or fails a request in flight, and what is expensive to build
// (an upstream proxy, an external issuer's key cache) is carried over from
// one table to the next when it has not changed.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// APIKeys verifies API keys; *apikey.Service implements it.
// The gateway verifies in two steps (see apikey.Service.Authorize), so
// that a request its route's limits refuse spends no credits.
type APIKeys interface {
	Authorize(ctx context.Context, req apikey.Request) (apikey.Result, error)
	Settle(ctx context.Context, req apikey.Request, res apikey.Result, refusal apikey.Code) (apikey.Result, error)
}

// Signer signs the internal JWTs; *signing.Keyring implements it.
type Signer interface {
	Sign(typ string, claims any) (string, error)
	CurrentKeyID() string
}

// Defaults of Config.
const (
	DefaultInternalTokenTTL = 60 * time.Second
	DefaultActor            = "urn:gatehouse:gateway"
	DefaultLeeway           = 30 * time.Second
	// DefaultMaxIdlePerHost is the idle connections per upstream host of
	// the transport New builds when Config.Transport is nil.
	DefaultMaxIdlePerHost = 512
)

// Config configures a Gateway. Issuer, JWKS and Algorithms describe
// Gatehouse's own access tokens and are required, as is Keys.
type Config struct {
	Issuer           string                              // Gatehouse's own issuer: iss of its access tokens
	JWKS             func() (doc []byte, version string) // its published keys (keyring.JWKS)
	Algorithms       []string                            // its signing algorithms (keyring.Algorithms())
	Keys             APIKeys                             // verifies API keys
	Signer           Signer                              // mints internal JWTs; required only by routes with InternalJWT
	InternalTokenTTL time.Duration                       // default 60s
	// Actor is the gateway's act.sub in internal JWTs: the party acting
	// for the caller (RFC 8693 4.1); default DefaultActor.
	Actor string
	// Revoked is the revocation list, consulted for every Gatehouse JWT on
	// every request (cached verifications included).
	Revoked func(jti string) bool
	// RevocationsFresh reports whether the revocation list is recent
	// enough to trust (revocation.List.Fresh): when it is not (the store
	// unreachable), Gatehouse's own tokens are refused with 503, since one
	// may have been revoked through another node meanwhile. nil: always.
	RevocationsFresh func() bool
	// ClientActive reports whether the OAuth client a Gatehouse token was
	// issued to still exists: tokens of a deleted client are refused
	// ("revoked"). nil: not checked.
	ClientActive   func(ctx context.Context, clientID string) (bool, error)
	TrustedProxies []netip.Prefix        // peers whose X-Forwarded-For is believed
	HTTPClient     *http.Client          // fetches external issuers' discovery documents and JWKS
	Transport      http.RoundTripper     // to upstreams; nil = proxy.NewTransport(DefaultMaxIdlePerHost)
	Leeway         time.Duration         // clock skew for exp/nbf/iat; default 30s
	Logger         *slog.Logger          // access log and refusals; default: discard
	AccessLog      bool                  // one Info line per request
	Registerer     prometheus.Registerer // nil = no metrics
	// Limiter keeps the route and client rate limits; nil keeps them in
	// this process (per node). A ratelimit.Redis (a scope of the node's)
	// shares them between nodes, leasing tokens so that a limit far from
	// reached costs no Redis round trip (docs/rate-limits.md).
	Limiter ratelimit.Limiter
	Now     auth.Now // default auth.SystemNow
	// Usage counts the verifications of JWTs on jwt (and any) routes, by
	// client, user, route and outcome; nil counts nothing. (API keys are
	// counted by the key service's own counter, usually the same one.)
	Usage *usage.Counter
	// DPoP checks the proofs of DPoP-bound Gatehouse tokens (dpop.go); nil
	// refuses every bound token. Its RequestURL is not used: the URL a
	// proof must name comes from PublicURL and the route (dpopURL).
	DPoP *verify.DPoP
	// PublicURL is the URL clients reach the gateway at
	// ("https://api.example.com", scheme, host and port only), which DPoP
	// proofs name in htu: its host on routes without hosts, and its
	// scheme and port on every route (a route with hosts takes the
	// request's host, one of the route's). "": the scheme is
	// PublicScheme, the port the scheme's default, and DPoP-bound tokens
	// are refused on routes without hosts, since the Host header alone
	// does not say the gateway serves that name.
	PublicURL string
	// PublicScheme is the scheme clients use when PublicURL is empty:
	// "https" behind a TLS-terminating proxy; "" for the connection's
	// (https over TLS, else http).
	PublicScheme string
	// TracerProvider records the verification of JWTs and names the
	// request's server span (started by tracing.Middleware) after its
	// route; with it, upstreams get the gateway's span as the parent in
	// their traceparent. nil: no spans, and traceparent passes unchanged.
	TracerProvider trace.TracerProvider
}

// Gateway is an http.Handler that authenticates and forwards requests
// according to its route table. It is safe for concurrent use.
type Gateway struct {
	cfg     Config
	now     auth.Now
	log     *slog.Logger
	own     *verify.Verifier // Gatehouse's own tokens
	health  *proxy.Health
	limits  ratelimit.Buckets // the limits when Config.Limiter is nil
	limiter ratelimit.Limiter // Config.Limiter, or limits
	metrics *metrics          // nil without a Registerer
	minted  *mintCache
	none    *route // what metrics and logs use when no route matched

	table atomic.Pointer[table]
	// upstreams is Config.Transport behind setCookieGuard.
	upstreams http.RoundTripper
	// revocationsStale: the revocation list was last seen stale (for
	// logging the change once).
	revocationsStale atomic.Bool

	mu     sync.Mutex // serialises SetRoutes and Close
	closed bool

	tracer trace.Tracer // nil: tracing off
	public publicURL    // Config.PublicURL (or PublicScheme), for DPoP
}

// New checks cfg and returns a Gateway with an empty route table: every
// request gets 404 until SetRoutes is called.
func New(cfg Config) (*Gateway, error) {
	if cfg.Issuer == "" || cfg.JWKS == nil || len(cfg.Algorithms) == 0 {
		return nil, errors.New("gateway: Config.Issuer, Config.JWKS and Config.Algorithms are required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("gateway: Config.Keys is required")
	}
	if cfg.InternalTokenTTL < 0 || cfg.Leeway < 0 {
		return nil, errors.New("gateway: Config.InternalTokenTTL and Config.Leeway may not be negative")
	}
	if cfg.InternalTokenTTL == 0 {
		cfg.InternalTokenTTL = DefaultInternalTokenTTL
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Actor == "" {
		cfg.Actor = DefaultActor
	}
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == nil {
		cfg.Transport = proxy.NewTransport(DefaultMaxIdlePerHost)
	}
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			return nil, errors.New("gateway: Config.TrustedProxies holds an invalid prefix")
		}
	}
	cfg.TrustedProxies = slices.Clone(cfg.TrustedProxies)
	for i, p := range cfg.TrustedProxies {
		cfg.TrustedProxies[i] = p.Masked()
	}

	pub, err := parsePublicURL(cfg.PublicURL, cfg.PublicScheme)
	if err != nil {
		return nil, err
	}

	g := &Gateway{cfg: cfg, now: cfg.Now, log: cfg.Logger, minted: newMintCache(defaultMintCacheSize),
		upstreams: setCookieGuard{cfg.Transport}, tracer: tracing.Tracer(cfg.TracerProvider, tracerName), public: pub}
	g.health = proxy.NewHealth(0, cfg.Now)
	g.limiter = cfg.Limiter
	if g.limiter == nil {
		g.limiter = ratelimit.Local{Buckets: &g.limits}
	}
	own, err := verify.New(verify.Config{
		AnyAudience: true, // each route checks its own audience
		Issuer:      cfg.Issuer,
		JWKS:        cfg.JWKS,
		Algorithms:  slices.Clone(cfg.Algorithms),
		Types:       []string{"at+jwt"},
		Revoked:     cfg.Revoked,
		Leeway:      cfg.Leeway,
		Now:         cfg.Now,
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: verifier of %s tokens: %w", cfg.Issuer, err)
	}
	g.own = own
	if cfg.Registerer != nil {
		if g.metrics, err = newMetrics(cfg.Registerer); err != nil {
			own.Close()
			return nil, err
		}
	}
	g.none = &route{name: "none"}
	g.none.m = g.metrics.forRoute("none")
	g.table.Store(&table{})
	return g, nil
}

// table is one immutable route table.
type table struct {
	routes  []*route     // in match order
	records []auth.Route // as given, normalized, by name
	// proxies and verifiers are what the routes were provisioned with, by
	// what they are built from: the next table takes those it still needs.
	proxies   map[forwardKey]*proxy.Proxy
	verifiers map[issuerKey]*verify.Verifier
	// pathParams: some route takes paths with ";parameters". Without
	// one, such a path is refused before matching.
	pathParams bool
}

// route is a table entry with everything its requests need resolved.
type route struct {
	name      string
	cfg       auth.Route
	proxy     *proxy.Proxy
	verifier  *verify.Verifier // the external issuer's; nil for Gatehouse's own tokens
	fwd       forwardKey
	limitKey  string // "route\x00"+name, built once
	clientPfx string // "client\x00"+name+"\x00"
	m         *routeMetrics
	// fold matches the prefix whatever its case: the route is
	// CaseInsensitive, or lies below the prefix of one that is — an
	// upstream that ignores case would otherwise serve "/api/ADMIN",
	// which the case-insensitive "/api" took, as "/api/admin".
	fold bool
	// held: a route this node cannot serve as configured. It is matched
	// like any other, so that its requests do not fall through to a
	// shorter prefix, and refused with 503.
	held bool
}

// forwardKey is what a *proxy.Proxy is built from: a route whose key is
// unchanged keeps its proxy (and its round-robin position) across reloads.
type forwardKey struct {
	name      string
	upstreams string
	strip     string
	timeout   time.Duration
}

// issuerKey identifies an external issuer's verifier, whose key cache is
// kept across reloads while some route still uses it.
type issuerKey struct {
	issuer, jwksURI, algorithms string
}

// SetRoutes replaces the route table. The routes are normalized and checked
// as one table first (auth.CheckRouteTable); an invalid set returns an
// error and the old table stays in force.
// Requests already past matching finish with the route they matched.
func (g *Gateway) SetRoutes(routes []auth.Route) error {
	return g.SetRoutesHolding(routes, nil)
}

// SetRoutesHolding is SetRoutes with held routes besides: routes the
// caller cannot serve (one stored by an older version that breaks a rule
// added since, one that clashes with another). Each is matched by its
// hosts, prefix and methods, and every request it takes is refused with
// 503, where leaving it out would hand its requests to a shorter prefix,
// often a public catch-all. A held route whose matching fields are
// themselves invalid matches nothing and is left out.
//
// A change runs in phases: the routes are checked (nothing is built for
// a table that will be refused), the new table is provisioned (reusing
// the old one's proxies and verifiers where they are unchanged), swapped
// in, and what the old table alone used is retired.
func (g *Gateway) SetRoutesHolding(routes, held []auth.Route) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("gateway: closed")
	}
	records, err := g.checkRoutes(routes)
	if err != nil {
		return err
	}
	old := g.table.Load()
	t, err := g.provision(old, records, held)
	if err != nil {
		return err
	}
	g.table.Store(t)
	g.retire(old, t)
	return nil
}

// checkRoutes is the first phase of a change: it returns the routes
// normalized, by name, if they make a table this gateway can serve.
func (g *Gateway) checkRoutes(routes []auth.Route) ([]auth.Route, error) {
	records := make([]auth.Route, len(routes))
	for i := range routes {
		records[i] = *routes[i].Clone()
	}
	if err := auth.CheckRouteTable(records); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	for _, r := range records {
		if r.InternalJWT && g.cfg.Signer == nil {
			return nil, fmt.Errorf("gateway: route %s: internal_jwt needs a Signer, and the gateway has none", r.Name)
		}
	}
	slices.SortFunc(records, func(a, b auth.Route) int { return strings.Compare(a.Name, b.Name) })
	return records, nil
}

// provision is the second phase: it builds the table of records (checked)
// and held routes, with a proxy for each route and a verifier for each
// external issuer, taken from old when unchanged. On failure whatever it
// created is closed and old stays untouched.
func (g *Gateway) provision(old *table, records, held []auth.Route) (*table, error) {
	t := &table{
		records:   records,
		proxies:   make(map[forwardKey]*proxy.Proxy, len(records)),
		verifiers: make(map[issuerKey]*verify.Verifier),
	}
	t.pathParams = slices.ContainsFunc(records, func(r auth.Route) bool { return r.AllowPathParams })
	for _, rc := range records {
		rt, err := g.provisionRoute(old, t, rc)
		if err != nil {
			for k, v := range t.verifiers {
				if old.verifiers[k] != v {
					v.Close()
				}
			}
			return nil, fmt.Errorf("gateway: route %s: %w", rc.Name, err)
		}
		t.routes = append(t.routes, rt)
	}
	for _, h := range held {
		if rt := g.heldRoute(h); rt != nil {
			t.routes = append(t.routes, rt)
		}
	}
	t.order()
	return t, nil
}

// provisionRoute builds the entry of one checked route in t, with the
// proxy and verifier it needs, reused from old or t when they exist.
func (g *Gateway) provisionRoute(old, t *table, rc auth.Route) (*route, error) {
	rt := &route{
		name:      rc.Name,
		cfg:       rc,
		limitKey:  "route\x00" + rc.Name,
		clientPfx: "client\x00" + rc.Name + "\x00",
		m:         g.metrics.forRoute(rc.Name),
		fwd: forwardKey{
			name:      rc.Name,
			upstreams: strings.Join(rc.Upstreams, "\x00"),
			timeout:   rc.Timeout,
		},
	}
	if rc.StripPrefix && rc.PathPrefix != "/" {
		rt.fwd.strip = rc.PathPrefix
	}
	rt.proxy = old.proxies[rt.fwd]
	if rt.proxy == nil {
		p, err := proxy.New(proxy.Options{
			Upstreams:   slices.Clone(rc.Upstreams),
			StripPrefix: rt.fwd.strip,
			Timeout:     rc.Timeout,
			Transport:   g.upstreams,
			Health:      g.health,
			OnError:     g.onUpstreamError(rc.Name, rt.m),
			Logger:      g.log,
		})
		if err != nil {
			return nil, err
		}
		rt.proxy = p
	}
	t.proxies[rt.fwd] = rt.proxy
	if rc.Issuer == "" {
		return rt, nil
	}
	k := issuerKey{rc.Issuer, rc.JWKSURI, strings.Join(rc.Algorithms, " ")}
	v := t.verifiers[k]
	if v == nil {
		v = old.verifiers[k]
	}
	if v == nil {
		var err error
		v, err = verify.New(verify.Config{
			AnyAudience: true, // each route checks its own audience
			Issuer:      rc.Issuer,
			JWKSURI:     rc.JWKSURI,
			Algorithms:  slices.Clone(rc.Algorithms),
			// Other identity providers type their access tokens
			// "at+jwt" (RFC 9068) or, still commonly, "JWT".
			Types:      []string{"at+jwt", "JWT"},
			Leeway:     g.cfg.Leeway,
			HTTPClient: g.cfg.HTTPClient,
			Now:        g.cfg.Now,
			Logger:     g.log,
		})
		if err != nil {
			return nil, fmt.Errorf("issuer %s: %w", rc.Issuer, err)
		}
	}
	t.verifiers[k] = v
	rt.verifier = v
	return rt, nil
}

// heldRoute is the entry of a held route: only its matching fields, and
// nil when they are invalid themselves (it could match nothing).
func (g *Gateway) heldRoute(h auth.Route) *route {
	m := auth.Route{Name: h.Name, Hosts: slices.Clone(h.Hosts), PathPrefix: h.PathPrefix, Methods: slices.Clone(h.Methods),
		Upstreams: []string{"http://held.invalid"}, Policy: auth.PolicyPublic, CaseInsensitive: h.CaseInsensitive}
	if m.Normalize() != nil {
		return nil
	}
	return &route{name: m.Name, cfg: m, held: true, m: g.metrics.forRoute(m.Name)}
}

// order readies t.routes for match: which prefixes match whatever their
// case, and the order in which routes win.
func (t *table) order() {
	for _, rt := range t.routes {
		rt.fold = rt.cfg.CaseInsensitive || slices.ContainsFunc(t.routes, func(o *route) bool {
			return o.cfg.CaseInsensitive && len(o.cfg.PathPrefix) < len(rt.cfg.PathPrefix) &&
				auth.MatchesPrefix(o.cfg.PathPrefix, rt.cfg.PathPrefix, true)
		})
	}
	slices.SortStableFunc(t.routes, matchOrder)
}

// retire is the last phase, once t has replaced old: what only old used
// goes. A request still holding old may use it a moment longer.
func (g *Gateway) retire(old, t *table) {
	// A deleted route's series go too: routes come and go through the
	// admin API, and the series of every route ever served would pile up.
	// A held route's series stay.
	names := make(map[string]bool, len(t.routes))
	for _, rt := range t.routes {
		names[rt.name] = true
	}
	for _, rt := range old.routes {
		if !names[rt.name] {
			g.metrics.forget(rt.name)
		}
	}
	// Verifiers no longer used stop refreshing; a request on old verifies
	// from their cache.
	for k, v := range old.verifiers {
		if t.verifiers[k] != v {
			v.Close()
		}
	}
}

// matchOrder puts the route that wins a match first: the longest path
// prefix, then a route with hosts over one without, then by name.
func matchOrder(a, b *route) int {
	if c := cmp.Compare(len(b.cfg.PathPrefix), len(a.cfg.PathPrefix)); c != 0 {
		return c
	}
	if ah, bh := len(a.cfg.Hosts) > 0, len(b.cfg.Hosts) > 0; ah != bh {
		if ah {
			return -1
		}
		return 1
	}
	return strings.Compare(a.name, b.name)
}

// Routes returns the routes in force, normalized, by name.
func (g *Gateway) Routes() []auth.Route {
	t := g.table.Load()
	out := make([]auth.Route, len(t.records))
	for i, r := range t.records {
		out[i] = *r.Clone()
	}
	return out
}

// Close stops the verifiers' background key refreshes. The Gateway still
// serves afterwards, from what it has cached, but SetRoutes fails.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	for _, v := range g.table.Load().verifiers {
		v.Close()
	}
	g.own.Close()
	return nil
}

// match returns the route for host, path and method. When none matches but
// some route matches host and path with other methods, allow lists them
// (for 405).
func (t *table) match(host, path, method string) (rt *route, allow []string) {
	prefix := -1 // the length of the most specific prefix that matched
	for _, r := range t.routes {
		if prefix >= 0 && len(r.cfg.PathPrefix) < prefix {
			// Never fall through to a shorter prefix: with "/admin" (jwt,
			// GET) and "/" (public), DELETE /admin must not reach the
			// public route. The routes are sorted longest prefix first.
			break
		}
		if !auth.MatchesPrefix(r.cfg.PathPrefix, path, r.fold) || !r.cfg.MatchesHost(host) {
			continue
		}
		if r.cfg.MatchesMethod(method) {
			return r, nil
		}
		prefix = len(r.cfg.PathPrefix)
		allow = append(allow, r.cfg.Methods...)
	}
	if len(allow) > 0 {
		slices.Sort(allow)
		allow = slices.Compact(allow)
	}
	return nil, allow
}
