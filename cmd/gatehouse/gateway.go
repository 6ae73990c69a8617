package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/routefile"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/revocation"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
)

// routePollInterval is how often a node reads the routes stored through
// the admin API even when the change feed says nothing: the safety net. A
// change on this node applies at once (routesChanged), one on another node
// when the feed reports it (background.go).
const routePollInterval = 2 * time.Second

// revocationMaxAge is how old the gateway's revocation list may grow while
// the store cannot be read (it is reread every second) before Gatehouse's
// own tokens are refused with 503 rather than checked against a list that
// may lack revocations made through other nodes.
const revocationMaxAge = 5 * time.Second

// routeTable holds the two sources of the gateway's routes: the routes file
// and the store (admin API). Reloads are serialised so that two sources
// changing at once cannot apply an older combination last.
type routeTable struct {
	mu     sync.Mutex
	file   []auth.Route // the routes file's last valid content
	loaded routefile.Version
	stored []auth.Route // the store's routes when last read
}

// startRevocations loads the JWT revocation list before the authorization
// server is built: its store then syncs the list after each revocation.
func (m *Main) startRevocations(ctx context.Context) error {
	if !m.decides() {
		return nil
	}
	var outage func() bool // without a feed (one node) there is no grace
	if m.changes != nil {
		outage = m.changes.InGrace
	}
	var err error
	m.Revocations, err = revocation.New(ctx, revocation.Options{Store: m.Store, Now: m.Now, Logger: m.Logger, MaxAge: revocationMaxAge,
		Changed: m.kicks.revocations.C, Outage: outage})
	if err != nil {
		return err
	}
	return nil
}

// decides reports whether this node runs the gateway's route table and
// decisions: for its own gateway listener, for the decision API, or both.
func (m *Main) decides() bool {
	return m.Config.Gateway.Enabled() || m.Config.Decisions.Enabled
}

