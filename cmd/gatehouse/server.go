package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/background"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/filelock"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mfa"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/revocation"
	"github.com/gatehouse-dev/gatehouse/internal/routes"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/selfservice"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// AdminOwner owns the admin keys that init creates.
const AdminOwner = "gatehouse-admin"

// Main wires the configuration, the store, the services and the HTTP
// server of one Gatehouse node. Tests run the real thing with Run on
// 127.0.0.1:0 and a temporary data folder, and stop it with Close.
type Main struct {
	Config config.Config
	Logger *slog.Logger
	// Now is the clock of every component; nil means the wall clock.
	Now auth.Now
	// Reload, if set, rereads the routes file and the stored routes on
	// each receive (serve passes SIGHUP).
	Reload <-chan os.Signal

	Store    auth.Store
	Keys     *apikey.Service
	Signing  *signing.Keyring
	Accounts *account.Service
	Clients  *client.Registry
	OAuth    *oauth.Server
	Routes   *routes.Service
	Gateway  *gateway.Gateway
	// Revocations is the in-memory JWT revocation list of the gateway.
	Revocations *revocation.List
	// Webhooks manages the webhook endpoints; Dispatcher delivers.
	Webhooks   *webhook.Service
	Dispatcher *webhook.Dispatcher
	// LogoutNotifier delivers back-channel logout tokens.
	LogoutNotifier *oauth.LogoutNotifier
	// Usage counts this node's verifications (keys, gateway JWTs, token
	// requests) until the usage flusher writes them to the store.
	Usage *usage.Counter
	// Dashboard is the web console; nil when dashboard.disabled.
	Dashboard *dashboard.Server
	// Account serves the account pages (/account) of signed-in users.
	Account *selfservice.Server
	// MFA is the authenticator-app (TOTP) and recovery-code service.
	MFA *mfa.Service
	// Federation signs users in through upstream identity providers.
	Federation *federation.Service
	// Factors lets administrators see and remove users' second factors.
	Factors *factors.Service
	// factorLimiter throttles wrong one-time codes and refused passkeys,
	// per account and address.
	factorLimiter *account.FactorLimiter
	// Passkeys registers passkeys and signs users in with them.
	Passkeys *passkey.Service

	issuer string
	hasher *secret.Hasher // keys the hashes of client secrets, sessions and CSRF tokens
	routes routeTable
	gwLn   net.Listener
	gwSrv  *http.Server
	redis  *redis.Client // shared rate limits; nil without redis_url
	// dpopReplay remembers accepted DPoP proofs (dpop.go).
	dpopReplay verify.ReplayCache
	// limits is the node's rate limiter shared through Redis (each user
	// takes a scope of it); nil without redis_url: limits per node.
	limits *ratelimit.Redis

	ln       net.Listener
	srv      *http.Server
	serveErr chan error
	// draining is set by Drain: /readyz then fails while requests are
	// still served.
	draining atomic.Bool

	// changes is the store's change feed (nil for a store of one node),
	// and kicks wake the components that reread the store on a change.
	changes *changes.Feed
	kicks   kicks
	bg      *background.Group // the background work, from Run to Close
	// nodes is this node's heartbeat in the cluster's node table, and
	// its count of the live nodes (liveNodes).
	nodes *membership

	// dataLock is the shared lock on the SQLite data folder, held from Run
	// to Close so that `gatehouse restore` refuses to run beneath us.
	dataLock *filelock.Lock

	// tracing exports the spans; nil when tracing.otlp_endpoint is empty.
	tracing *tracing.Provider

	// decisionsGRPC serves Envoy's gRPC ext_authz (decisions.grpc_addr);
	// nil when it is not set.
	decisionsGRPC *decisionsGRPC
}

