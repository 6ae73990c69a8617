// Package config holds Gatehouse's one typed configuration: its defaults,
// how a YAML file and GATEHOUSE_* environment variables fill it, and the
// checks it must pass before anything starts.
package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Config is every setting of a Gatehouse node. Build it with Default, then
// LoadFile, ApplyEnv and flags, then call Validate.
type Config struct {
	// Dev relaxes the rules for a developer's machine: plain HTTP anywhere,
	// text logs, new keys in the test environment (sk_test_), and
	// first-start initialisation. It
	// picks the defaults, so it comes from the command line (--dev) or
	// GATEHOUSE_DEV, never from the file.
	Dev bool `yaml:"-"`

	// DataDir holds the SQLite database and the hashing secret file.
	DataDir string `yaml:"data_dir"`
	// DB is the database: empty for the embedded SQLite file in DataDir, or
	// a postgres:// (postgresql://) URL.
	DB string `yaml:"db"`

	// RedisURL, when set (redis:// or rediss://), makes every rate limit
	// (keys', routes', clients', the verify endpoint's, the login
	// throttle's) shared by every node that uses the same Redis, and
	// counts keys' credits there.
	RedisURL string `yaml:"redis_url"`
	// RedisTimeout bounds each rate-limit call to Redis: past it, the
	// request is decided by the node's share of the limit (see
	// docs/rate-limits.md), so a slow Redis cannot stall requests.
	RedisTimeout time.Duration `yaml:"redis_timeout"`

	// Addr is the listen address of the API (HOST:PORT).
	Addr string `yaml:"addr"`
	// TLSCertFile and TLSKeyFile make the API serve HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// BehindTLSProxy says that a TLS-terminating proxy sits in front, so
	// plain HTTP on a non-loopback address is intended.
	BehindTLSProxy bool `yaml:"behind_tls_proxy"`

	// SecretFile holds the server secret that keys the API-key hashes. It
	// lives outside the database, so a copy of the database alone cannot be
	// used to test guesses. Secret, when set (only from the environment,
	// GATEHOUSE_SECRET, hex or base64), takes its place.
	SecretFile string `yaml:"secret_file"`
	Secret     []byte `yaml:"-"`

	// KeyPrefix is the prefix of the API keys this node creates when no
	// environment is asked for, and names that default environment:
	// sk_test_ (any prefix whose second segment is "test") is the test
	// environment's, any other the live one's. Keys of the other
	// environment get the same first segment (sk_live_ <-> sk_test_). It
	// does not limit which keys are accepted: every key the store holds is,
	// whatever its prefix, so changing it keeps old keys valid.
	KeyPrefix string `yaml:"key_prefix"`
	// AcceptKeyEnvironments lists the key environments (live, test) this
	// node accepts; keys of the others are refused as invalid. Empty: all.
	AcceptKeyEnvironments []string `yaml:"accept_key_environments"`

	LogFormat string `yaml:"log_format"` // json or text
	LogLevel  string `yaml:"log_level"`  // debug, info, warn, error

	CacheTTL        time.Duration `yaml:"cache_ttl"`        // how long a verified key is trusted without the store
	FlushInterval   time.Duration `yaml:"flush_interval"`   // how often last-used times and audit aggregates are written
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`   // request body limit of the JSON APIs
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"` // how long in-flight requests get on shutdown
	// StoreOutageGrace is how long after the change feed's last sync a node
	// that cannot reach PostgreSQL at all keeps answering from its caches
	// (verified keys, clients, the revocation list); 0 fails closed after
	// a second. See changes.StoreOutage and docs/operations.md.
	StoreOutageGrace time.Duration `yaml:"store_outage_grace"`
	// ShutdownDelay is how long a node told to stop (SIGTERM, Ctrl-C) goes
	// on serving while /readyz already fails, before it closes its
	// listeners: the time a load balancer or Kubernetes needs to see it go
	// and send new requests elsewhere. See DefaultShutdownDelay.
	ShutdownDelay time.Duration `yaml:"shutdown_delay"`

	// VerifyRateLimit bounds the requests to POST /v1/keys/verify from one
	// source address (an IPv6 /64; behind gateway.trusted_proxies, the
	// forwarded client) on each node: {rate: per second, burst}. A rate of
	// 0 turns it off.
	VerifyRateLimit auth.RateLimit `yaml:"verify_rate_limit"`

	OAuth   OAuth   `yaml:"oauth"`
	Gateway Gateway `yaml:"gateway"`
	// Decisions is the decision API for other proxies (decisions.go).
	Decisions Decisions `yaml:"decisions"`
	// Identity is how users sign in beyond a password (identity.go).
	Identity Identity `yaml:"identity"`

	SecretScanning SecretScanning `yaml:"secret_scanning"`
	Webhooks       Webhooks       `yaml:"webhooks"`
	Usage          Usage          `yaml:"usage"`
	Dashboard      Dashboard      `yaml:"dashboard"`
	Tracing        Tracing        `yaml:"tracing"`
	Cluster        Cluster        `yaml:"cluster"`
}