// startGateway builds the gateway, loads its routes, and opens its
// listener (when gateway.addr is not off: the decision API alone needs
// none). The serving goroutine starts in serveGateway.
func (m *Main) startGateway(ctx context.Context, reg prometheus.Registerer, tlsConfig *tls.Config) error {
	g := m.Config.Gateway
	if !m.decides() {
		return nil
	}
	trusted, err := g.TrustedPrefixes()
	if err != nil {
		return err
	}
	var limiter ratelimit.Limiter // nil: the gateway's own buckets
	if m.limits != nil {
		limiter = m.limits.Scope("gateway")
	}
	// Listening first gives the gateway its default public URL: the URL
	// of this listener (port 0 included).
	if g.Enabled() {
		if m.gwLn, err = net.Listen("tcp", g.Addr); err != nil {
			return fmt.Errorf("gateway: listen on %s: %w", g.Addr, err)
		}
	}
	dpop, err := m.gatewayDPoP()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	publicURL, publicScheme := m.gatewayPublicURL()
	m.Gateway, err = gateway.New(gateway.Config{
		DPoP:         dpop,
		PublicURL:    publicURL,
		PublicScheme: publicScheme,
		Issuer:       m.issuer,
		JWKS:         m.Signing.JWKS,
		// Every algorithm a signing key may have, not those of today's
		// keys: a node started before a switch of algorithm must accept
		// the new key's tokens once the JWKS carries it.
		Algorithms:       signing.SupportedAlgorithms(),
		Keys:             m.Keys,
		Signer:           m.Signing,
		InternalTokenTTL: g.InternalTokenTTL,
		Revoked:          m.Revocations.Revoked,
		RevocationsFresh: m.Revocations.Fresh,
		ClientActive:     m.Clients.Exists,
		TrustedProxies:   trusted,
		Logger:           m.Logger,
		AccessLog:        g.AccessLog,
		Registerer:       reg,
		Limiter:          limiter,
		Now:              m.Now,
		Usage:            m.Usage,
		TracerProvider:   m.tracerProvider(),
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if g.RoutesFile != "" {
		routes, version, err := routefile.LoadVersion(g.RoutesFile)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		m.routes.file, m.routes.loaded = routes, version
	}
	if err := m.reloadStoredRoutes(ctx); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if !g.Enabled() {
		return nil
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	// HTTP/2 without TLS (prior knowledge) for clients inside a network
	// that terminates TLS before the gateway; with TLS, ALPN offers h2.
	protocols.SetUnencryptedHTTP2(tlsConfig == nil)
	m.gwSrv = &http.Server{
		Handler:           m.closeWhenDraining(tracing.Middleware(m.tracerProvider(), gateway.ServerSpanName, m.Gateway)),
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: uploads, streams and WebSockets
		// may run long; each route bounds the wait for its upstream.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
		// A copy: each server adds its ALPN protocols to its own config.
		TLSConfig: tlsConfig.Clone(),
	}
	return nil
}

// sharedLimiter connects to Redis when redis_url is set and makes the
// node's shared rate limiter (m.limits), so that the limits of keys,
// routes and clients, the verify endpoint's per-source limit and the login
// throttle hold across nodes; without redis_url m.limits stays nil and the
// limits stay in this process. Each user takes a scope of it. Leases size
// themselves, and the fallback divides each limit, by the live nodes of
// the cluster's heartbeats. An unreachable Redis does not stop the start:
// the limits fall back to this node's share until it answers (the limiter
// logs both changes and publishes gatehouse_ratelimit_shared).
func (m *Main) sharedLimiter(ctx context.Context, reg prometheus.Registerer) error {
	if m.Config.RedisURL == "" {
		return nil
	}
	if _, err := m.redisClient(); err != nil {
		return err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := m.redis.Ping(pingCtx).Err(); err != nil {
		m.Logger.Warn("Redis is not answering; rate limits are per node until it does", "err", err)
	}
	var err error
	m.limits, err = ratelimit.NewRedis(ratelimit.RedisConfig{Client: m.redis, Timeout: m.Config.RedisTimeout, Fallback: &ratelimit.Buckets{},
		Logger: m.Logger, Nodes: m.liveNodes, Registerer: reg})
	if err != nil {
		return fmt.Errorf("rate limits: %w", err)
	}
	return nil
}

// redisClient returns the node's Redis client, made on first use; nil
// without redis_url. One client serves the rate limits and the credits.
func (m *Main) redisClient() (*redis.Client, error) {
	if m.Config.RedisURL == "" || m.redis != nil {
		return m.redis, nil
	}
	opt, err := redis.ParseURL(m.Config.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	// Without it go-redis ignores the callers' deadlines (the limiter's
	// redis_timeout), and a hung Redis would hold each request for its 3 s read
	// timeout.
	opt.ContextTimeoutEnabled = true
	m.redis = redis.NewClient(opt)
	tracing.InstrumentRedis(m.redis, m.tracerProvider())
	return m.redis, nil
}

// serveGateway serves the gateway listener; an error stops the node like
// one of the API listener.
func (m *Main) serveGateway() {
	if m.gwSrv == nil {
		return
	}
	srv, ln, serveErr := m.gwSrv, m.gwLn, m.serveErr
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case serveErr <- fmt.Errorf("gateway: %w", err):
			default:
			}
		}
	}()
	m.Logger.Info("gateway serving", "url", m.GatewayURL(), "routes", len(m.Gateway.Routes()), "routes_file", m.Config.Gateway.RoutesFile)
}

// ReloadRoutes rereads the routes file (SIGHUP) and the stored routes.
func (m *Main) ReloadRoutes(ctx context.Context) error {
	if m.Gateway == nil {
		return nil
	}
	if path := m.Config.Gateway.RoutesFile; path != "" {
		routes, err := routefile.Load(path)
		if err != nil {
			m.Logger.Error("routes file rejected; the previous routes stay in force", "file", path, "err", err)
			return err
		}
		if err := m.applyFileRoutes(routes, "reload requested"); err != nil {
			return err
		}
	}
	return m.reloadStoredRoutes(ctx)
}

// applyFileRoutes installs a new routes file content, unless it is invalid
// together with the stored routes (then the old table stays).
func (m *Main) applyFileRoutes(routes []auth.Route, why string) error {
	m.routes.mu.Lock()
	defer m.routes.mu.Unlock()
	if err := m.setRoutesLocked(routes, m.routes.stored); err != nil {
		m.Logger.Error("routes file rejected; the previous routes stay in force", "file", m.Config.Gateway.RoutesFile, "err", err)
		return err
	}
	m.routes.file = routes
	m.Logger.Info("gateway routes reloaded", "reason", why, "routes", len(m.Gateway.Routes()))
	return nil
}

// reloadStoredRoutes reads the routes managed through the admin API and
// installs them if they changed.
func (m *Main) reloadStoredRoutes(ctx context.Context) error {
	if m.Gateway == nil {
		return nil
	}
	stored, err := m.Routes.List(ctx)
	if err != nil {
		return err
	}
	routes := make([]auth.Route, len(stored))
	for i, r := range stored {
		routes[i] = *r
	}
	m.routes.mu.Lock()
	defer m.routes.mu.Unlock()
	if m.routes.stored != nil && reflect.DeepEqual(routes, m.routes.stored) {
		return nil
	}
	if err := m.setRoutesLocked(m.routes.file, routes); err != nil {
		return err
	}
	m.routes.stored = routes
	return nil
}

// setRoutesLocked installs file and stored routes together. The admin API
// cannot create a name the file has, nor a path prefix that differs from
// another only by case, but the file may gain one later, two nodes may
// create clashing routes at one instant, and a route stored by an older
// version may break a rule added since (a jwt route without an audience).
// Such a stored route is held (and logged): the gateway refuses its
// requests with 503 until it is mended, rather than fail the whole table
// or let its requests fall through to a shorter prefix.
func (m *Main) setRoutesLocked(file, stored []auth.Route) error {
	served := make([]auth.Route, 0, len(file)+len(stored))
	served = append(served, file...)
	var held []auth.Route
	hold := func(r auth.Route, msg string, args ...any) {
		m.Logger.Error(msg+"; its requests are refused (503) until it is changed (gatehouse routes update) or deleted", append([]any{"route", r.Name}, args...)...)
		held = append(held, r)
	}
	for _, r := range stored {
		i := slices.IndexFunc(served, func(f auth.Route) bool { return auth.RouteConflict(&r, &f) != nil })
		switch {
		case i >= 0 && served[i].Name == r.Name:
			hold(r, "a route of the routes file has the name of a route managed through the admin API")
			continue
		case i >= 0:
			hold(r, "a stored route's path prefix differs from another route's only by case", "path", r.PathPrefix, "other", served[i].Name)
			continue
		}
		if err := r.Clone().Normalize(); err != nil {
			hold(r, "a stored route breaks a rule of this version", "err", auth.ErrorMessage(err))
			continue
		}
		served = append(served, r)
	}
	return m.Gateway.SetRoutesHolding(served, held)
}

// fileRoutes returns the routes of the routes file, which routes managed
// through the admin API may not conflict with.
func (m *Main) fileRoutes() []auth.Route {
	m.routes.mu.Lock()
	defer m.routes.mu.Unlock()
	return slices.Clone(m.routes.file)
}

// routesChanged reloads the gateway's table after a change through the
// admin API, so it applies at once on this node.
func (m *Main) routesChanged() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.reloadStoredRoutes(ctx); err != nil {
		m.Logger.Error("gateway reload after a route change failed; the poll will retry", "err", err)
	}
}

// GatewayURL is where the gateway serves, once Run has returned ("" when
// it is off).
func (m *Main) GatewayURL() string {
	if m.gwLn == nil {
		return ""
	}
	scheme := "http"
	if m.Config.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + m.gwLn.Addr().String()
}