// NewLogger builds the node's logger: JSON, or text for people in --dev.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // Validate has checked it
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Run opens the store (applying migrations), starts the background work
// and begins serving. It returns once the listener is open; Close stops it.
func (m *Main) Run(ctx context.Context) (err error) {
	if err := m.setDefaults(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	secret, err := readSecret(m.Config)
	if err != nil {
		return err
	}
	if m.dataLock, err = lockDataDir(m.Config); err != nil {
		return err
	}
	if err := m.startTracing(ctx); err != nil {
		return err
	}
	if m.Store, err = openTracedStore(ctx, m.Config, m.Logger, m.tracerProvider()); err != nil {
		return err
	}
	m.followChanges()
	m.Usage = usage.NewCounter()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if m.changes != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_store_outage_grace_active",
			Help: "1 while the database is unreachable and the node's caches answer as of the change feed's last sync (store_outage_grace), else 0.",
		}, func() float64 {
			if m.changes.InGrace() {
				return 1
			}
			return 0
		}))
	}
	if err := m.sharedLimiter(ctx, reg); err != nil {
		return err
	}
	if err := m.startKeys(secret, reg); err != nil {
		return err
	}
	// Listening before the authorization server is built gives it its
	// default issuer: the URL of this listener (port 0 included).
	if m.ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	if err := m.startRevocations(ctx); err != nil {
		return err
	}
	if err := m.startOAuth(ctx, secret); err != nil {
		return err
	}
	if err := m.startRoutes(ctx); err != nil {
		return err
	}
	if err := m.startWebhooks(secret); err != nil {
		return err
	}
	if err := m.startDashboard(); err != nil {
		return err
	}
	if err := m.startAccount(); err != nil {
		return err
	}
	tlsConfig, err := m.tlsConfig()
	if err != nil {
		return err
	}
	if err := m.startGateway(ctx, reg, tlsConfig); err != nil {
		return err
	}
	if err := m.startDecisionsGRPC(tlsConfig); err != nil {
		return err
	}
	if err := m.startNodes(ctx, reg); err != nil {
		return err
	}
	m.bg = background.Start(ctx, m.Logger, m.backgroundTasks()...)
	if err := m.serve(reg, tlsConfig); err != nil {
		return err
	}
	m.Logger.Info("gatehouse serving", "url", m.URL(), "store", storeName(m.Config), "dev", m.Config.Dev)
	m.serveGateway()
	m.serveDecisionsGRPC()
	return nil
}

// setDefaults checks the configuration and fills in the logger and clock.
func (m *Main) setDefaults() error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	if m.Logger == nil {
		m.Logger = NewLogger(m.Config, os.Stderr)
	}
	if m.Now == nil {
		m.Now = auth.SystemNow
	}
	return nil
}

// startKeys builds the API-key service.
func (m *Main) startKeys(secret []byte, reg prometheus.Registerer) error {
	cacheTTL := m.Config.CacheTTL
	if cacheTTL == 0 {
		cacheTTL = -1 // the configuration's 0 turns the cache off; the service's 0 means its default
	}
	cfg := apikey.Config{
		Store:         m.Store,
		Audit:         m.Store,
		Secret:        secret,
		Prefix:        m.Config.KeyPrefix,
		Environments:  m.Config.AcceptKeyEnvironments,
		Now:           m.Now,
		Logger:        m.Logger,
		CacheTTL:      cacheTTL,
		FlushInterval: m.Config.FlushInterval,
		Registerer:    reg,
		Usage:         m.Usage,
		// nil without tracing: no spans, at no cost.
		TracerProvider: m.tracerProvider(),
	}
	if m.changes != nil {
		cfg.Changes = m.changes
	}
	var err error
	// With Redis, keys' credits are counted there rather than by a store
	// write per request (see internal/apikey/credits.go).
	rc, err := m.redisClient()
	if err != nil {
		return err
	}
	if rc != nil { // a nil *redis.Client in the interface would not be nil
		cfg.CreditsRedis = rc
	}
	if m.limits != nil {
		cfg.Limiter = m.limits.Scope("apikey")
	}
	if m.Keys, err = apikey.NewService(cfg); err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	return nil
}