// Cluster configures how the nodes sharing a store know of each other.
type Cluster struct {
	// HeartbeatInterval is how often a node writes its row in the store's
	// node table; a node not seen for auth.NodeLiveIntervals of them is
	// no longer counted (a shared limit is split among the nodes counted
	// when Redis is down).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
}

// validate bounds the heartbeat: often enough that a dead node stops
// being counted within minutes, seldom enough that the writes (one per
// node per interval) stay negligible.
func (c *Cluster) validate() []error {
	if c.HeartbeatInterval < 100*time.Millisecond || c.HeartbeatInterval > time.Minute {
		return []error{errors.New("cluster.heartbeat_interval must be between 100ms and 1m")}
	}
	return nil
}

// Dashboard configures the web console at /dashboard.
type Dashboard struct {
	// Disabled turns the dashboard off: /dashboard answers 404 and its
	// OAuth client is not created. The admin API and CLI stay.
	Disabled bool `yaml:"disabled"`
	// IdleTimeout ends a session left alone this long; AbsoluteTimeout
	// ends any session this long after signing in.
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	AbsoluteTimeout time.Duration `yaml:"absolute_timeout"`
	// DeveloperScopes are the scopes a developer may give the keys and
	// OAuth clients of their owners, and DeveloperAudiences the audiences
	// their clients may ask tokens for: these are access to the APIs
	// behind Gatehouse, so developers get only what is listed here (admins
	// give any). Empty: none.
	DeveloperScopes    []string `yaml:"developer_scopes"`
	DeveloperAudiences []string `yaml:"developer_audiences"`
}

