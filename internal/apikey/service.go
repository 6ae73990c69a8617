package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// MinSecretLength is the shortest Config.Secret: the hasher's own minimum.
const MinSecretLength = secret.MinServerSecretLength

// Config configures a Service. Store, Audit, Secret and Prefix are required.
type Config struct {
	Store auth.APIKeyStore
	Audit auth.AuditStore
	// Secret keys the hashes under which keys are stored (at least
	// MinSecretLength bytes). It must live outside the database, and must
	// not change: every stored key becomes unusable if it does.
	Secret []byte
	// Prefix is the prefix of the keys created in the default environment,
	// which it names (auth.KeyEnvironmentOf: sk_test_ is test's, sk_live_
	// or any other live's). Keys of the other environment get the same
	// first segment: sk_live_ and sk_test_, acme_live_ and acme_test_ (see
	// EnvironmentPrefix). Verify accepts every prefix: a key is accepted if
	// the store holds it, whatever prefix this node would give it today.
	Prefix string
	// Environments lists the key environments Verify accepts; a key
	// of any other is refused as CodeInvalid without a store read. Empty:
	// every environment.
	Environments []string
	// Now is the clock; default auth.SystemNow.
	Now auth.Now
	// Logger gets the background loop's problems; default: discard.
	Logger *slog.Logger
	// CacheTTL is how long a verified key's record is used without reading
	// the store again. With Changes, a record is used only while the change
	// feed is known complete (see feed.go), so other nodes' changes are
	// honoured within auth.FeedMaxAge; without, CacheTTL is the longest a
	// change made elsewhere can go unnoticed. Default 30s; negative
	// disables the cache.
	CacheTTL time.Duration
	// Changes is the node's change feed when several nodes share the
	// store; nil for a store only this node writes to.
	Changes ChangeFeed
	// CacheSize bounds the number of cached keys. Default 100000.
	CacheSize int
	// NegativeCacheTTL is how long a well-formed key that the store does
	// not know is refused without reading the store again, so that a
	// client repeating an unknown key costs one store lookup per TTL. Keys
	// are generated server-side and keys created on this node are dropped
	// from it at once (see negativeCache); it is independent of CacheTTL.
	// Default 10s; negative disables it.
	NegativeCacheTTL time.Duration
	// NegativeCacheSize bounds the number of unknown keys remembered.
	// Default 10000.
	NegativeCacheSize int
	// FlushInterval is the period of Run's background work. Default 5s.
	FlushInterval time.Duration
	// Registerer gets the service's metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Usage counts every verification Check makes; nil counts nothing.
	Usage *usage.Counter
	// Limiter keeps the keys' rate limits; nil keeps them in this process
	// (per node). A ratelimit.Redis (a scope of the node's) shares them
	// between nodes, so that a key's limit holds across the cluster.
	Limiter ratelimit.Limiter
	// CreditsRedis, when set, keeps the count of keys' credits in Redis,
	// shared by every node, instead of writing the store on each spend
	// (see credits.go). It must honour contexts' deadlines.
	CreditsRedis redis.UniversalClient
	// CreditsRedisPrefix starts the name of every credits hash; default
	// DefaultCreditsRedisPrefix.
	CreditsRedisPrefix string
	// TracerProvider records a span per verification (see tracing.go);
	// nil records none, at no cost.
	TracerProvider trace.TracerProvider
}

// Defaults of Config.
const (
	DefaultCacheTTL          = 30 * time.Second
	DefaultCacheSize         = 100_000
	DefaultNegativeCacheTTL  = 10 * time.Second
	DefaultNegativeCacheSize = 10_000
	DefaultFlushInterval     = 5 * time.Second
)

// Service issues, verifies, rotates and revokes API keys. It is safe for
// concurrent use. Run must be running for last-used times, failure audit
// events and expiry events to be written, and, with a store that reports
// key changes, for the cache to answer: until Run's watcher vouches for the
// change feed, every verification reads the store.
type Service struct {
	store         auth.APIKeyStore
	audit         auth.AuditStore
	hasher        *secret.Hasher
	prefix        string // of the default environment
	environment   string // the default environment, auth.KeyEnvironmentOf(prefix)
	refuseTest    bool   // Environments leaves the test environment out
	refuseLive    bool   // Environments leaves the live environment out
	now           auth.Now
	log           *slog.Logger
	cache         *cache         // nil when disabled
	negative      *negativeCache // nil when disabled
	flights       *flights
	limits        ratelimit.Buckets // the limits without Config.Limiter, and when it fails
	limiter       ratelimit.Limiter // Config.Limiter, or limits
	usage         *activity
	counter       *usage.Counter // nil: not counted
	flushInterval time.Duration
	flushBatch    int
	metrics       *metrics // nil without a Registerer
	// trust: cached records answer only while it says so; see feed.go.
	trust *changes.Trust
	// creditsRedis is the Redis ledger of credits; nil: the store's.
	creditsRedis  redis.UniversalClient
	creditsPrefix string
	credits       creditBook   // what Flush writes back for the Redis ledger
	tracer        trace.Tracer // nil: tracing off
}