// tlsConfig loads the certificate, if one is configured: here rather than
// in the serving goroutine, so that a bad file stops the start.
func (m *Main) tlsConfig() (*tls.Config, error) {
	if m.Config.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(m.Config.TLSCertFile, m.Config.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// serve builds the admin API and starts serving it, with the authorization
// server, on the node's listener.
func (m *Main) serve(reg *prometheus.Registry, tlsConfig *tls.Config) error {
	trusted, err := m.Config.Gateway.TrustedPrefixes()
	if err != nil {
		return err
	}
	scanner, err := m.secretScanner()
	if err != nil {
		return err
	}
	var verifyLimiter ratelimit.Limiter // nil: the verify endpoint's own buckets
	if m.limits != nil {
		verifyLimiter = m.limits.Scope("verify")
	}
	adminCfg := admin.Config{
		Keys:           m.Keys,
		Audit:          m.Store,
		Clients:        m.Clients,
		Consents:       m.OAuth,
		Users:          m.Accounts,
		SigningKeys:    m.Signing,
		Routes:         m.Routes,
		Webhooks:       m.Webhooks,
		Logger:         m.Logger,
		Now:            m.Now,
		MaxBodyBytes:   m.Config.MaxBodyBytes,
		VerifyLimit:    m.Config.VerifyRateLimit,
		VerifyLimiter:  verifyLimiter,
		TrustedProxies: trusted,
		// nil when secret_scanning.enabled is false: the route answers 404.
		SecretScanning:    scanner,
		Usage:             m.Store,
		UsageRetention:    m.Config.Usage.Retention,
		Nodes:             m.Store,
		HeartbeatInterval: m.Config.Cluster.HeartbeatInterval,
		// People signed in with `gatehouse login`, beside admin keys.
		Tokens: m.adminTokens(),
	}
	if m.Config.OAuth.Registration.Enabled && m.Clients != nil {
		adminCfg.RegistrationTokens = m.Clients
	}
	if m.Federation != nil {
		adminCfg.Providers = m.Federation
	}
	if m.Factors != nil {
		adminCfg.Factors = m.Factors
	}
	adminSrv, err := admin.NewServer(adminCfg)
	if err != nil {
		return fmt.Errorf("admin api: %w", err)
	}
	m.srv = &http.Server{
		Handler:           tracing.Middleware(m.tracerProvider(), apiSpanName, m.handler(adminSrv.Handler(), m.OAuth.Handler(), reg)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10, // larger headers get 431 before any handler runs
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	// Room for the API listener's end, and an error of the gateway's and
	// of the decisions gRPC listener.
	m.serveErr = make(chan error, 3)
	// The goroutine gets its own copies: Close may clear m.srv before it
	// first runs (a signal right after the start).
	srv, ln, serveErr := m.srv, m.ln, m.serveErr
	go func() {
		var err error
		if tlsConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
	}()
	return nil
}

// startOAuth builds the signing keyring, the account service and the
// authorization server.
func (m *Main) startOAuth(ctx context.Context, serverSecret []byte) error {
	o := m.Config.OAuth
	sealer, err := signing.NewSealer(signing.DeriveMasterKey(serverSecret))
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	// The longest any signed token lives (configuration and client
	// settings both cap token lifetimes at a day): a retired key stays
	// published this long, so no token fails verification because of a
	// rotation.
	const maxTTL = 24 * time.Hour
	m.Signing, err = signing.New(ctx, m.Store, sealer, signing.Options{
		Algorithm:      o.SigningAlgorithm,
		RotationPeriod: o.SigningKeyRotation,
		MaxTokenTTL:    maxTTL,
		Now:            m.Now,
		Logger:         m.Logger,
		Changed:        m.kicks.signing.C,
	})
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	var loginLimits account.SharedLimiter // nil: failed sign-ins counted per node
	if m.limits != nil {
		loginLimits = m.limits.Scope("login")
	}
	resetLinks, err := m.resetLinkConfig(serverSecret)
	if err != nil {
		return fmt.Errorf("reset links: %w", err)
	}
	m.Accounts, err = account.New(account.Config{
		Store:          m.Store,
		Sessions:       m.Store,
		Audit:          m.Store,
		Now:            m.Now,
		Logger:         m.Logger,
		Shared:         loginLimits,
		PasswordPolicy: m.passwordPolicy(),
		ResetLinks:     resetLinks,
	})
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if m.Factors, err = factors.New(m.Store, m.Accounts, m.Now); err != nil {
		return err
	}
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	m.hasher = hasher
	if err := m.startMFA(sealer, hasher); err != nil {
		return err
	}
	issuer := o.Issuer
	if issuer == "" {
		issuer = m.URL()
	}
	m.issuer = issuer
	if err := m.startPasskeys(issuer, hasher); err != nil {
		return err
	}
	var store auth.OAuthStore = m.Store
	if m.Revocations != nil {
		// Revocations through this node reach its gateway at once.
		store = revocation.SyncingStore{OAuthStore: m.Store, List: m.Revocations}
	}
	// The registry deletes clients through the same store, so that their
	// access tokens reach the gateway's revocation list at once.
	// One setting for the back-channel logout URIs a client may register
	// and those the notifier delivers to (client.CheckBackchannelLogoutURI).
	clientCfg := client.Config{Store: store, Hasher: hasher, Now: m.Now, FirstParty: m.firstPartyClients(), Registrations: m.Store,
		AllowLoopbackLogoutURIs: o.BackchannelLogout.AllowLoopback}
	if m.changes != nil {
		clientCfg.Changes = m.changes
	}
	if m.Clients, err = client.New(clientCfg); err != nil {
		return fmt.Errorf("oauth clients: %w", err)
	}
	cfg := oauth.Config{
		Issuer:             issuer,
		Store:              store,
		Audit:              m.Store,
		Clients:            m.Clients,
		Hasher:             hasher,
		Keys:               m.Signing,
		Accounts:           m.Accounts,
		Now:                m.Now,
		Logger:             m.Logger,
		AccessTokenTTL:     o.AccessTokenTTL,
		IDTokenTTL:         o.IDTokenTTL,
		RefreshTokenTTL:    o.RefreshTokenTTL,
		RefreshTokenMaxTTL: o.RefreshTokenMaxTTL,
		RefreshGrace:       o.RefreshGrace,
		SessionTTL:         o.SessionTTL,
		InsecureCookies:    m.insecureCookies(),
		Usage:              m.Usage,
		// The dashboard and the CLI are part of this server: nobody
		// consents to them.
		FirstPartyClients: m.firstPartyClients(),
		TracerProvider:    m.tracerProvider(),

		RequirePushedAuthorizationRequests: o.RequirePushedAuthorizationRequests,
		DeviceCodeTTL:                      o.Device.CodeTTL,
		DeviceInterval:                     o.Device.Interval,
		DeviceAddressAttempts:              o.Device.AddressAttempts,
		DeviceBrowserAttempts:              o.Device.BrowserAttempts,
		// Second factors at sign-in.
		MFA:  m.Config.Identity.MFA,
		TOTP: m.MFA,
	}
	if m.Passkeys != nil { // never a typed nil in the interface
		cfg.Passkeys = m.Passkeys
	}
	if cfg.DPoP, err = m.oauthDPoP(); err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	if m.limits != nil {
		// The verification page's attempt limits hold across the nodes.
		cfg.DeviceLimiter = m.limits.Scope("device")
	}
	if err := m.registration(&cfg); err != nil {
		return err
	}
	if err := m.startFederation(serverSecret, issuer); err != nil {
		return err
	}
	cfg.Federation = m.Federation
	if m.OAuth, err = oauth.New(cfg); err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	bcl := o.BackchannelLogout
	if m.LogoutNotifier, err = m.OAuth.NewLogoutNotifier(oauth.LogoutNotifierConfig{
		Store: m.Store, Holder: leaseHolder(), MaxAttempts: bcl.MaxAttempts,
		RetryBase: bcl.RetryInitial, RetryMax: bcl.RetryMax, AllowLoopback: bcl.AllowLoopback,
	}); err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	if err := m.startDashboardClient(ctx); err != nil {
		return err
	}
	if err := m.startAccountClient(ctx); err != nil {
		return err
	}
	return m.startCLIClient(ctx)
}

// insecureCookies says whether browser cookies go without Secure and the
// __Host- prefix: only on a developer's plain-HTTP machine.
func (m *Main) insecureCookies() bool {
	return m.Config.Dev && !strings.HasPrefix(m.issuer, "https://")
}

// handler puts the health, readiness and metrics endpoints beside the APIs:
// the authorization server's endpoints, and the admin API for the rest.
func (m *Main) handler(api, authz http.Handler, reg *prometheus.Registry) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_http_requests_total",
		Help: "HTTP requests served, by endpoint group and status code.",
	}, []string{"group", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by endpoint group.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"group"})
	reg.MustRegister(requests, duration)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", m.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/oauth2/", authz)
	mux.Handle("/.well-known/", authz)
	mux.Handle("/userinfo", authz)
	mux.Handle("/device", authz) // the device grant's verification page
	mux.Handle("/dashboard/", m.dashboardHandler())
	mux.Handle("/dashboard", m.dashboardHandler())
	mux.Handle("/account", m.Account)
	mux.Handle("/account/", m.Account)
	mux.Handle(oauth.PathAccountCallback, authz) // the account pages' sign-in returns to the authorization server
	mux.Handle("/", api)

	var decisions http.Handler
	if m.Gateway != nil && m.Config.Decisions.Enabled {
		decisions = m.Gateway.DecisionHandler()
	}
	return m.closeWhenDraining(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if decisions != nil && isDecisionPath(r.URL.Path) {
			// Not through the mux: it would redirect an original path
			// that is not clean (/v1/decisions/a/../b) instead of letting
			// the gateway refuse it as the gateway itself would.
			decisions.ServeHTTP(rec, r)
		} else {
			mux.ServeHTTP(rec, r)
		}
		group := endpointGroup(r.URL.Path)
		requests.WithLabelValues(group, strconv.Itoa(rec.status)).Inc()
		duration.WithLabelValues(group).Observe(time.Since(start).Seconds())
	}))
}

