// Package admin is the HTTP transport for API keys: the admin REST API under
// /admin/v1 (JSON, RFC 9457 problem details, an OpenAPI 3.1 document), the
// public verify endpoint POST /v1/keys/verify, and the Go Client the CLI uses.
//
// The wire format is defined once, in wire.go, and shared by the server and
// the Client; errors map to HTTP statuses in one table, in problem.go.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	routesvc "github.com/gatehouse-dev/gatehouse/internal/routes"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// KeyService is what the API needs of the key service (*apikey.Service).
// Errors are *auth.Error with codes EINVALID, ENOTFOUND or ECONFLICT;
// anything else is internal.
type KeyService interface {
	Create(ctx context.Context, p apikey.CreateParams) (*auth.APIKey, string, error)
	Get(ctx context.Context, id string) (*auth.APIKey, error)
	List(ctx context.Context, f auth.APIKeyFilter) ([]*auth.APIKey, string, error)
	Rotate(ctx context.Context, id string, grace time.Duration, actor string) (*auth.APIKey, string, error)
	Revoke(ctx context.Context, id, actor string) (*auth.APIKey, error)
	Update(ctx context.Context, id string, p apikey.UpdateParams) (*auth.APIKey, error)
	Verify(ctx context.Context, key string, scopes []string) (apikey.Result, error)
	Check(ctx context.Context, req apikey.Request) (apikey.Result, error)
}

// AuditReader reads the audit log (auth.AuditStore provides it).
type AuditReader interface {
	ListAuditEvents(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEvent, int64, error)
}

// Interface guards: the real implementations satisfy the narrow interfaces.
var (
	_ KeyService  = (*apikey.Service)(nil)
	_ AuditReader = auth.AuditStore(nil)
)

// ScopeAdmin is the scope an API key needs to use the admin API.
const ScopeAdmin = "admin"

// Config configures a Server. Keys and Audit are required.
type Config struct {
	Keys  KeyService
	Audit AuditReader
	// Clients, Consents, Users and SigningKeys serve the authorization
	// server's routes, all or none; none leaves them answering 404 (a node
	// with API keys alone).
	Clients     ClientService
	Consents    ConsentService
	Users       UserService
	SigningKeys SigningKeyService
	// Routes serves the gateway's stored routes; nil leaves them
	// answering 404.
	Routes *routesvc.Service
	// Webhooks serves the webhook endpoints; nil leaves them answering
	// 404.
	Webhooks WebhookService
	// Usage reads the usage counts; nil leaves GET /admin/v1/usage
	// answering 404. UsageRetention is how long the node keeps each
	// granularity (zero: auth.DefaultUsageRetention), so that a query
	// for pruned buckets is refused rather than answered with zeros.
	Usage          UsageReader
	UsageRetention auth.UsageRetention
	// Nodes reads the cluster's node table; nil leaves GET
	// /admin/v1/nodes answering 404. HeartbeatInterval is the node's
	// cluster.heartbeat_interval, by which the list says who is live.
	Nodes             NodeLister
	HeartbeatInterval time.Duration

	Logger *slog.Logger // nil: discard
	Now    auth.Now     // nil: auth.SystemNow
	// MaxBodyBytes caps request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// VerifyLimit bounds the requests to the verify endpoint from one
	// source address (an IPv6 /64), so that a flood of random well-formed
	// keys cannot become a flood of store reads. The zero value means no
	// limit.
	VerifyLimit auth.RateLimit
	// VerifyLimiter keeps VerifyLimit's buckets; nil keeps them on this
	// node. A ratelimit.Redis (a scope of the node's) shares them between
	// nodes.
	VerifyLimiter ratelimit.Limiter
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// source address (ratelimit.ClientAddr).
	TrustedProxies []netip.Prefix

	// SecretScanning handles POST /v1/secret-scanning; nil leaves it
	// answering 404.
	SecretScanning SecretScanner

	// Tokens lets people use the admin routes with their access tokens
	// (`gatehouse login`; see usertoken.go) beside admin keys; it needs
	// Users. nil: admin keys only.
	Tokens *TokenConfig
	// RegistrationTokens serves the initial access tokens of dynamic
	// client registration; nil leaves their routes answering 404.
	RegistrationTokens RegistrationTokenService
	// Providers serves the upstream identity providers; nil leaves their
	// routes answering 404.
	Providers ProviderService
	// Factors shows and removes users' second factors; nil leaves their
	// routes answering 404.
	Factors FactorService
}

