package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// Config configures a Server. Issuer, Store, Clients, Hasher, Keys and
// Accounts are required.
type Config struct {
	// Issuer is the server's issuer identifier: an https URL (http only on
	// loopback or in development) without query, fragment or trailing
	// slash. Every endpoint URL is built from it.
	Issuer string

	Store auth.OAuthStore
	Audit auth.AuditStore
	// Clients is the client registry; the server only looks clients up.
	Clients ClientRegistry
	// Hasher keys the hashes of codes, refresh tokens and sessions.
	Hasher   *secret.Hasher
	Keys     *signing.Keyring
	Accounts *account.Service

	Now    auth.Now     // default auth.SystemNow
	Logger *slog.Logger // default: discard

	// Lifetimes; zero picks the default below. A client's own settings
	// override the token lifetimes.
	AccessTokenTTL     time.Duration
	IDTokenTTL         time.Duration
	RefreshTokenTTL    time.Duration // idle: unused this long, a refresh token dies
	RefreshTokenMaxTTL time.Duration // absolute: a family dies this long after the sign-in
	AuthCodeTTL        time.Duration // at most MaxAuthCodeTTL
	SessionTTL         time.Duration
	DeviceTTL          time.Duration // device cookies (device.go)

	// RefreshGrace is how long after a rotation the previous refresh token
	// may be presented once more (it then gets a fresh token of the same
	// family) instead of counting as reuse. Zero, the default, allows no
	// grace: RFC 9700 4.14 strictly.
	RefreshGrace time.Duration

	// InsecureCookies drops the Secure attribute of cookies, for plain-HTTP
	// development on localhost only.
	InsecureCookies bool

	// Usage counts every token request, by client, user and outcome;
	// nil counts nothing.
	Usage *usage.Counter

	// FirstPartyClients are the IDs of Gatehouse's own clients (the
	// dashboard): their users are never asked for consent, since the
	// client is part of the server they are signing in to. A code is
	// issued right after sign-in and no consent is recorded.
	FirstPartyClients []string

	// TracerProvider records a span per token request (token_trace.go);
	// nil records none.
	TracerProvider trace.TracerProvider

	// Registrar serves dynamic client registration (register.go); nil
	// leaves the registration endpoint out. Registration is its policy.
	Registrar    Registrar
	Registration RegistrationPolicy
}

// Defaults of Config.
const (
	DefaultAccessTokenTTL     = 10 * time.Minute
	DefaultIDTokenTTL         = 10 * time.Minute
	DefaultRefreshTokenTTL    = 30 * 24 * time.Hour
	DefaultRefreshTokenMaxTTL = 90 * 24 * time.Hour
	DefaultAuthCodeTTL        = 60 * time.Second
	MaxAuthCodeTTL            = 60 * time.Second
	DefaultSessionTTL         = 12 * time.Hour
	DefaultDeviceTTL          = 365 * 24 * time.Hour
)

// Server is the authorization server. Its methods are safe for concurrent
// use.
type Server struct {
	cfg       Config
	issuer    string
	store     auth.OAuthStore
	audit     auth.AuditStore
	clients   ClientRegistry
	hasher    *secret.Hasher
	keys      *signing.Keyring
	verifiers verifiers // check the tokens keys signed
	accounts  *account.Service
	now       auth.Now
	logger    *slog.Logger

	browser browserState // the issuer's origin, for form POSTs (browser side)

	firstParty map[string]bool // Config.FirstPartyClients

	tracer trace.Tracer // nil: tracing off

	registration registration // register.go
}

// ClientRegistry is what the server needs of the client registry
// (*client.Registry).
type ClientRegistry interface {
	// Lookup returns a client by ID, from a cache fast enough for every
	// token request; ENOTFOUND if there is no such client.
	Lookup(ctx context.Context, id string) (*auth.Client, error)
	// SecretMatches reports whether presented is the client's secret.
	SecretMatches(c *auth.Client, presented string) bool
}

var _ ClientRegistry = (*client.Registry)(nil)

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Clients == nil || cfg.Hasher == nil || cfg.Keys == nil || cfg.Accounts == nil {
		return nil, errors.New("oauth: Store, Clients, Hasher, Keys and Accounts are required")
	}
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	setDefault(&cfg.AccessTokenTTL, DefaultAccessTokenTTL)
	setDefault(&cfg.IDTokenTTL, DefaultIDTokenTTL)
	setDefault(&cfg.RefreshTokenTTL, DefaultRefreshTokenTTL)
	setDefault(&cfg.RefreshTokenMaxTTL, DefaultRefreshTokenMaxTTL)
	setDefault(&cfg.AuthCodeTTL, DefaultAuthCodeTTL)
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	setDefault(&cfg.DeviceTTL, DefaultDeviceTTL)
	if cfg.AuthCodeTTL > MaxAuthCodeTTL {
		return nil, errors.New("oauth: AuthCodeTTL is over 60s")
	}
	if cfg.RefreshGrace < 0 {
		return nil, errors.New("oauth: RefreshGrace is negative")
	}
	firstParty := make(map[string]bool, len(cfg.FirstPartyClients))
	for _, id := range cfg.FirstPartyClients {
		if !client.ValidID(id) {
			return nil, fmt.Errorf("oauth: first-party client %q is not a client ID", id)
		}
		firstParty[id] = true
	}
	if err := checkRegistrationPolicy(cfg.Registration); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		issuer:   cfg.Issuer,
		store:    cfg.Store,
		audit:    cfg.Audit,
		clients:  cfg.Clients,
		hasher:   cfg.Hasher,
		keys:     cfg.Keys,
		accounts: cfg.Accounts,
		now:      cfg.Now,
		logger:   cfg.Logger,

		firstParty: firstParty,
		tracer:     tracing.Tracer(cfg.TracerProvider, tracerName),
	}
	vs, err := newVerifiers(cfg.Keys, cfg.Issuer, cfg.Now, cfg.SessionTTL, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.verifiers = vs
	if err := s.initBrowser(); err != nil {
		return nil, err
	}
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Issuer returns the issuer identifier.
func (s *Server) Issuer() string { return s.issuer }

// Endpoint paths, relative to the issuer.
const (
	PathAuthorize     = "/oauth2/authorize"
	PathLogin         = "/oauth2/login"
	PathConsent       = "/oauth2/consent"
	PathLogout        = "/oauth2/logout"
	PathToken         = "/oauth2/token"
	PathRevoke        = "/oauth2/revoke"
	PathIntrospect    = "/oauth2/introspect"
	PathUserinfo      = "/userinfo"
	PathJWKS          = "/.well-known/jwks.json"
	PathOIDCDiscovery = "/.well-known/openid-configuration"
	PathASMetadata    = "/.well-known/oauth-authorization-server"
)

// Handler returns the handler of every endpoint of the server. Mount it at
// the root of the issuer's host.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.browserRoutes(mux)
	s.tokenRoutes(mux)
	s.registrationRoutes(mux)
	return mux
}

// url returns the absolute URL of an endpoint path.
func (s *Server) url(path string) string { return s.issuer + path }

func checkIssuer(iss string) error {
	switch {
	case iss == "":
		return errors.New("oauth: Issuer is required")
	case strings.HasSuffix(iss, "/"), strings.ContainsAny(iss, "?#"):
		return errors.New("oauth: Issuer must have no trailing slash, query or fragment")
	case !strings.HasPrefix(iss, "https://") && !strings.HasPrefix(iss, "http://"):
		return errors.New("oauth: Issuer must be an https URL")
	}
	return nil
}