// splitTrimmed reads a comma-separated list, spaces around items dropped.
func splitTrimmed(v string) []string {
	var out []string
	for x := range strings.SplitSeq(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// adminScope is the scope of the admin API (admin.ScopeAdmin, which this
// package cannot import).
const adminScope = "admin"

// validate bounds the timeouts (a console session of minutes to a day)
// and checks what developers may grant.
func (d *Dashboard) validate() []error {
	var errs []error
	if d.IdleTimeout < time.Minute || d.IdleTimeout > 24*time.Hour {
		errs = append(errs, errors.New("dashboard.idle_timeout must be between 1m and 24h"))
	}
	if d.AbsoluteTimeout < d.IdleTimeout || d.AbsoluteTimeout > 7*24*time.Hour {
		errs = append(errs, errors.New("dashboard.absolute_timeout must be between dashboard.idle_timeout and 7d"))
	}
	for _, s := range d.DeveloperScopes {
		switch {
		case !auth.ValidScopeToken(s):
			errs = append(errs, fmt.Errorf("dashboard.developer_scopes: %q is not a scope", s))
		case s == adminScope:
			// The admin API's scope: a developer holding it could do
			// everything an admin can.
			errs = append(errs, fmt.Errorf("dashboard.developer_scopes must not hold %q", adminScope))
		}
	}
	for _, a := range d.DeveloperAudiences {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() {
			errs = append(errs, fmt.Errorf("dashboard.developer_audiences: %q is not an absolute URI", a))
		}
	}
	return errs
}

// Usage configures usage analytics: the counts of verifications are
// written every flush_interval and kept, per granularity, this long.
type Usage struct {
	Retention auth.UsageRetention `yaml:"retention"`
}

// Webhooks configures the delivery of webhook events.
type Webhooks struct {
	// AllowPrivate lets webhooks reach loopback, private, link-local and
	// other internal addresses, which are refused by default (a webhook
	// URL must not become a way into the server's own network). --dev
	// sets it, for receivers on the developer's machine.
	AllowPrivate bool `yaml:"allow_private"`
}

// GatewayOff as the gateway address runs no gateway.
const GatewayOff = "off"

// Gateway configures the authenticating reverse proxy.
type Gateway struct {
	// Addr is the gateway's own listen address (HOST:PORT), or "off".
	Addr string `yaml:"addr"`
	// RoutesFile is a YAML file of routes, reloaded when it changes (and
	// on SIGHUP). Routes can also be managed through the admin API.
	RoutesFile string `yaml:"routes_file"`
	// TrustedProxies are the addresses (IPs or CIDRs) of proxies in front
	// of the gateway whose X-Forwarded-For is believed when finding the
	// client's address (for per-client limits and logs).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AccessLog writes one line per gateway request.
	AccessLog bool `yaml:"access_log"`
	// InternalTokenTTL is the lifetime of the JWTs the gateway mints for
	// upstreams of routes with internal_jwt.
	InternalTokenTTL time.Duration `yaml:"internal_token_ttl"`
	// PublicURL is the URL clients reach the gateway at
	// (https://api.example.com, scheme, host and port only): the URL
	// DPoP proofs name on routes without hosts, and the scheme and port
	// on routes with hosts. Empty: the gateway's listener, or behind a
	// TLS proxy none (bound tokens are then refused on routes without
	// hosts).
	PublicURL string `yaml:"public_url"`
}

// Enabled reports whether the gateway runs.
func (g *Gateway) Enabled() bool { return g.Addr != GatewayOff }

// TrustedPrefixes parses TrustedProxies; a single address is a /32 or /128.
func (g *Gateway) TrustedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range g.TrustedProxies {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("gateway.trusted_proxies: %q is neither an IP address nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// OAuth configures the authorization server.
type OAuth struct {
	// Issuer is the URL clients and token verifiers know this server by
	// (the iss claim, the base of every endpoint). Empty: the URL the node
	// listens on, which suits development only; set it behind a proxy.
	Issuer string `yaml:"issuer"`

	// SigningAlgorithm of new signing keys: ES256, RS256 or EdDSA.
	SigningAlgorithm string `yaml:"signing_algorithm"`
	// SigningKeyRotation is how long a signing key signs before the next
	// one (published since) takes over.
	SigningKeyRotation time.Duration `yaml:"signing_key_rotation"`

	AccessTokenTTL     time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL         time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL    time.Duration `yaml:"refresh_token_ttl"`     // idle lifetime
	RefreshTokenMaxTTL time.Duration `yaml:"refresh_token_max_ttl"` // absolute lifetime of a token family
	// RefreshGrace lets a just-rotated refresh token be presented once more
	// within this window (a client that lost the response); 0 is strict.
	RefreshGrace time.Duration `yaml:"refresh_grace"`
	SessionTTL   time.Duration `yaml:"session_ttl"` // browser sign-in sessions

	// RequirePushedAuthorizationRequests makes the authorization endpoint
	// accept every client's requests only through a request_uri from the
	// pushed authorization request endpoint (RFC 9126 5); the built-in
	// dashboard client is exempt. A client can be required to push on its
	// own (its require_par setting).
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`
	// BackchannelLogout is the delivery of logout tokens to clients when
	// a browser session ends (OpenID Connect Back-Channel Logout 1.0).
	BackchannelLogout BackchannelLogout `yaml:"backchannel_logout"`
	// DPoP is the policy of sender-constrained tokens (RFC 9449).
	DPoP   DPoP        `yaml:"dpop"`
	Device DeviceGrant `yaml:"device"`
	// Registration configures dynamic client registration (RFC 7591).
	Registration Registration `yaml:"registration"`
}

// BackchannelLogout configures the delivery of logout tokens.
type BackchannelLogout struct {
	// MaxAttempts is how many times a logout token is attempted before
	// the delivery is given up (and audited).
	MaxAttempts int `yaml:"max_attempts"`
	// RetryInitial is the wait after the first failed attempt; each
	// further failure doubles it, up to RetryMax.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// AllowLoopback delivers to receivers on loopback addresses, over
	// http too, and lets clients register such logout URIs (one rule,
	// client.CheckBackchannelLogoutURI); otherwise a receiver must be
	// https on a public address. --dev sets it, for local development.
	AllowLoopback bool `yaml:"allow_loopback"`
}

// DPoP configures DPoP (RFC 9449) at the token endpoint, userinfo and
// the gateway.
type DPoP struct {
	// Required refuses token requests without a DPoP proof, whatever the
	// client (a client's require_dpop does it for that client alone).
	Required bool `yaml:"required"`
	// Nonce makes proofs carry a server-provided nonce (DPoP-Nonce,
	// use_dpop_nonce), rotating every NoncePeriod.
	Nonce       bool          `yaml:"nonce"`
	NoncePeriod time.Duration `yaml:"nonce_period"`
	// ProofWindow is how far a proof's iat may be from the server's clock.
	ProofWindow time.Duration `yaml:"proof_window"`
}

// DeviceGrant configures the device authorization grant (RFC 8628).
type DeviceGrant struct {
	CodeTTL  time.Duration `yaml:"code_ttl"` // life of a device and user code
	Interval time.Duration `yaml:"interval"` // minimum polling interval, whole seconds
	// User codes one client address, and one browser, may enter on the
	// verification page per 15 minutes (shared by the nodes with
	// redis_url).
	AddressAttempts int `yaml:"address_attempts"`
	BrowserAttempts int `yaml:"browser_attempts"`
}

// Registration configures dynamic client registration (RFC 7591, RFC
// 7592) at /oauth2/register.
type Registration struct {
	// Enabled serves the registration endpoint. Registering still needs
	// an initial access token an admin issued, unless Open.
	Enabled bool `yaml:"enabled"`
	// Open lets anyone register a public native client without an
	// initial access token (throttled per source address).
	Open bool `yaml:"open"`
	// GrantTypes are the grant types a registered client may have.
	GrantTypes []string `yaml:"grant_types"`
	// SoftwareStatementJWKSFile is a file holding the JWK Set of the keys
	// whose software statements are accepted; "" accepts none.
	SoftwareStatementJWKSFile string `yaml:"software_statement_jwks_file"`
	// RequireSoftwareStatement refuses registrations without one.
	RequireSoftwareStatement bool `yaml:"require_software_statement"`
}

// DefaultVerifyRate is the default VerifyRateLimit per source address, in
// requests per second: generous, since one busy service may verify every
// request it serves, yet far below what random keys need to matter.
const DefaultVerifyRate = 5000

// DefaultShutdownDelay is the default ShutdownDelay outside --dev. A
// balancer needs a few health checks to take a node out (HAProxy checking
// every second with fall 2, as docs/operations.md suggests: up to 3 s),
// and Kubernetes takes a few seconds to remove an endpoint everywhere
// (kube-proxy, ingress controllers); 5 s covers both. A node exits within
// shutdown_delay + shutdown_timeout + 5 s (the final writes are bounded to
// 5 s): with the default shutdown_timeout (15 s), 25 s, within Kubernetes'
// default grace period of 30 s. A developer's Ctrl-C has no balancer to
// wait for: --dev's default is 0.
const DefaultShutdownDelay = 5 * time.Second

// DefaultStoreOutageGrace is store_outage_grace by default: a minute rides
// out a database failover or a network blip without refusing the callers
// of keys and tokens already verified, and bounds how long a revocation
// made through another node can be missed by a node cut off from the
// database. MaxStoreOutageGrace caps it: past an hour the cached answers
// are too old to stand for the store's.
const (
	DefaultStoreOutageGrace = time.Minute
	MaxStoreOutageGrace     = time.Hour
)

// Default returns the safe defaults. dev selects the developer defaults.
func Default(dev bool) Config {
	c := Config{
		Dev:              dev,
		DataDir:          "gatehouse-data",
		Addr:             "127.0.0.1:8080",
		KeyPrefix:        "sk_live_",
		LogFormat:        "json",
		LogLevel:         "info",
		CacheTTL:         30 * time.Second,
		FlushInterval:    5 * time.Second,
		MaxBodyBytes:     64 << 10,
		ShutdownTimeout:  15 * time.Second,
		ShutdownDelay:    DefaultShutdownDelay,
		StoreOutageGrace: DefaultStoreOutageGrace,
		RedisTimeout:     250 * time.Millisecond, // ratelimit.DefaultRedisTimeout
		VerifyRateLimit:  auth.RateLimit{Rate: DefaultVerifyRate, Burst: 2 * DefaultVerifyRate},
		OAuth: OAuth{
			SigningAlgorithm:   "ES256",
			SigningKeyRotation: 30 * 24 * time.Hour,
			AccessTokenTTL:     10 * time.Minute,
			IDTokenTTL:         10 * time.Minute,
			RefreshTokenTTL:    30 * 24 * time.Hour,
			RefreshTokenMaxTTL: 90 * 24 * time.Hour,
			SessionTTL:         12 * time.Hour,
			BackchannelLogout:  BackchannelLogout{MaxAttempts: 8, RetryInitial: 10 * time.Second, RetryMax: time.Hour},
			DPoP:               DPoP{NoncePeriod: 5 * time.Minute, ProofWindow: time.Minute},
			Device: DeviceGrant{
				CodeTTL:         10 * time.Minute, // oauth.DefaultDeviceCodeTTL
				Interval:        5 * time.Second,  // oauth.DefaultDeviceInterval
				AddressAttempts: 20,               // oauth.DefaultDeviceAddressAttempts
				BrowserAttempts: 10,               // oauth.DefaultDeviceBrowserAttempts
			},
			Registration: Registration{
				Enabled:    true,
				GrantTypes: []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken},
			},
		},
		Gateway: Gateway{
			Addr:             "127.0.0.1:8081",
			AccessLog:        true,
			InternalTokenTTL: time.Minute,
		},
		Decisions:      defaultDecisions(),
		SecretScanning: defaultSecretScanning(),
		Usage:          Usage{Retention: auth.DefaultUsageRetention},
		Dashboard:      Dashboard{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 12 * time.Hour},
		Tracing:        defaultTracing(),
		Cluster:        Cluster{HeartbeatInterval: 5 * time.Second},
		Identity:       defaultIdentity(),
	}
	if dev {
		c.Webhooks.AllowPrivate = true
		c.OAuth.BackchannelLogout.AllowLoopback = true
		c.DataDir = ".gatehouse-dev"
		c.KeyPrefix = "sk_test_"
		c.LogFormat = "text"
		c.ShutdownDelay = 0
	}
	return c
}

// LoadFile fills c from a YAML file. Unknown settings are an error, so a
// misspelt one is not silently ignored.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file is an empty configuration, not an error.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// ApplyEnv fills c from GATEHOUSE_* variables; getenv is os.Getenv in
// production and a map in tests. It asks getenv for every name it knows on
// every call, whatever the answers, so that EnvNames can list them.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	var errs []error
	boolean := func(name string, dst *bool) {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a boolean", name, v))
				return
			}
			*dst = b
		}
	}
	duration := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a duration (like 30s or 5m)", name, v))
				return
			}
			*dst = d
		}
	}
	str("GATEHOUSE_DATA", &c.DataDir)
	str("GATEHOUSE_DB", &c.DB)
	str("GATEHOUSE_REDIS_URL", &c.RedisURL)
	str("GATEHOUSE_IDENTITY_MFA", &c.Identity.MFA)
	duration("GATEHOUSE_REDIS_TIMEOUT", &c.RedisTimeout)
	str("GATEHOUSE_ADDR", &c.Addr)
	str("GATEHOUSE_TLS_CERT_FILE", &c.TLSCertFile)
	str("GATEHOUSE_TLS_KEY_FILE", &c.TLSKeyFile)
	boolean("GATEHOUSE_BEHIND_TLS_PROXY", &c.BehindTLSProxy)
	str("GATEHOUSE_SECRET_FILE", &c.SecretFile)
	str("GATEHOUSE_KEY_PREFIX", &c.KeyPrefix)
	if v := getenv("GATEHOUSE_ACCEPT_KEY_ENVIRONMENTS"); v != "" {
		c.AcceptKeyEnvironments = nil
		for env := range strings.SplitSeq(v, ",") {
			c.AcceptKeyEnvironments = append(c.AcceptKeyEnvironments, strings.TrimSpace(env))
		}
	}
	str("GATEHOUSE_LOG_FORMAT", &c.LogFormat)
	str("GATEHOUSE_LOG_LEVEL", &c.LogLevel)
	duration("GATEHOUSE_CACHE_TTL", &c.CacheTTL)
	duration("GATEHOUSE_FLUSH_INTERVAL", &c.FlushInterval)
	duration("GATEHOUSE_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	duration("GATEHOUSE_STORE_OUTAGE_GRACE", &c.StoreOutageGrace)
	duration("GATEHOUSE_SHUTDOWN_DELAY", &c.ShutdownDelay)
	str("GATEHOUSE_ISSUER", &c.OAuth.Issuer)
	str("GATEHOUSE_SIGNING_ALGORITHM", &c.OAuth.SigningAlgorithm)
	duration("GATEHOUSE_SIGNING_KEY_ROTATION", &c.OAuth.SigningKeyRotation)
	duration("GATEHOUSE_ACCESS_TOKEN_TTL", &c.OAuth.AccessTokenTTL)
	duration("GATEHOUSE_ID_TOKEN_TTL", &c.OAuth.IDTokenTTL)
	duration("GATEHOUSE_REFRESH_TOKEN_TTL", &c.OAuth.RefreshTokenTTL)
	duration("GATEHOUSE_REFRESH_TOKEN_MAX_TTL", &c.OAuth.RefreshTokenMaxTTL)
	duration("GATEHOUSE_REFRESH_GRACE", &c.OAuth.RefreshGrace)
	duration("GATEHOUSE_SESSION_TTL", &c.OAuth.SessionTTL)
	boolean("GATEHOUSE_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS", &c.OAuth.RequirePushedAuthorizationRequests)
	if v := getenv("GATEHOUSE_BACKCHANNEL_LOGOUT_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GATEHOUSE_BACKCHANNEL_LOGOUT_MAX_ATTEMPTS: %q is not a number", v))
		}
		c.OAuth.BackchannelLogout.MaxAttempts = n
	}
	duration("GATEHOUSE_BACKCHANNEL_LOGOUT_RETRY_INITIAL", &c.OAuth.BackchannelLogout.RetryInitial)
	duration("GATEHOUSE_BACKCHANNEL_LOGOUT_RETRY_MAX", &c.OAuth.BackchannelLogout.RetryMax)
	boolean("GATEHOUSE_BACKCHANNEL_LOGOUT_ALLOW_LOOPBACK", &c.OAuth.BackchannelLogout.AllowLoopback)
	boolean("GATEHOUSE_DPOP_REQUIRED", &c.OAuth.DPoP.Required)
	boolean("GATEHOUSE_DPOP_NONCE", &c.OAuth.DPoP.Nonce)
	duration("GATEHOUSE_DPOP_NONCE_PERIOD", &c.OAuth.DPoP.NoncePeriod)
	duration("GATEHOUSE_DPOP_PROOF_WINDOW", &c.OAuth.DPoP.ProofWindow)
	duration("GATEHOUSE_DEVICE_CODE_TTL", &c.OAuth.Device.CodeTTL)
	duration("GATEHOUSE_DEVICE_INTERVAL", &c.OAuth.Device.Interval)
	boolean("GATEHOUSE_REGISTRATION_ENABLED", &c.OAuth.Registration.Enabled)
	boolean("GATEHOUSE_REGISTRATION_OPEN", &c.OAuth.Registration.Open)
	if v := getenv("GATEHOUSE_REGISTRATION_GRANT_TYPES"); v != "" {
		c.OAuth.Registration.GrantTypes = strings.Split(v, ",")
	}
	str("GATEHOUSE_REGISTRATION_SOFTWARE_STATEMENT_JWKS_FILE", &c.OAuth.Registration.SoftwareStatementJWKSFile)
	boolean("GATEHOUSE_REGISTRATION_REQUIRE_SOFTWARE_STATEMENT", &c.OAuth.Registration.RequireSoftwareStatement)
	str("GATEHOUSE_GATEWAY_ADDR", &c.Gateway.Addr)
	str("GATEHOUSE_ROUTES_FILE", &c.Gateway.RoutesFile)
	if v := getenv("GATEHOUSE_TRUSTED_PROXIES"); v != "" {
		c.Gateway.TrustedProxies = strings.Split(v, ",")
	}
	boolean("GATEHOUSE_ACCESS_LOG", &c.Gateway.AccessLog)
	duration("GATEHOUSE_INTERNAL_TOKEN_TTL", &c.Gateway.InternalTokenTTL)
	str("GATEHOUSE_GATEWAY_PUBLIC_URL", &c.Gateway.PublicURL)
	boolean("GATEHOUSE_DECISIONS_ENABLED", &c.Decisions.Enabled)
	str("GATEHOUSE_DECISIONS_GRPC_ADDR", &c.Decisions.GRPCAddr)
	boolean("GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE", &c.Webhooks.AllowPrivate)
	boolean("GATEHOUSE_SECRET_SCANNING_ENABLED", &c.SecretScanning.Enabled)
	str("GATEHOUSE_SECRET_SCANNING_POLICY", &c.SecretScanning.Policy)
	str("GATEHOUSE_SECRET_SCANNING_KEYS_URL", &c.SecretScanning.PublicKeysURL)
	duration("GATEHOUSE_USAGE_RETENTION_MINUTE", &c.Usage.Retention.Minute)
	duration("GATEHOUSE_USAGE_RETENTION_HOUR", &c.Usage.Retention.Hour)
	duration("GATEHOUSE_USAGE_RETENTION_DAY", &c.Usage.Retention.Day)
	boolean("GATEHOUSE_DASHBOARD_DISABLED", &c.Dashboard.Disabled)
	duration("GATEHOUSE_DASHBOARD_IDLE_TIMEOUT", &c.Dashboard.IdleTimeout)
	duration("GATEHOUSE_DASHBOARD_ABSOLUTE_TIMEOUT", &c.Dashboard.AbsoluteTimeout)
	duration("GATEHOUSE_CLUSTER_HEARTBEAT_INTERVAL", &c.Cluster.HeartbeatInterval)
	if v := getenv("GATEHOUSE_DASHBOARD_DEVELOPER_SCOPES"); v != "" {
		c.Dashboard.DeveloperScopes = splitTrimmed(v)
	}
	if v := getenv("GATEHOUSE_DASHBOARD_DEVELOPER_AUDIENCES"); v != "" {
		c.Dashboard.DeveloperAudiences = splitTrimmed(v)
	}
	str("GATEHOUSE_TRACING_OTLP_ENDPOINT", &c.Tracing.OTLPEndpoint)
	str("GATEHOUSE_TRACING_SERVICE_NAME", &c.Tracing.ServiceName)
	if v := getenv("GATEHOUSE_TRACING_SAMPLE_RATIO"); v != "" {
		if f, err := parseSampleRatio(v); err != nil {
			errs = append(errs, err)
		} else {
			c.Tracing.SampleRatio = f
		}
	}
	if v := getenv("GATEHOUSE_VERIFY_RATE_LIMIT"); v != "" {
		// One number, per second; the burst is two seconds' worth.
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n >= 0 && n <= math.MaxInt32/2) {
			errs = append(errs, fmt.Errorf("GATEHOUSE_VERIFY_RATE_LIMIT: %q is not a number of requests per second (0: no limit)", v))
		} else {
			c.VerifyRateLimit = auth.RateLimit{Rate: n, Burst: int(math.Ceil(2 * n))}
		}
	}
	if v := getenv("GATEHOUSE_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("GATEHOUSE_MAX_BODY_BYTES: %q is not a number", v))
		}
		c.MaxBodyBytes = n
	}
	if v := getenv("GATEHOUSE_SECRET"); v != "" {
		s, err := DecodeSecret(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GATEHOUSE_SECRET: %w", err))
		}
		c.Secret = s
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// EnvNames lists the GATEHOUSE_* variables ApplyEnv reads, in its order.
// They are read off ApplyEnv itself, so the list cannot fall behind it;
// deployment files are checked against it (cmd/gatehouse's deploy test).
func EnvNames() []string {
	var names []string
	c := Default(false)
	c.ApplyEnv(func(name string) string { // nothing set: it cannot fail
		names = append(names, name)
		return ""
	})
	return names
}

// MinSecretBytes is the shortest server secret accepted.
const MinSecretBytes = 32

// DecodeSecret reads a server secret written as hex or base64. The error
// never contains the input.
func DecodeSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("the secret is neither hex nor base64")
	}
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("the secret has %d bytes; at least %d are needed", len(b), MinSecretBytes)
	}
	return b, nil
}

// SQLitePath is the database file used when DB is empty.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "gatehouse.db") }

// SecretPath is where the server secret is read from (and written by init).
func (c *Config) SecretPath() string {
	if c.SecretFile != "" {
		return c.SecretFile
	}
	return filepath.Join(c.DataDir, "secret")
}

// UsesPostgres reports whether DB names a PostgreSQL database.
func (c *Config) UsesPostgres() bool {
	return strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
}

// Validate reports every problem with c at once, in words an operator can
// act on.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must not be empty"))
	}
	if c.DB != "" && !c.UsesPostgres() {
		errs = append(errs, errors.New("db must be empty (embedded SQLite) or a postgres:// URL"))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, errors.New("redis_url must be empty or a redis:// (rediss:// for TLS) URL"))
	}
	if c.RedisTimeout < time.Millisecond || c.RedisTimeout > 10*time.Second {
		errs = append(errs, errors.New("redis_timeout must be from 1ms to 10s"))
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("addr %q is not HOST:PORT", c.Addr))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("addr %q has an invalid port", c.Addr))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file and tls_key_file must be set together"))
	}
	if err == nil && !c.Dev && c.TLSCertFile == "" && !c.BehindTLSProxy && !auth.LoopbackHost(host) {
		errs = append(errs, fmt.Errorf("refusing to serve plain HTTP on the non-loopback address %q: "+
			"set tls_cert_file and tls_key_file, or behind_tls_proxy: true (GATEHOUSE_BEHIND_TLS_PROXY=true) "+
			"if a TLS proxy terminates connections in front of Gatehouse", c.Addr))
	}
	if err := apikey.ValidatePrefix(c.KeyPrefix); err != nil {
		errs = append(errs, fmt.Errorf("key_prefix %q: %w", c.KeyPrefix, err))
	}
	errs = append(errs, c.validateKeyEnvironments()...)
	errs = append(errs, c.Identity.validate()...)
	if c.Secret != nil && len(c.Secret) < MinSecretBytes {
		errs = append(errs, fmt.Errorf("the secret must have at least %d bytes", MinSecretBytes))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log_format %q must be json or text", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q must be debug, info, warn or error", c.LogLevel))
	}
	if c.CacheTTL < 0 || c.CacheTTL > time.Hour {
		errs = append(errs, errors.New("cache_ttl must be between 0 and 1h"))
	}
	if c.FlushInterval < 100*time.Millisecond || c.FlushInterval > time.Hour {
		errs = append(errs, errors.New("flush_interval must be between 100ms and 1h"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 16<<20 {
		errs = append(errs, errors.New("max_body_bytes must be between 1024 and 16777216"))
	}
	if l := c.VerifyRateLimit; l.Rate < 0 || l.Burst < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || (l.Rate > 0 && l.Burst == 0) {
		errs = append(errs, errors.New("verify_rate_limit needs a rate (per second, 0 for no limit) and, with a rate, a positive burst"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown_timeout must be positive"))
	}
	if c.StoreOutageGrace < 0 || c.StoreOutageGrace > MaxStoreOutageGrace {
		errs = append(errs, fmt.Errorf("store_outage_grace must be between 0 (fail closed at once) and %s", MaxStoreOutageGrace))
	}
	if c.ShutdownDelay < 0 {
		errs = append(errs, errors.New("shutdown_delay must not be negative (0: close the listeners at once)"))
	}
	errs = append(errs, c.OAuth.validate(c.Dev)...)
	errs = append(errs, c.validateGateway()...)
	errs = append(errs, c.validateDecisions()...)
	errs = append(errs, c.SecretScanning.validate(c.Dev)...)
	errs = append(errs, c.Usage.validate()...)
	errs = append(errs, c.Dashboard.validate()...)
	errs = append(errs, c.Tracing.validate()...)
	errs = append(errs, c.Cluster.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// validate bounds each retention: long enough for the finest chart of
// the next coarser granularity, short enough that the table stays small
// (a minute bucket per subject and outcome adds up fast).
func (u *Usage) validate() []error {
	r := u.Retention
	var errs []error
	for _, b := range []struct {
		name     string
		d        time.Duration
		min, max time.Duration
	}{
		{"usage.retention.minute", r.Minute, time.Hour, 30 * 24 * time.Hour},
		{"usage.retention.hour", r.Hour, 24 * time.Hour, 5 * 365 * 24 * time.Hour},
		{"usage.retention.day", r.Day, 24 * time.Hour, 20 * 365 * 24 * time.Hour},
	} {
		if b.d < b.min || b.d > b.max {
			errs = append(errs, fmt.Errorf("%s must be between %s and %s", b.name, b.min, b.max))
		}
	}
	return errs
}

func (c *Config) validateGateway() []error {
	g := &c.Gateway
	var errs []error
	if g.Enabled() {
		host, port, err := net.SplitHostPort(g.Addr)
		if p, perr := strconv.Atoi(port); err != nil || perr != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("gateway.addr %q is not HOST:PORT or %q", g.Addr, GatewayOff))
		} else if !c.Dev && c.TLSCertFile == "" && !c.BehindTLSProxy && !auth.LoopbackHost(host) {
			errs = append(errs, fmt.Errorf("refusing to serve the gateway over plain HTTP on the non-loopback address %q: "+
				"set tls_cert_file and tls_key_file, or behind_tls_proxy: true", g.Addr))
		}
		if err == nil && g.Addr == c.Addr && port != "0" {
			errs = append(errs, fmt.Errorf("gateway.addr and addr are both %q: the gateway needs its own port", g.Addr))
		}
	}
	if _, err := g.TrustedPrefixes(); err != nil {
		errs = append(errs, err)
	}
	if g.InternalTokenTTL < 10*time.Second || g.InternalTokenTTL > time.Hour {
		errs = append(errs, errors.New("gateway.internal_token_ttl must be between 10s and 1h"))
	}
	if g.PublicURL != "" {
		u, err := url.Parse(g.PublicURL)
		switch {
		case err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "":
			errs = append(errs, fmt.Errorf("gateway.public_url %q must be an absolute URL of a host (and port), without path, query, fragment or user", g.PublicURL))
		case u.Scheme == "https":
		case u.Scheme == "http" && (c.Dev || auth.LoopbackHost(u.Hostname())):
		default:
			errs = append(errs, fmt.Errorf("gateway.public_url %q must be an https URL (http only on loopback or with --dev)", g.PublicURL))
		}
	}
	return errs
}

func (o *OAuth) validate(dev bool) []error {
	var errs []error
	if o.Issuer != "" {
		u, err := url.Parse(o.Issuer)
		switch {
		case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o.Issuer, "/"):
			errs = append(errs, fmt.Errorf("oauth.issuer %q must be an absolute URL without query, fragment, user or trailing slash", o.Issuer))
		case u.Scheme == "https":
		case u.Scheme == "http" && (dev || auth.LoopbackHost(u.Hostname())):
		default:
			errs = append(errs, fmt.Errorf("oauth.issuer %q must be an https URL (http only on loopback or with --dev)", o.Issuer))
		}
	}
	switch o.SigningAlgorithm {
	case "ES256", "RS256", "EdDSA":
	default:
		errs = append(errs, fmt.Errorf("oauth.signing_algorithm %q must be ES256, RS256 or EdDSA", o.SigningAlgorithm))
	}
	between := func(name string, d, lo, hi time.Duration) {
		if d < lo || d > hi {
			errs = append(errs, fmt.Errorf("oauth.%s must be between %v and %v", name, lo, hi))
		}
	}
	const day, year = 24 * time.Hour, 365 * 24 * time.Hour
	between("signing_key_rotation", o.SigningKeyRotation, time.Hour, year)
	between("access_token_ttl", o.AccessTokenTTL, time.Minute, day)
	between("id_token_ttl", o.IDTokenTTL, time.Minute, day)
	between("refresh_token_ttl", o.RefreshTokenTTL, time.Minute, year)
	between("refresh_token_max_ttl", o.RefreshTokenMaxTTL, time.Minute, year)
	between("refresh_grace", o.RefreshGrace, 0, time.Minute)
	between("dpop.proof_window", o.DPoP.ProofWindow, time.Second, 10*time.Minute)
	between("dpop.nonce_period", o.DPoP.NoncePeriod, 10*time.Second, day)
	between("session_ttl", o.SessionTTL, time.Minute, 30*day)
	between("backchannel_logout.retry_initial", o.BackchannelLogout.RetryInitial, time.Second, day)
	between("backchannel_logout.retry_max", o.BackchannelLogout.RetryMax, o.BackchannelLogout.RetryInitial, 7*day)
	if n := o.BackchannelLogout.MaxAttempts; n < 1 || n > 100 {
		errs = append(errs, errors.New("oauth.backchannel_logout.max_attempts must be between 1 and 100"))
	}
	if o.RefreshTokenTTL > o.RefreshTokenMaxTTL {
		errs = append(errs, errors.New("oauth.refresh_token_ttl must not exceed oauth.refresh_token_max_ttl"))
	}
	between("device.code_ttl", o.Device.CodeTTL, time.Minute, time.Hour)
	between("device.interval", o.Device.Interval, time.Second, time.Minute)
	if o.Device.Interval%time.Second != 0 {
		errs = append(errs, errors.New("oauth.device.interval must be whole seconds"))
	}
	if o.Device.AddressAttempts < 1 || o.Device.BrowserAttempts < 1 || o.Device.AddressAttempts > 10000 || o.Device.BrowserAttempts > 10000 {
		errs = append(errs, errors.New("oauth.device.address_attempts and oauth.device.browser_attempts must be between 1 and 10000"))
	}
	return append(errs, o.Registration.validate()...)
}

func (r *Registration) validate() []error {
	var errs []error
	if len(r.GrantTypes) == 0 {
		errs = append(errs, errors.New("oauth.registration.grant_types must name at least one grant type"))
	}
	for _, g := range r.GrantTypes {
		switch g {
		case auth.GrantAuthorizationCode, auth.GrantRefreshToken, auth.GrantClientCredentials, auth.GrantDeviceCode, auth.GrantTokenExchange:
		default:
			errs = append(errs, fmt.Errorf("oauth.registration.grant_types: %q is not a grant type Gatehouse implements", g))
		}
	}
	if r.RequireSoftwareStatement && r.SoftwareStatementJWKSFile == "" {
		errs = append(errs, errors.New("oauth.registration.require_software_statement needs oauth.registration.software_statement_jwks_file"))
	}
	return errs
}

// validateKeyEnvironments checks accept_key_environments: known
// environments only, and among them the one key_prefix issues, since a node
// that creates keys it refuses is surely misconfigured.
func (c *Config) validateKeyEnvironments() []error {
	if len(c.AcceptKeyEnvironments) == 0 {
		return nil
	}
	var errs []error
	for _, env := range c.AcceptKeyEnvironments {
		if !auth.ValidKeyEnvironment(env) {
			errs = append(errs, fmt.Errorf("accept_key_environments: %q is not one of %s", env, strings.Join(auth.KeyEnvironments, ", ")))
		}
	}
	if def := auth.KeyEnvironmentOf(c.KeyPrefix); len(errs) == 0 && !slices.Contains(c.AcceptKeyEnvironments, def) {
		errs = append(errs, fmt.Errorf("accept_key_environments %s leaves out %s, the environment of the keys key_prefix %q creates (--dev creates test keys)",
			strings.Join(c.AcceptKeyEnvironments, ","), def, c.KeyPrefix))
	}
	return errs
}
