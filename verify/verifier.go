package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what a Verifier checks and where it finds the keys. Issuer and
// Audience (or AnyAudience) are required.
type Config struct {
	Issuer string // required; iss must equal it exactly
	// Audience must be one of aud (RFC 9068 §4: a resource server checks
	// that a token is meant for it). Required, unless AnyAudience says
	// the caller checks it itself (with Claims.HasAudience), as a gateway
	// serving many APIs does: leaving it empty by mistake would accept
	// tokens meant for any other service.
	Audience    string
	AnyAudience bool
	Algorithms  []string      // allowed algs; default {"ES256","RS256"}; New refuses HS*/none. Never taken from the token.
	Types       []string      // accepted typ headers; default {"at+jwt"}; case-insensitive, with or without "application/" (RFC 8725 §3.11)
	Leeway      time.Duration // clock skew for exp/nbf/iat; default 30s
	JWKSURI     string        // where the keys are; "" discovers it from Issuer+"/.well-known/openid-configuration" (whose "issuer" must equal Issuer, OIDC Discovery §4.3)
	// JWKS, when set, supplies the key set locally instead of over HTTP (the
	// gateway passes its keyring's: the JWK Set document and a version tag
	// that changes whenever it does). The verifier re-parses the document
	// when the version changes (a cheap string compare per Verify).
	JWKS func() (doc []byte, version string)
	// HTTPClient fetches discovery and the JWKS. The default has a 10s
	// timeout and follows no redirect to a URL New would refuse; a client
	// of your own should do the same. Each fetch is abandoned after 30s
	// whatever the client's own timeout.
	HTTPClient         *http.Client
	RefreshInterval    time.Duration         // background refresh; default 5m
	MinRefetchInterval time.Duration         // an unknown kid triggers at most one fetch per this interval; default 10s
	CacheSize          int                   // verified tokens kept (by SHA-256 of the token, until exp); default 10000; <0 disables
	Revoked            func(jti string) bool // consulted on EVERY Verify, cache hits included
	Now                func() time.Time
	Logger             *slog.Logger
	// Realm is the realm of the WWW-Authenticate challenges Middleware
	// sends (RFC 6750 §3); default "api".
	Realm string
	// DPoP checks the proofs of DPoP-bound tokens in Middleware (RFC 9449
	// 7); nil refuses every DPoP-bound token, which cannot be checked
	// without it.
	DPoP *DPoP
	// RequireMFA makes Middleware refuse a token whose sign-in did not use
	// a second factor (Claims.CheckMFA: amr without "mfa" and acr not
	// ACRMFA) with 401 insufficient_user_authentication (RFC 9470), after
	// its DPoP proof and before its scopes. Verify does not apply it;
	// RequireMFA does for one route.
	RequireMFA bool
}

// DefaultRealm is the realm of challenges when none is configured.
const DefaultRealm = "api"

// Verifier verifies Gatehouse access tokens locally. It is safe for
// concurrent use.
type Verifier struct {
	cfg   Config
	log   *slog.Logger
	cache *cache[cachedToken]

	keys      atomic.Pointer[keySet]
	ready     chan struct{} // closed when the first key set is loaded
	readyOnce sync.Once

	// Local key set (Config.JWKS): the last version parsed or tried.
	localMu   sync.Mutex
	localSeen atomic.Pointer[string]

	// Remote key set.
	fetchMu      sync.Mutex
	inflight     *fetchCall
	lastFetch    time.Time // Config.Now at the start of the last fetch
	closed       bool      // Close ran: no fetch starts any more
	fetches      atomic.Int64
	jwksURI      string // discovered; only fetch goroutines, which never overlap, touch it
	retryBase    time.Duration
	fetchTimeout time.Duration

	ctx       context.Context
	cancel    context.CancelFunc
	stopped   chan struct{}
	closeOnce sync.Once
}