// NewService checks cfg, fills in its defaults and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Audit == nil {
		return nil, errors.New("apikey: Config.Store and Config.Audit are required")
	}
	if err := ValidatePrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("apikey: Config.Prefix: %w", err)
	}
	for _, env := range cfg.Environments {
		if !auth.ValidKeyEnvironment(env) {
			return nil, fmt.Errorf("apikey: Config.Environments: %q is not one of %s", env, strings.Join(auth.KeyEnvironments, ", "))
		}
	}
	hasher, err := secret.NewHasher(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("apikey: Config.Secret: %w", err)
	}
	if cfg.CacheSize < 0 {
		return nil, errors.New("apikey: Config.CacheSize must not be negative")
	}
	if cfg.NegativeCacheSize < 0 {
		return nil, errors.New("apikey: Config.NegativeCacheSize must not be negative")
	}
	s := &Service{
		store:         cfg.Store,
		audit:         cfg.Audit,
		hasher:        hasher,
		prefix:        cfg.Prefix,
		environment:   auth.KeyEnvironmentOf(cfg.Prefix),
		now:           cfg.Now,
		log:           cfg.Logger,
		usage:         newActivity(),
		counter:       cfg.Usage,
		flights:       newFlights(),
		flushInterval: cfg.FlushInterval,
		flushBatch:    defaultFlushBatch,
		creditsRedis:  cfg.CreditsRedis,
		creditsPrefix: cfg.CreditsRedisPrefix,
		tracer:        tracing.Tracer(cfg.TracerProvider, tracerName),
	}
	s.limiter = cfg.Limiter
	if s.limiter == nil {
		s.limiter = ratelimit.Local{Buckets: &s.limits}
	}
	if s.creditsPrefix == "" {
		s.creditsPrefix = DefaultCreditsRedisPrefix
	}
	if len(cfg.Environments) > 0 {
		s.refuseLive = !slices.Contains(cfg.Environments, auth.KeyEnvLive)
		s.refuseTest = !slices.Contains(cfg.Environments, auth.KeyEnvTest)
	}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.flushInterval <= 0 {
		s.flushInterval = DefaultFlushInterval
	}
	if cfg.CacheTTL >= 0 {
		ttl, size := cfg.CacheTTL, cfg.CacheSize
		if ttl == 0 {
			ttl = DefaultCacheTTL
		}
		if size == 0 {
			size = DefaultCacheSize
		}
		s.cache = newCache(ttl, size)
	}
	if cfg.NegativeCacheTTL >= 0 {
		ttl, size := cfg.NegativeCacheTTL, cfg.NegativeCacheSize
		if ttl == 0 {
			ttl = DefaultNegativeCacheTTL
		}
		if size == 0 {
			size = DefaultNegativeCacheSize
		}
		s.negative = newNegativeCache(ttl, size)
	}
	s.followChanges(cfg.Changes)
	if cfg.Registerer != nil {
		var feedUp func() float64
		if s.watchesChanges() {
			feedUp = s.feedUp
		}
		if s.metrics, err = newMetrics(cfg.Registerer, feedUp); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Environment returns the environment of the keys created without one.
func (s *Service) Environment() string { return s.environment }

// EnvironmentPrefix returns the prefix of the keys this service issues in
// env (an auth.KeyEnvironments member): Config.Prefix for the default
// environment, and for the other one Config.Prefix's first segment followed
// by the environment (sk_live_ -> sk_test_, sk_test_ -> sk_live_, gh_ ->
// gh_test_).
func (s *Service) EnvironmentPrefix(env string) string {
	return EnvironmentPrefix(s.prefix, env)
}

// EnvironmentPrefix is Service.EnvironmentPrefix for a service whose
// Config.Prefix is defaultPrefix (a valid prefix).
func EnvironmentPrefix(defaultPrefix, env string) string {
	if auth.KeyEnvironmentOf(defaultPrefix) == env {
		return defaultPrefix
	}
	first, _, _ := strings.Cut(defaultPrefix, "_")
	return first + "_" + env + "_"
}

// accepts reports whether Verify may accept keys of env.
func (s *Service) accepts(env string) bool {
	if env == auth.KeyEnvTest {
		return !s.refuseTest
	}
	return !s.refuseLive
}

// maxCreateAttempts bounds the retries after an ID or hash collision, which
// (at 32 random bits per millisecond and 190 bits per key) should never need
// more than one.
const maxCreateAttempts = 3

// Create validates p, generates a key and stores its record with a
// key.created audit event. It returns the record and the plaintext key,
// which is not kept anywhere and cannot be shown again.
//
// Errors: auth.EINVALID, with a message that can be shown to the caller,
// when p breaks a rule; the store's errors otherwise, wrapped.
func (s *Service) Create(ctx context.Context, p CreateParams) (*auth.APIKey, string, error) {
	now := s.now()
	k, err := newRecord(p, now)
	if err != nil {
		return nil, "", err
	}
	env := p.Environment
	if env == "" {
		env = s.environment
	}
	if !auth.ValidKeyEnvironment(env) {
		return nil, "", auth.Errorf(auth.EINVALID, "environment must be one of %s", strings.Join(auth.KeyEnvironments, ", "))
	}
	for attempt := 1; ; attempt++ {
		plaintext, err := s.assign(k, s.EnvironmentPrefix(env), now)
		if err != nil {
			return nil, "", err
		}
		err = s.store.CreateAPIKey(ctx, k, createdEvent(k, p.Actor))
		if auth.ErrorCode(err) == auth.ECONFLICT && attempt < maxCreateAttempts {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("apikey: create key: %w", err)
		}
		s.created(k)
		return k, plaintext, nil
	}
}

// assign gives k a fresh ID and key with that prefix, and returns the
// plaintext key.
func (s *Service) assign(k *auth.APIKey, prefix string, now time.Time) (string, error) {
	id, err := newID(now)
	if err != nil {
		return "", err
	}
	plaintext, err := Generate(prefix)
	if err != nil {
		return "", err
	}
	sum := s.hasher.Sum(plaintext)
	k.ID = id
	k.Hash = sum[:]
	k.Prefix = prefix
	k.Hint = plaintext[len(plaintext)-4:]
	return plaintext, nil
}

func createdEvent(k *auth.APIKey, actor string) auth.AuditEvent {
	details := map[string]string{"owner": k.Owner, "environment": k.Environment()}
	if k.Name != "" {
		details["name"] = k.Name
	}
	if k.RotatedFrom != "" {
		details["rotated_from"] = k.RotatedFrom
	}
	return auth.AuditEvent{Time: k.CreatedAt, Type: auth.EventKeyCreated, Actor: actor, KeyID: k.ID, Count: 1, Details: details}
}

// Get returns the record of the key with that ID.
//
// Errors: auth.ENOTFOUND; the store's other errors, wrapped.
func (s *Service) Get(ctx context.Context, id string) (*auth.APIKey, error) {
	k, err := s.store.GetAPIKey(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("apikey: get key: %w", err)
	}
	return k, nil
}

// List returns one page of keys in creation order and the cursor of the next
// page ("" on the last).
//
// Errors: the store's, wrapped.
func (s *Service) List(ctx context.Context, f auth.APIKeyFilter) ([]*auth.APIKey, string, error) {
	keys, next, err := s.store.ListAPIKeys(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("apikey: list keys: %w", err)
	}
	return keys, next, nil
}

// Rotate replaces the key with that ID by a new key with the same owner,
// name, scopes, metadata, rate limit, credits (shared with the old key:
// see auth.APIKey.CreditsKeyID), allowed networks, rotation
// period and expiry time (a
// rotation never extends a key's lifetime), and RotatedFrom set to id. The
// old key stays valid for grace (0: it is refused at once); a key.created
// and a key.rotated event are written in the same transaction, and the old
// key is dropped from this node's cache at once. It returns the new record
// and its plaintext key, which cannot be shown again.
//
// Errors: auth.EINVALID for a negative grace or a missing actor;
// auth.ENOTFOUND; auth.ECONFLICT when the key is revoked, expired or already
// rotated; the store's other errors, wrapped.
func (s *Service) Rotate(ctx context.Context, id string, grace time.Duration, actor string) (*auth.APIKey, string, error) {
	if grace < 0 {
		return nil, "", auth.Errorf(auth.EINVALID, "grace must not be negative")
	}
	if err := checkActor(actor); err != nil {
		return nil, "", err
	}
	old, err := s.store.GetAPIKey(ctx, id)
	if err != nil {
		return nil, "", fmt.Errorf("apikey: rotate key: %w", err)
	}
	now := s.now()
	switch {
	case !old.RevokedAt.IsZero():
		return nil, "", auth.Errorf(auth.ECONFLICT, "the key is revoked")
	case old.RotatedTo != "":
		return nil, "", auth.Errorf(auth.ECONFLICT, "the key has already been rotated")
	case !old.ExpiresAt.IsZero() && !now.Before(old.ExpiresAt):
		return nil, "", auth.Errorf(auth.ECONFLICT, "the key has expired")
	}
	next := &auth.APIKey{
		Owner:          old.Owner,
		Name:           old.Name,
		Scopes:         slices.Clone(old.Scopes),
		Metadata:       maps.Clone(old.Metadata),
		RateLimit:      old.RateLimit,
		RotationPeriod: old.RotationPeriod,
		CreatedAt:      now,
		ExpiresAt:      old.ExpiresAt,
		RotatedFrom:    old.ID,
		Credits:        cloneCredits(old.Credits),
		AllowedIPs:     slices.Clone(old.AllowedIPs),
	}
	if old.Credits != nil {
		// Both keys spend one balance, the chain's ledger's (and with
		// Redis its one hash): during the grace period the old and the
		// new key together never get more than the credits left. The
		// copy above is only what the new record holds until read back.
		next.CreditsKeyID = old.CreditsLedger()
	}
	if next.RotationPeriod > 0 {
		next.RotationDueAt = now.Add(next.RotationPeriod)
	}
	// The new key stays in the old one's environment, with the prefix this
	// node gives that environment now.
	plaintext, err := s.assign(next, s.EnvironmentPrefix(old.Environment()), now)
	if err != nil {
		return nil, "", err
	}
	rotated := auth.AuditEvent{
		Time: now, Type: auth.EventKeyRotated, Actor: actor, KeyID: old.ID, Count: 1,
		Details: map[string]string{"rotated_to": next.ID, "grace": grace.String()},
	}
	_, err = s.store.RotateAPIKey(ctx, old.ID, next, now.Add(grace), createdEvent(next, actor), rotated)
	// Whatever the outcome (the store may have committed before failing
	// to answer), the cached record may be stale now.
	s.Invalidate(old.ID)
	if err != nil {
		return nil, "", fmt.Errorf("apikey: rotate key: %w", err)
	}
	s.created(next)
	return next, plaintext, nil
}

// Revoke revokes the key with that ID, with a key.revoked event, and drops it
// from this node's cache at once, so the next Verify of it here is refused
// (other nodes follow on their store's change notification, or within
// CacheTTL without one). Revoking a revoked key changes nothing. It returns
// the record as updated.
//
// Errors: auth.EINVALID for a missing actor; auth.ENOTFOUND; the store's
// other errors, wrapped.
func (s *Service) Revoke(ctx context.Context, id, actor string) (*auth.APIKey, error) {
	if err := checkActor(actor); err != nil {
		return nil, err
	}
	now := s.now()
	k, err := s.store.RevokeAPIKey(ctx, id, now, auth.AuditEvent{Time: now, Type: auth.EventKeyRevoked, Actor: actor, KeyID: id, Count: 1})
	s.Invalidate(id) // also on error: the store may have committed
	if err != nil {
		return nil, fmt.Errorf("apikey: revoke key: %w", err)
	}
	return k, nil
}

// Invalidate drops the key with that ID from the cache, so its next
// verification reads the store (and does not share a store read that started
// before). Run calls it for changes other nodes report; Rotate and Revoke
// call it themselves.
func (s *Service) Invalidate(id string) {
	if s.cache != nil {
		s.cache.invalidate(id)
	}
	s.flights.invalidate()
}

// created makes a key just stored on this node verifiable at once: its hash
// is dropped from the negative cache, and neither a negative entry nor the
// answer of a store read that started before the key existed can stand for
// it afterwards. (Nobody can present a key before Create returns it, so this
// is a guarantee kept rather than a race expected; see negativeCache.)
func (s *Service) created(k *auth.APIKey) {
	if s.negative != nil {
		s.negative.forget((*[sha256.Size]byte)(k.Hash))
	}
	s.flights.invalidate()
}

func cloneCredits(c *auth.Credits) *auth.Credits {
	if c == nil {
		return nil
	}
	cp := *c
	return &cp
}
