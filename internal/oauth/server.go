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
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/verify"
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

	// RequirePushedAuthorizationRequests makes the authorization endpoint
	// accept requests only through a pushed request_uri (RFC 9126 5), for
	// every client but the FirstPartyClients; a client's RequirePAR does it
	// for that client alone.
	RequirePushedAuthorizationRequests bool
	// DPoP is the policy of sender-constrained tokens (RFC 9449; dpop.go).
	DPoP DPoPConfig
	// Device authorization grant (RFC 8628; device_authorization.go,
	// token_device.go, device_page.go).
	DeviceCodeTTL  time.Duration // life of a device and user code; default 10 minutes
	DeviceInterval time.Duration // minimum polling interval; default 5 seconds
	// DeviceLimiter keeps the attempt limits of the verification page
	// (DeviceAttempts); the node's ratelimit.Redis, scoped, so that they
	// hold across nodes. Nil: this node's own buckets.
	DeviceLimiter ratelimit.Limiter
	// DeviceAttempts are the user codes one client address, and one
	// browser, may enter per DeviceAttemptWindow; zero picks the defaults.
	DeviceAddressAttempts int // default 20
	DeviceBrowserAttempts int // default 10
	// Registrar serves dynamic client registration (register.go); nil
	// leaves the registration endpoint out. Registration is its policy.
	Registrar    Registrar
	Registration RegistrationPolicy

	// Second factors at sign-in (mfa.go): the TOTP and passkey services;
	// nil leaves that factor out. MFA is the server-wide policy
	// (identity.mfa): auth.MFAOptional (the default) asks users who have
	// a second factor for it; auth.MFARequired needs TOTP, to enrol
	// users who have none. A client's own policy overrides it.
	TOTP     TOTPVerifier
	Passkeys PasskeyAuthenticator
	MFA      string
	// PendingSignInTTL is how long the second step of a sign-in may take
	// after the password; zero: DefaultPendingSignInTTL.
	PendingSignInTTL time.Duration
	// Federation signs users in through upstream identity providers
	// (provider_flow.go); nil offers none.
	Federation Federation
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

	DefaultDeviceCodeTTL         = 10 * time.Minute
	MaxDeviceCodeTTL             = time.Hour
	DefaultDeviceInterval        = 5 * time.Second
	DefaultDeviceAddressAttempts = 20
	DefaultDeviceBrowserAttempts = 10
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
	verifiers verifiers        // check the tokens keys signed
	issuers   *exchangeIssuers // check other issuers' tokens presented to the token exchange
	accounts  *account.Service
	now       auth.Now
	logger    *slog.Logger

	browser browserState // the issuer's origin, for form POSTs (browser side)

	firstParty map[string]bool // Config.FirstPartyClients

	tracer trace.Tracer // nil: tracing off

	dpop         *verify.DPoP // DPoP proofs at the token and userinfo endpoints
	deviceLimits deviceLimits // attempt limits of the verification page
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
	setDefault(&cfg.PendingSignInTTL, DefaultPendingSignInTTL)
	if err := setDeviceDefaults(&cfg); err != nil {
		return nil, err
	}
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
	if err := checkMFAConfig(&cfg); err != nil {
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

		deviceLimits: newDeviceLimits(cfg),
	}
	vs, err := newVerifiers(cfg.Keys, cfg.Issuer, cfg.Now, cfg.SessionTTL, cfg.Logger)
	if err != nil {
		return nil, err
	}
	s.verifiers = vs
	s.issuers = newExchangeIssuers(cfg.Now, cfg.Logger)
	if err := s.initBrowser(); err != nil {
		return nil, err
	}
	if err := s.initDPoP(); err != nil {
		return nil, err
	}
	return s, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Close stops the background work of the verifiers of other issuers'
// tokens (token exchange). The server answers no token exchange of such
// tokens afterwards.
func (s *Server) Close() error {
	s.issuers.close()
	return nil
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
	PathPAR           = "/oauth2/par"
	PathRevoke        = "/oauth2/revoke"
	PathIntrospect    = "/oauth2/introspect"
	PathUserinfo      = "/userinfo"
	PathJWKS          = "/.well-known/jwks.json"
	PathOIDCDiscovery = "/.well-known/openid-configuration"
	PathASMetadata    = "/.well-known/oauth-authorization-server"

	PathDeviceAuthorization = "/oauth2/device_authorization"
	PathDevice              = "/device" // the verification URI (RFC 8628 3.2)
)

// Handler returns the handler of every endpoint of the server. Mount it at
// the root of the issuer's host.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.browserRoutes(mux)
	s.providerRoutes(mux)
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