// readyz tells a load balancer whether to send this node requests: not
// while it drains (Drain). It does not ask the store: every node shares
// the one database, so a readiness that failed (or, with a slow database,
// timed out) with it would take the whole cluster out of the balancer,
// while without the database a node still answers what needs no store and
// the rest with 503 itself. The store's state is in the logs and metrics.
func (m *Main) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if m.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "draining\n")
		return
	}
	io.WriteString(w, "ready\n")
}

// Drain prepares a graceful stop: /readyz fails at once, every response
// closes its connection (closeWhenDraining), and the node goes on serving
// for delay, or until skip receives, so that balancers stop sending it
// requests before Close closes its listeners.
func (m *Main) Drain(delay time.Duration, skip <-chan os.Signal) {
	m.draining.Store(true)
	m.drainDecisionsGRPC()
	if delay <= 0 {
		return
	}
	m.Logger.Info("draining: /readyz fails; still serving", "delay", delay.String())
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-skip:
		m.Logger.Info("second signal: stopping without waiting out the shutdown delay")
	}
}

// closeWhenDraining makes each response of a draining node close its
// connection, so that clients that keep connections open (a balancer's
// pool among them) open new ones, which the balancer sends elsewhere. It
// does not close idle connections itself (as http.Server's
// SetKeepAlivesEnabled(false) would): a balancer may be sending a request
// on one at that very moment, and would get no answer.
func (m *Main) closeWhenDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// endpointGroup keeps metric labels few and free of anything a caller sent.
func endpointGroup(path string) string {
	switch {
	case path == "/v1/keys/verify":
		return "verify"
	case isDecisionPath(path):
		return "decisions"
	case path == "/v1/secret-scanning":
		return "secret_scanning"
	case path == "/oauth2/token":
		return "token"
	case strings.HasPrefix(path, "/oauth2/"), path == "/userinfo", path == "/device":
		return "oauth"
	case strings.HasPrefix(path, "/.well-known/"):
		return "discovery"
	case strings.HasPrefix(path, "/admin/v1/"):
		return "admin"
	case path == "/dashboard" || strings.HasPrefix(path, "/dashboard/"):
		return "dashboard"
	case path == "/account" || strings.HasPrefix(path, "/account/"):
		return "account"
	case path == "/healthz" || path == "/readyz":
		return "health"
	case path == "/metrics":
		return "metrics"
	default:
		return "other"
	}
}