// Server serves the admin API and the verify endpoint. It holds no state of
// its own besides its configuration and the verify endpoint's per-source
// buckets, so one Server may serve any number of concurrent requests.
type Server struct {
	keys        KeyService
	audit       AuditReader
	clients     ClientService
	consents    ConsentService
	users       UserService
	signingKeys SigningKeyService
	routes      *routesvc.Service
	webhooks    WebhookService
	scanner     SecretScanner
	logger      *slog.Logger
	now         auth.Now
	maxBody     int64
	verifyLimit auth.RateLimit
	trusted     []netip.Prefix
	sources     ratelimit.Buckets // of the verify endpoint, by source address: without VerifyLimiter, and when it fails
	sourceLim   ratelimit.Limiter // Config.VerifyLimiter, or sources
	// mux serves the routes, and everything else through unmatched;
	// routeMux holds the routes alone, and is asked only by unmatched to
	// tell a 404 from a 405, so a matched request is routed once.
	mux      *http.ServeMux
	routeMux *http.ServeMux

	usage          UsageReader
	usageRetention auth.UsageRetention

	nodes     NodeLister
	heartbeat time.Duration

	tokens    *userTokens // nil: admin keys only
	regTokens RegistrationTokenService
	providers ProviderService
	factors   FactorService
}

// NewServer checks cfg, fills in defaults and registers the routes.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Keys == nil {
		return nil, errors.New("admin: Config.Keys is required")
	}
	if cfg.Audit == nil {
		return nil, errors.New("admin: Config.Audit is required")
	}
	if (cfg.Clients == nil) != (cfg.Consents == nil) || (cfg.Clients == nil) != (cfg.Users == nil) ||
		(cfg.Clients == nil) != (cfg.SigningKeys == nil) {
		return nil, errors.New("admin: Config.Clients, Consents, Users and SigningKeys go together: all or none")
	}
	if cfg.VerifyLimit.Rate < 0 || cfg.VerifyLimit.Burst < 0 {
		return nil, errors.New("admin: Config.VerifyLimit must not be negative")
	}
	if cfg.Nodes != nil && cfg.HeartbeatInterval <= 0 {
		return nil, errors.New("admin: Config.Nodes needs a positive HeartbeatInterval")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("admin: Config.MaxBodyBytes must not be negative")
	}
	if cfg.Tokens != nil && cfg.Users == nil {
		return nil, errors.New("admin: Config.Tokens needs Users")
	}
	s := &Server{
		keys:        cfg.Keys,
		audit:       cfg.Audit,
		clients:     cfg.Clients,
		consents:    cfg.Consents,
		users:       cfg.Users,
		signingKeys: cfg.SigningKeys,
		routes:      cfg.Routes,
		webhooks:    cfg.Webhooks,
		scanner:     cfg.SecretScanning,
		logger:      cfg.Logger,
		now:         cfg.Now,
		maxBody:     cfg.MaxBodyBytes,
		verifyLimit: cfg.VerifyLimit,
		sourceLim:   cfg.VerifyLimiter,
		trusted:     cfg.TrustedProxies,
		mux:         http.NewServeMux(),
		routeMux:    http.NewServeMux(),
	}
	s.usage, s.usageRetention = cfg.Usage, cfg.UsageRetention
	s.nodes, s.heartbeat = cfg.Nodes, cfg.HeartbeatInterval
	s.regTokens = cfg.RegistrationTokens
	s.providers = cfg.Providers
	s.factors = cfg.Factors
	if s.usageRetention == (auth.UsageRetention{}) {
		s.usageRetention = auth.DefaultUsageRetention
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.sourceLim == nil {
		s.sourceLim = ratelimit.Local{Buckets: &s.sources}
	}
	if cfg.Tokens != nil {
		var err error
		if s.tokens, err = newUserTokens(cfg.Tokens, s.now); err != nil {
			return nil, err
		}
	}
	for _, rt := range routes() {
		h := s.wrap(rt)
		s.mux.Handle(rt.pattern(), h)
		s.routeMux.Handle(rt.pattern(), h)
	}
	s.mux.HandleFunc("/", s.unmatched)
	return s, nil
}

// Handler returns the handler of every route, with request logging.
func (s *Server) Handler() http.Handler {
	return s.logRequests(s.mux)
}

// access says who may call a route.
type access int