// cachedToken is what a verified token's cache entry holds: the claims,
// and the key that verified it, under the kid the token named. A hit is
// valid only while the current key set still maps that kid to that very
// key, so removing a key from the set (after a compromise) invalidates the
// tokens it verified at once.
type cachedToken struct {
	claims *Claims
	kid    string
	key    *publicKey
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// New checks cfg, fills in its defaults and returns a Verifier. With a
// remote key set it starts the first fetch and the background refresh in a
// goroutine and returns at once: it never blocks on the network. Until the
// first key set is loaded, Verify fails with ReasonKeysUnavailable; call
// Ready to wait for it. Call Close to stop the refresh.
func New(cfg Config) (*Verifier, error) {
	return newTuned(cfg, tuning{retryBase: time.Second, fetchTimeout: defaultFetchTimeout})
}

// defaultFetchTimeout bounds one fetch of the key set (discovery included)
// whatever the HTTP client: a client of the caller's own may have no
// Timeout, and a fetch that never ends would hold the singleflight slot,
// so that neither the refresh nor an unknown-kid refetch could run again.
const defaultFetchTimeout = 30 * time.Second

// tuning holds what tests shorten: the first retry delay of a failed
// fetch and the bound of one fetch.
type tuning struct {
	retryBase    time.Duration
	fetchTimeout time.Duration
}

func newTuned(cfg Config, tn tuning) (*Verifier, error) {
	if err := cfg.fill(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v := &Verifier{
		cfg:          cfg,
		log:          cfg.Logger,
		cache:        newCache[cachedToken](cfg.CacheSize),
		ready:        make(chan struct{}),
		stopped:      make(chan struct{}),
		retryBase:    tn.retryBase,
		fetchTimeout: tn.fetchTimeout,
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	if cfg.JWKS != nil {
		close(v.stopped)
		return v, nil
	}
	go v.run()
	return v, nil
}

func (c *Config) fill() error {
	if c.Issuer == "" {
		return errors.New("Issuer is required")
	}
	if c.Audience == "" && !c.AnyAudience {
		return errors.New("Audience is required (set AnyAudience to check it yourself with Claims.HasAudience)")
	}
	if c.Algorithms == nil {
		c.Algorithms = []string{"ES256", "RS256"}
	}
	if err := validAlgorithms(c.Algorithms); err != nil {
		return err
	}
	if c.Types == nil {
		c.Types = []string{"at+jwt"}
	}
	if len(c.Types) == 0 {
		return errors.New("no token type accepted")
	}
	if c.Leeway < 0 || c.RefreshInterval < 0 || c.MinRefetchInterval < 0 {
		return errors.New("durations must not be negative")
	}
	if c.Leeway == 0 {
		c.Leeway = 30 * time.Second
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = 5 * time.Minute
	}
	if c.MinRefetchInterval == 0 {
		c.MinRefetchInterval = 10 * time.Second
	}
	if c.CacheSize == 0 {
		c.CacheSize = 10000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if c.JWKS != nil {
		return nil
	}
	if c.HTTPClient == nil {
		c.HTTPClient = defaultHTTPClient()
	}
	if c.JWKSURI != "" {
		return checkURL(c.JWKSURI)
	}
	return checkURL(c.Issuer)
}

// Ready waits until a key set is loaded or ctx ends. Verify never waits:
// programs that would rather not answer 503 during their first second call
// Ready at start.
func (v *Verifier) Ready(ctx context.Context) error {
	if v.cfg.JWKS != nil {
		// The local document is read at each Verify; wait for one that parses.
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for v.keySet() == nil {
			select {
			case <-ctx.Done():
				return fmt.Errorf("verify: no usable key set: %w", ctx.Err())
			case <-t.C:
			}
		}
		return nil
	}
	select {
	case <-v.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("verify: no key set loaded yet: %w", ctx.Err())
	}
}

// Close stops the background refresh and waits for it to end. Verify keeps
// working with the last key set.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.cancel()
		<-v.stopped
		// An unknown-kid refetch may still be in flight; wait for it (the
		// cancel ends it) so that no goroutine of the Verifier outlives
		// Close, and start no other.
		v.fetchMu.Lock()
		v.closed = true
		c := v.inflight
		v.fetchMu.Unlock()
		if c != nil {
			<-c.done
		}
	})
}

// Verify checks token and returns its claims; every error is an *Error.
//
// It refuses, in this order: an empty token (missing), one over
// MaxTokenSize, not a compact JWS with one signature, a header with any
// parameter besides alg, kid and typ, or an alg not in Config.Algorithms
// (malformed); no key set yet (keys_unavailable); a kid not in the set, or
// no kid when the set has several keys (unknown_kid); an alg that does not
// fit the key, or a bad signature (bad_signature); a typ not in
// Config.Types (wrong_type); claims that are not strict JSON or lack exp
// (malformed); exp passed, nbf or iat in the future, each within Leeway
// (expired, not_yet_valid); iss not Config.Issuer (wrong_issuer);
// Config.Audience not in aud (wrong_audience); and a jti for which
// Config.Revoked says true (revoked), on every call. Revoked is called with
// "" for a token without jti, which it may refuse to fail closed.
//
// Errors other than keys_unavailable are final for that token; an unknown
// kid may trigger one refetch of the key set (see MinRefetchInterval),
// which Verify waits for at most until ctx ends.
//
// The returned Claims may be shared with other callers: do not modify them.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, refuse(ReasonMissing, "no token")
	}
	if len(token) > MaxTokenSize {
		return nil, refuse(ReasonMalformed, "token too long")
	}
	set := v.keySet()
	if set == nil {
		return nil, refuse(ReasonKeysUnavailable, "no key set loaded yet")
	}
	var h [32]byte
	if v.cache != nil {
		h = hashOf(token)
		if e, ok := v.cache.get(h, v.cfg.Now()); ok {
			if set.lookup(e.kid) == e.key {
				if v.cfg.Revoked != nil && v.cfg.Revoked(e.claims.ID) {
					return nil, refuse(ReasonRevoked, "jti is revoked")
				}
				return e.claims, nil
			}
			// The key is gone from the set: verify afresh, which refuses.
			v.cache.remove(h)
		}
	}
	c, key, err := v.verifyToken(ctx, token, set)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(h, cachedToken{claims: c.claims, kid: c.kid, key: key}, c.claims.ExpiresAt, v.cfg.Now())
	}
	if v.cfg.Revoked != nil && v.cfg.Revoked(c.claims.ID) {
		return nil, refuse(ReasonRevoked, "jti is revoked")
	}
	return c.claims, nil
}