// isDecisionPath reports whether path is the decision endpoint or below it.
func isDecisionPath(path string) bool {
	return strings.HasPrefix(path, gateway.DecisionsPath) &&
		(len(path) == len(gateway.DecisionsPath) || path[len(gateway.DecisionsPath)] == '/')
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// URL is where the node serves, once Run has returned.
func (m *Main) URL() string {
	scheme := "http"
	if m.Config.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + m.ln.Addr().String()
}

// Wait blocks until the server stops on its own (an error), background
// work stops with an error, or ctx is done.
func (m *Main) Wait(ctx context.Context) error {
	select {
	case err := <-m.serveErr:
		return err
	case err := <-m.bg.Failed():
		return err
	case <-ctx.Done():
		return nil
	}
}

// shutdownFlushTimeout bounds what Close still does once the servers have
// stopped and shutdown_timeout has run out: removing the node's row and
// sending the last spans get what is left of shutdown_timeout, but at least
// this. A node thus exits within shutdown_timeout plus this after its
// listeners close (docs/operations.md, the Kubernetes grace period).
const shutdownFlushTimeout = 2 * time.Second

// Close stops accepting requests, lets those in flight on both listeners
// finish within one shutdown timeout, flushes the batched writes and closes
// the store.
func (m *Main) Close() error {
	var errs []error
	// One deadline for the whole close: the two servers shut down side by
	// side under it, rather than one after the other with a full timeout
	// each, so that the node exits within the bound operators plan for.
	deadline := time.Now().Add(m.Config.ShutdownTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	var gwErr, apiErr error
	if m.gwSrv != nil {
		wg.Add(1)
		go func(srv *http.Server) {
			defer wg.Done()
			gwErr = srv.Shutdown(ctx)
		}(m.gwSrv)
		m.gwSrv = nil
	} else if m.gwLn != nil {
		m.gwLn.Close()
	}
	if m.srv != nil {
		wg.Add(1)
		go func(srv *http.Server) {
			defer wg.Done()
			apiErr = srv.Shutdown(ctx)
		}(m.srv)
		m.srv = nil
	} else if m.ln != nil {
		m.ln.Close()
	}
	m.stopDecisionsGRPC(ctx, &wg)
	// The gateway's own state (verifiers, its transport) outlives both
	// servers: requests in flight on either may still use it.
	wg.Wait()
	if m.Federation != nil {
		m.Federation.Close()
	}
	if gwErr != nil {
		errs = append(errs, fmt.Errorf("gateway shutdown: %w", gwErr))
	}
	if apiErr != nil {
		errs = append(errs, fmt.Errorf("shutdown: %w", apiErr))
	}
	// What follows the servers (the node's row, the last spans) gets what
	// is left of the deadline, and at least shutdownFlushTimeout.
	flushBy := deadline
	if floor := time.Now().Add(shutdownFlushTimeout); floor.After(flushBy) {
		flushBy = floor
	}
	if m.nodes != nil {
		m.nodes.leaveBy = flushBy // read once bg.Stop has cancelled the heartbeat's context
	}
	if m.OAuth != nil {
		m.OAuth.Close() // the verifiers of other issuers' tokens (token exchange)
	}
	if m.Gateway != nil {
		if err := m.Gateway.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gateway: %w", err))
		}
	}
	if m.bg != nil {
		m.bg.Stop() // the key service and the usage flusher do their final flush before it returns
		m.bg = nil
	}
	// Redis after everything that may use it: requests in flight on either
	// listener spend credits there, and the key service's final flush
	// writes the credits counted there back to the store.
	if m.redis != nil {
		m.redis.Close()
		m.redis = nil
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		m.Store = nil
	}
	if err := m.dataLock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release the data folder: %w", err))
	}
	m.dataLock = nil
	flushCtx, flushCancel := context.WithDeadline(context.Background(), flushBy)
	defer flushCancel()
	if err := m.stopTracing(flushCtx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func storeName(cfg config.Config) string {
	if cfg.UsesPostgres() {
		return "postgres"
	}
	return "sqlite"
}

// openStore opens the configured backend and applies its migrations.
func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (auth.Store, error) {
	return openTracedStore(ctx, cfg, logger, nil)
}

// openTracedStore is openStore with the store's queries recorded as spans
// by tp (nil: none).
func openTracedStore(ctx context.Context, cfg config.Config, logger *slog.Logger, tp trace.TracerProvider) (auth.Store, error) {
	if cfg.UsesPostgres() {
		db, err := postgres.Open(ctx, cfg.DB, postgres.WithTracerProvider(tp))
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.Logger = logger
		return db, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	db, err := sqlite.Open(ctx, cfg.SQLitePath(), sqlite.WithTracerProvider(tp))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return db, nil
}

// errNoSecret says how to get out of a missing secret.
var errNoSecret = errors.New("no server secret: run `gatehouse init` first, or set GATEHOUSE_SECRET (64 hex digits) or secret_file")

// readSecret returns the secret that keys the API-key hashes: from the
// environment, or from its file.
func readSecret(cfg config.Config) ([]byte, error) {
	if cfg.Secret != nil {
		return cfg.Secret, nil
	}
	data, err := os.ReadFile(cfg.SecretPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoSecret
	}
	if err != nil {
		return nil, fmt.Errorf("read secret file: %w", err)
	}
	secret, err := config.DecodeSecret(string(data))
	if err != nil {
		return nil, fmt.Errorf("secret file %s: %w", cfg.SecretPath(), err)
	}
	return secret, nil
}

// ensureSecret creates the secret file unless a secret already exists.
// O_EXCL makes two racing inits agree on one secret.
func ensureSecret(cfg config.Config) error {
	if cfg.Secret != nil {
		return nil
	}
	path := cfg.SecretPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create secret folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create secret file: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics on the impossible)
	if _, err := io.WriteString(f, hex.EncodeToString(b)+"\n"); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write secret file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write secret file: %w", err)
	}
	return nil
}

// initialize prepares a node's storage: the secret, the schema, and the
// first admin key. It returns that key's plaintext, or "" when an admin key
// existed already (the plaintext was shown then and cannot be shown again).
func initialize(ctx context.Context, cfg config.Config, logger *slog.Logger) (id, key string, err error) {
	if err := cfg.Validate(); err != nil {
		return "", "", err
	}
	m := &Main{Config: cfg, Logger: logger}
	if m.Store, err = openStore(ctx, cfg, logger); err != nil {
		return "", "", err
	}
	defer m.Store.Close()
	secret, err := readSecret(cfg)
	if errors.Is(err, errNoSecret) {
		// A new secret is right for a new database only: keys already
		// stored were hashed with the lost one, and a new secret would
		// lock everyone out, admins included.
		stored, _, lerr := m.Store.ListAPIKeys(ctx, auth.APIKeyFilter{Limit: 1})
		if lerr != nil {
			return "", "", fmt.Errorf("look for keys: %w", lerr)
		}
		if len(stored) > 0 {
			return "", "", fmt.Errorf("the server secret (%s) is missing but the database holds keys hashed with it: "+
				"restore the secret file or set GATEHOUSE_SECRET; a new secret would make every key unverifiable", cfg.SecretPath())
		}
		if err := ensureSecret(cfg); err != nil {
			return "", "", err
		}
		secret, err = readSecret(cfg)
	}
	if err != nil {
		return "", "", err
	}
	svc, err := apikey.NewService(apikey.Config{
		Store: m.Store, Audit: m.Store, Secret: secret, Prefix: cfg.KeyPrefix, Logger: logger,
	})
	if err != nil {
		return "", "", err
	}
	existing, _, err := svc.List(ctx, auth.APIKeyFilter{Owner: AdminOwner, Limit: 1})
	if err != nil {
		return "", "", fmt.Errorf("look for admin keys: %w", err)
	}
	if len(existing) > 0 {
		return existing[0].ID, "", nil
	}
	k, plaintext, err := svc.Create(ctx, apikey.CreateParams{
		Owner:  AdminOwner,
		Name:   "first admin key",
		Scopes: []string{"admin"},
		Actor:  auth.ActorSystem,
	})
	if err != nil {
		return "", "", fmt.Errorf("create the first admin key: %w", err)
	}
	return k.ID, plaintext, nil
}

// registration turns dynamic client registration on in cfg as
// oauth.registration says.
func (m *Main) registration(cfg *oauth.Config) error {
	r := m.Config.OAuth.Registration
	if !r.Enabled {
		return nil
	}
	trusted, err := m.Config.Gateway.TrustedPrefixes()
	if err != nil {
		return err
	}
	cfg.Registrar = m.Clients
	cfg.Registration = oauth.RegistrationPolicy{Open: r.Open, GrantTypes: r.GrantTypes, TrustedProxies: trusted, RequireSoftwareStatement: r.RequireSoftwareStatement}
	if r.SoftwareStatementJWKSFile != "" {
		if cfg.Registration.SoftwareStatementKeys, err = os.ReadFile(r.SoftwareStatementJWKSFile); err != nil {
			return fmt.Errorf("oauth.registration.software_statement_jwks_file: %w", err)
		}
	}
	return nil
}