const (
	public            access = iota // anyone; the route authenticates nothing
	adminOnly                       // an API key holding ScopeAdmin
	adminOAuth                      // the same, on a node that runs the authorization server
	adminRoutes                     // the same, on a node that manages gateway routes
	adminHooks                      // the same, on a node that manages webhooks
	adminRegistration               // the same, on a node that serves dynamic client registration
)

// route is one endpoint. This table is the single list of routes: the mux is
// built from it and a test holds openapi.json to it, both ways.
type route struct {
	method string
	path   string // ServeMux syntax, which is also OpenAPI's for plain {name} segments
	access access
	handle func(s *Server, w http.ResponseWriter, r *http.Request) error
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

func routes() []route {
	return []route{
		{http.MethodPost, "/v1/keys/verify", public, (*Server).handleVerify},
		// Public: GitHub calls it; the Scanner checks the report's signature.
		{http.MethodPost, "/v1/secret-scanning", public, (*Server).handleSecretScanning},
		{http.MethodPost, "/admin/v1/keys", adminOnly, (*Server).handleCreateKey},
		{http.MethodGet, "/admin/v1/keys", adminOnly, (*Server).handleListKeys},
		{http.MethodGet, "/admin/v1/keys/{id}", adminOnly, (*Server).handleGetKey},
		{http.MethodPatch, "/admin/v1/keys/{id}", adminOnly, (*Server).handleUpdateKey},
		{http.MethodPost, "/admin/v1/keys/{id}/rotate", adminOnly, (*Server).handleRotateKey},
		{http.MethodPost, "/admin/v1/keys/{id}/revoke", adminOnly, (*Server).handleRevokeKey},
		{http.MethodGet, "/admin/v1/audit-events", adminOnly, (*Server).handleListAuditEvents},
		{http.MethodGet, "/admin/v1/usage", adminOnly, (*Server).handleUsage},
		{http.MethodGet, "/admin/v1/nodes", adminOnly, (*Server).handleListNodes},
		{http.MethodPost, "/admin/v1/clients", adminOAuth, (*Server).handleCreateClient},
		{http.MethodGet, "/admin/v1/clients", adminOAuth, (*Server).handleListClients},
		{http.MethodGet, "/admin/v1/clients/{id}", adminOAuth, (*Server).handleGetClient},
		{http.MethodPut, "/admin/v1/clients/{id}", adminOAuth, (*Server).handleUpdateClient},
		{http.MethodDelete, "/admin/v1/clients/{id}", adminOAuth, (*Server).handleDeleteClient},
		{http.MethodPost, "/admin/v1/clients/{id}/rotate-secret", adminOAuth, (*Server).handleRotateClientSecret},
		{http.MethodPost, "/admin/v1/users", adminOAuth, (*Server).handleCreateUser},
		{http.MethodGet, "/admin/v1/users", adminOAuth, (*Server).handleListUsers},
		{http.MethodGet, "/admin/v1/users/{id}", adminOAuth, (*Server).handleGetUser},
		{http.MethodPatch, "/admin/v1/users/{id}", adminOAuth, (*Server).handleUpdateUser},
		{http.MethodPost, "/admin/v1/users/{id}/disable", adminOAuth, (*Server).handleDisableUser},
		{http.MethodPost, "/admin/v1/users/{id}/enable", adminOAuth, (*Server).handleEnableUser},
		{http.MethodPost, "/admin/v1/users/{id}/reset-password", adminOAuth, (*Server).handleResetPassword},
		{http.MethodPost, "/admin/v1/users/{id}/reset-link", adminOAuth, (*Server).handleCreateResetLink},
		{http.MethodGet, "/admin/v1/users/{id}/factors", adminOAuth, (*Server).handleListFactors},
		{http.MethodDelete, "/admin/v1/users/{id}/factors", adminOAuth, (*Server).handleResetFactors},
		{http.MethodDelete, "/admin/v1/users/{id}/factors/totp", adminOAuth, (*Server).handleResetTOTP},
		{http.MethodDelete, "/admin/v1/users/{id}/factors/passkeys/{passkey_id}", adminOAuth, (*Server).handleResetPasskey},
		{http.MethodGet, "/admin/v1/users/{id}/consents", adminOAuth, (*Server).handleListConsents},
		{http.MethodDelete, "/admin/v1/users/{id}/consents/{client_id}", adminOAuth, (*Server).handleRevokeConsent},
		{http.MethodGet, "/admin/v1/signing-keys", adminOAuth, (*Server).handleListSigningKeys},
		{http.MethodPost, "/admin/v1/signing-keys/rotate", adminOAuth, (*Server).handleRotateSigningKey},
		{http.MethodPost, "/admin/v1/registration-tokens", adminRegistration, (*Server).handleCreateRegistrationToken},
		{http.MethodGet, "/admin/v1/registration-tokens", adminRegistration, (*Server).handleListRegistrationTokens},
		{http.MethodPost, "/admin/v1/registration-tokens/{id}/revoke", adminRegistration, (*Server).handleRevokeRegistrationToken},
		{http.MethodPost, "/admin/v1/providers", adminOnly, (*Server).handleCreateProvider},
		{http.MethodGet, "/admin/v1/providers", adminOnly, (*Server).handleListProviders},
		{http.MethodGet, "/admin/v1/providers/{name}", adminOnly, (*Server).handleGetProvider},
		{http.MethodPatch, "/admin/v1/providers/{name}", adminOnly, (*Server).handleUpdateProvider},
		{http.MethodDelete, "/admin/v1/providers/{name}", adminOnly, (*Server).handleDeleteProvider},
		{http.MethodPost, "/admin/v1/routes", adminRoutes, (*Server).handleCreateRoute},
		{http.MethodGet, "/admin/v1/routes", adminRoutes, (*Server).handleListRoutes},
		{http.MethodGet, "/admin/v1/routes/{name}", adminRoutes, (*Server).handleGetRoute},
		{http.MethodPatch, "/admin/v1/routes/{name}", adminRoutes, (*Server).handleUpdateRoute},
		{http.MethodDelete, "/admin/v1/routes/{name}", adminRoutes, (*Server).handleDeleteRoute},
		{http.MethodPost, "/admin/v1/webhooks", adminHooks, (*Server).handleCreateWebhook},
		{http.MethodGet, "/admin/v1/webhooks", adminHooks, (*Server).handleListWebhooks},
		{http.MethodGet, "/admin/v1/webhooks/{id}", adminHooks, (*Server).handleGetWebhook},
		{http.MethodPatch, "/admin/v1/webhooks/{id}", adminHooks, (*Server).handleUpdateWebhook},
		{http.MethodDelete, "/admin/v1/webhooks/{id}", adminHooks, (*Server).handleDeleteWebhook},
		{http.MethodPost, "/admin/v1/webhooks/{id}/rotate-secret", adminHooks, (*Server).handleRotateWebhookSecret},
		{http.MethodGet, "/admin/v1/webhooks/{id}/deliveries", adminHooks, (*Server).handleListWebhookDeliveries},
		{http.MethodPost, "/admin/v1/webhooks/{id}/deliveries/{delivery_id}/retry", adminHooks, (*Server).handleRetryWebhookDelivery},
		// Public: it describes an open-source API and holds nothing secret,
		// and API tooling fetches it without credentials.
		{http.MethodGet, "/admin/v1/openapi.json", public, (*Server).handleOpenAPI},
	}
}

// wrap turns a route into a handler: it records the route for the request
// log, authenticates admin routes and turns a returned error into a problem.
func (s *Server) wrap(rt route) http.Handler {
	pattern := rt.pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoOf(r)
		info.route = pattern
		if rt.access != public {
			actor, err := s.authenticate(w, r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if info.userID == "" {
				info.keyID = actor
			}
			r = withActor(r, actor)
		}
		if rt.access == adminOAuth && s.clients == nil {
			s.writeError(w, r, errNoOAuth())
			return
		}
		if rt.access == adminRoutes && s.routes == nil {
			s.writeError(w, r, errNoRoutes())
			return
		}
		if rt.access == adminHooks && s.webhooks == nil {
			s.writeError(w, r, errNoWebhooks())
			return
		}
		if rt.access == adminRegistration && s.regTokens == nil {
			s.writeError(w, r, errNoRegistration())
			return
		}
		if err := rt.handle(s, w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// unmatched answers requests no route matched with a problem, since
// ServeMux's own 404 and 405 are plain text.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.routeMux.Handler(r)
	// Let the mux decide between 404 and 405 (and compute Allow), then
	// answer in our format instead of its text.
	rec := &headerRecorder{header: make(http.Header)}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		problem.Write(w, kindMethodNotAllowed.With("This route does not allow the method; see the Allow header."))
		return
	}
	problem.Write(w, kindOfCode(auth.ENOTFOUND).With("No such route. The API is described at /admin/v1/openapi.json."))
}

// headerRecorder captures the status and headers a handler writes and drops
// its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }

func (h *headerRecorder) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *headerRecorder) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

var adminScopes = []string{ScopeAdmin}

// bearerChallenge is sent with every 401 (RFC 6750 section 3).
const bearerChallenge = `Bearer realm="gatehouse"`

// authenticate verifies the admin key of r, or the access token of a
// person (authenticateUser) where Config.Tokens allows them, and returns
// the key's or the user's ID, the actor of whatever the request changes.
// It returns EUNAUTHORIZED without a valid key, EFORBIDDEN for a key
// without ScopeAdmin and ERATELIMITED over its limit, having set the
// matching headers.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, error) {
	if s.tokens != nil {
		if token, ok := userBearer(r); ok {
			return s.authenticateUser(w, r, token)
		}
	}
	key, ok := apikey.Extract(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", bearerChallenge)
		return "", auth.Errorf(auth.EUNAUTHORIZED, "An admin API key is required, in the X-API-Key header or as Authorization: Bearer.")
	}
	// The peer's address: the admin API believes no forwarding header, so
	// an admin key restricted to networks must be used from them directly.
	// Unknown (not an address): the zero Addr, which such keys refuse.
	peer, _ := ratelimit.PeerAddr(r.RemoteAddr)
	res, err := s.keys.Check(r.Context(), apikey.Request{Key: key, Scopes: adminScopes, IP: peer})
	if err != nil {
		// Only a store failure: a bad key is a result, not an error.
		return "", fmt.Errorf("admin: verify admin key: %w", err)
	}
	if res.Key != nil {
		// Known even when refused, so the log says which key was turned away.
		infoOf(r).keyID = res.Key.ID
	}
	setRateLimitHeaders(w.Header(), res.RateLimit)
	switch res.Code {
	case apikey.CodeValid:
		if res.Key == nil {
			return "", errors.New("admin: verify admin key: valid result without a key")
		}
		return res.Key.ID, nil
	case apikey.CodeInsufficientScope:
		return "", auth.Errorf(auth.EFORBIDDEN, "This API key does not hold the %q scope.", ScopeAdmin)
	case apikey.CodeRateLimited:
		setRetryAfter(w.Header(), res.RateLimit)
		return "", auth.Errorf(auth.ERATELIMITED, "This API key is over its rate limit; retry after the Retry-After delay.")
	case apikey.CodeUsageExceeded:
		return "", &kindError{kindUsageExceeded, auth.Errorf(auth.ERATELIMITED, "This API key has used up its credits (its usage quota) until the next refill.")}
	case apikey.CodeIPNotAllowed:
		return "", &kindError{kindIPNotAllowed, auth.Errorf(auth.EFORBIDDEN, "This API key may not be used from this address.")}
	default:
		// One message for unknown, expired and revoked keys alike.
		w.Header().Set("WWW-Authenticate", bearerChallenge)
		return "", auth.Errorf(auth.EUNAUTHORIZED, "The API key is not valid: unknown, expired or revoked.")
	}
}

// requestInfo collects, while a request is served, what its log line says.
type requestInfo struct {
	route  string // the matched pattern; "" when no route matched
	keyID  string // ID of the API key the request presented, when known
	userID string // ID of the user whose access token the request presented, when known
}

type infoKey struct{}

// infoOf returns the request's info, or a throwaway one for a request that
// did not come through Handler (so handlers never need a nil check).
func infoOf(r *http.Request) *requestInfo {
	if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

func routeOf(r *http.Request) string {
	if rt := infoOf(r).route; rt != "" {
		return rt
	}
	return "unmatched"
}

// logRequests logs one line per request: method, route pattern (never the
// raw path, which could hold anything), status, duration and the ID of the
// key presented. Never a key, a header or a body.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		// Room for key_id up front: growing the slice would cost a heap
		// allocation per request; this way it stays on the stack.
		attrs := make([]slog.Attr, 0, 6)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.String("route", routeOf(r)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
		)
		if info.keyID != "" {
			attrs = append(attrs, slog.String("key_id", info.keyID))
		}
		if info.userID != "" {
			attrs = append(attrs, slog.String("user_id", info.userID))
		}
		s.logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// statusWriter remembers the status written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