type verified struct {
	claims *Claims
	kid    string // as the header named it
}

func (v *Verifier) verifyToken(ctx context.Context, token string, set *keySet) (verified, *publicKey, error) {
	p, err := parseCompact(token, v.cfg.Algorithms)
	if err != nil {
		return verified{}, nil, err
	}
	kid := p.header.Kid
	key := set.lookup(kid)
	if key == nil && v.cfg.JWKS == nil {
		if s := v.refetchForUnknownKID(ctx); s != nil {
			key = s.lookup(kid)
		}
	}
	if key == nil {
		return verified{}, nil, refuse(ReasonUnknownKID, "no key for the token's kid")
	}
	// The key fixes the algorithm: an ES256 key with an RS256 (or HS256,
	// refused earlier) header fails here.
	if !algFits(p.header.Alg, key.key, key.alg) {
		return verified{}, nil, refuse(ReasonBadSignature, "algorithm does not fit the key")
	}
	if !checkSignature(p.header.Alg, key.key, p.input, p.sig) {
		return verified{}, nil, refuse(ReasonBadSignature, "signature does not verify")
	}
	// typ is read only once the header is known to be the issuer's.
	if !typeAccepted(p.header.Typ, v.cfg.Types) {
		return verified{}, nil, refuse(ReasonWrongType, "typ is not accepted")
	}
	c, err := decodeClaims(p.payload, key.kid)
	if err != nil {
		return verified{}, nil, err
	}
	if err := c.check(v.cfg.Now(), &v.cfg); err != nil {
		return verified{}, nil, err
	}
	return verified{claims: c, kid: kid}, key, nil
}

// keySet returns the current key set, nil if none is loaded. With a local
// JWKS function it re-parses the document when its version changed; a
// document that does not parse is logged and the previous set kept.
func (v *Verifier) keySet() *keySet {
	cur := v.keys.Load()
	if v.cfg.JWKS == nil {
		return cur
	}
	doc, version := v.cfg.JWKS()
	if cur != nil && cur.version == version {
		return cur
	}
	if seen := v.localSeen.Load(); seen != nil && *seen == version {
		return cur // this version was tried and did not parse
	}
	return v.reloadLocal(doc, version)
}

// reloadLocal parses a new version of the local document. It is apart from
// keySet so that version escapes to the heap only here, not on every call.
func (v *Verifier) reloadLocal(doc []byte, version string) *keySet {
	v.localMu.Lock()
	defer v.localMu.Unlock()
	cur := v.keys.Load()
	if cur != nil && cur.version == version {
		return cur
	}
	if seen := v.localSeen.Load(); seen != nil && *seen == version {
		return cur
	}
	v.localSeen.Store(&version)
	set, err := parseKeySet(doc, version, v.cfg.Algorithms, cur)
	if err != nil {
		v.log.Warn("verify: the local key set does not parse; keeping the previous one", "version", version, "err", err)
		return cur
	}
	v.keys.Store(set)
	v.readyOnce.Do(func() { close(v.ready) })
	return set
}
