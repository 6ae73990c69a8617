package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// Verify reports whether key may be used for a request that needs every one
// of scopes. It checks, in this order:
//
//   - format and checksum, and that the environment the prefix names
//     (auth.KeyEnvironmentOf) is one this service accepts, without any
//     store call → CodeInvalid. Any valid prefix is looked up: a key is
//     valid if the store holds it, whatever prefix new keys get today;
//   - the key's record, from the cache or else the store (by keyed hash);
//     unknown → CodeInvalid, remembered for NegativeCacheTTL so that the
//     same unknown key does not reach the store again meanwhile;
//   - revoked → CodeRevoked; expired (or past its rotation grace) →
//     CodeExpired; missing scopes → CodeInsufficientScope;
//   - for a key restricted to networks, the caller's address (Check's
//     Request.IP; unknown is refused) → CodeIPNotAllowed;
//   - its rate limit, taking one token (from Config.Limiter: shared by the
//     nodes through Redis when configured, see docs/rate-limits.md) →
//     CodeRateLimited, with RetryAfter;
//   - for a key with credits, spending Request.Cost of them, exactly
//     across nodes (see credits.go) → CodeUsageExceeded when they cannot
//     pay, and nothing is spent;
//   - otherwise CodeValid, with the rate limit state for the headers and
//     the credits left.
//
// A key whose record is cached, or recently found unknown, costs no store
// call and no allocation. With a store that reports other nodes' changes,
// the cached record is used only while that feed is known complete (see
// feed.go); otherwise the store is read. Concurrent verifications of one key
// that is in neither cache share a single store read. Last-used times and
// failures are recorded in memory and written by Run.
//
// The error is non-nil only when the store failed (and then the Result is
// zero): the store's error, wrapped, so auth.ErrorCode gives its code
// (auth.EUNAVAILABLE for a store that cannot be reached, which the verify
// endpoint and the gateway answer with 503). So a node that has lost both
// the change feed and the store fails closed rather than trusting a record
// that may have been revoked meanwhile.
func (s *Service) Verify(ctx context.Context, key string, scopes []string) (Result, error) {
	return s.Check(ctx, Request{Key: key, Scopes: scopes})
}

// Check is Verify with everything a caller may know about the request: it
// verifies req.Key for req.Scopes as Verify describes, and counts the
// outcome in Config.Usage under the key, its owner and req.Route. It is
// Authorize followed by Settle with no refusal of the caller's own.
func (s *Service) Check(ctx context.Context, req Request) (Result, error) {
	res, err := s.Authorize(ctx, req)
	if err != nil {
		return res, err
	}
	return s.Settle(ctx, req, res, "")
}

// Authorize is the first half of Check: every check Verify lists up to
// and including the key's rate limit, which spends no credits and counts
// nothing in Config.Usage. A caller that applies refusals of its own after
// it (the gateway's route limits) calls Settle with the result, so that a
// request refused there spends no credits and is counted as refused.
func (s *Service) Authorize(ctx context.Context, req Request) (Result, error) {
	if s.tracer != nil {
		return s.authorizeTraced(ctx, req)
	}
	return s.authorize(ctx, req)
}

func (s *Service) authorize(ctx context.Context, req Request) (Result, error) {
	now := s.now()
	res, err := s.check(ctx, &req, now)
	res.at = now
	return res, err
}

// Settle is the second half of Check, for a result of Authorize: with
// refusal "" and a result that is still CodeValid, it spends req.Cost of
// the key's credits (CodeUsageExceeded when they cannot pay); with a
// refusal (CodeRateLimited for a route's limit), it spends nothing and the
// result takes that code. Either way it counts the final outcome in
// Config.Usage. The error is the credits ledger's (see Verify).
func (s *Service) Settle(ctx context.Context, req Request, res Result, refusal Code) (Result, error) {
	if s.tracer != nil && spends(res, refusal) {
		return s.settleTraced(ctx, req, res, refusal)
	}
	return s.settleAndCount(ctx, req, res, refusal)
}

func (s *Service) settleAndCount(ctx context.Context, req Request, res Result, refusal Code) (Result, error) {
	now := res.at
	if now.IsZero() {
		now = s.now()
	}
	if res.Code == CodeValid {
		if refusal != "" {
			res.Code = refusal
			s.count(refusal)
		} else {
			var err error
			if res, err = s.settle(ctx, &req, res, now); err != nil {
				return Result{}, err
			}
		}
	}
	e := usage.Event{Route: req.Route, Outcome: string(res.Code)}
	if res.Key != nil {
		e.KeyID, e.Owner = res.Key.ID, res.Key.Owner
	}
	s.counter.Count(e, now)
	res.entry = nil
	return res, nil
}

// settle spends the credits of a key that passed check.
func (s *Service) settle(ctx context.Context, req *Request, res Result, now time.Time) (Result, error) {
	k := res.Key
	// Credits last: a request refused for any other reason spends none.
	// Only keys with credits pay for the shared count (a store or Redis
	// round trip); the others stay on the path without I/O.
	if k.Credits != nil {
		sp, err := s.spend(ctx, k, req.Cost, now)
		if err != nil {
			return Result{}, err
		}
		if !sp.Unmetered {
			res.Credits = CreditState{Metered: true, Remaining: sp.Remaining}
			if !sp.Spent {
				r := s.reject(k.ID, CodeUsageExceeded, k)
				r.RateLimit, r.Credits = res.RateLimit, res.Credits
				return r, nil
			}
		}
	}
	s.recordUse(k.ID, res.entry, now)
	s.count(CodeValid)
	return res, nil
}

// check verifies req up to and including the key's rate limit; a
// refusal is counted in the metrics and the failures at once, a CodeValid
// result is left to settle.
func (s *Service) check(ctx context.Context, req *Request, now time.Time) (Result, error) {
	key, scopes := req.Key, req.Scopes
	prefix, err := Parse(key)
	if err != nil || !s.accepts(auth.KeyEnvironmentOf(prefix)) {
		return s.reject("", CodeInvalid, nil), nil
	}
	sum := s.hasher.Sum(key)
	k, e, err := s.lookup(ctx, &sum, now)
	if err != nil {
		return Result{}, err
	}
	switch {
	// The hash covers the prefix, so a stored record always has the
	// presented one; comparing costs nothing and holds the record to it.
	case k == nil || k.Prefix != prefix:
		return s.reject("", CodeInvalid, nil), nil
	case !k.RevokedAt.IsZero():
		// Any revocation counts, even one stamped slightly in the future
		// by a node whose clock runs ahead: fail closed.
		return s.reject(k.ID, CodeRevoked, k), nil
	case auth.Expired(k.ExpiresAt, now):
		return s.reject(k.ID, CodeExpired, k), nil
	case !k.HasScopes(scopes):
		return s.reject(k.ID, CodeInsufficientScope, k), nil
	case !auth.AllowsIP(k.AllowedIPs, req.IP):
		return s.reject(k.ID, CodeIPNotAllowed, k), nil
	}
	d, err := s.limiter.Allow(ctx, k.ID, k.RateLimit, now)
	if err != nil {
		// The caller went away, or a shared limiter failed without a
		// fallback: this node's own bucket decides.
		d = s.limits.Allow(k.ID, k.RateLimit, now)
	}
	state := RateLimitState{Limit: d.Limit, Remaining: d.Remaining, Reset: d.Reset, RetryAfter: d.RetryAfter}
	if !d.Allowed {
		r := s.reject(k.ID, CodeRateLimited, k)
		r.RateLimit = state
		return r, nil
	}
	return Result{Code: CodeValid, Key: k, RateLimit: state, entry: e}, nil
}

// lookup returns the record of the key whose hash is sum, or nil if there is
// none, and its cache entry (nil when not cached). It asks, in order, the
// cache (while trusted, see feed.go), the negative cache and the store, sharing the store read with any
// concurrent lookup of sum.
func (s *Service) lookup(ctx context.Context, sum *[sha256.Size]byte, now time.Time) (*auth.APIKey, *entry, error) {
	// An entry answers only while the change feed vouches for it (always,
	// without a feed): otherwise it may hide a revocation made elsewhere.
	if s.cache != nil && s.cacheTrusted() {
		if e := s.cache.get(sum, now); e != nil {
			if s.metrics != nil {
				s.metrics.cacheHits.Inc()
			}
			return e.key, e, nil
		}
	}
	if s.negative != nil && s.negative.has(sum, now) {
		if s.metrics != nil {
			s.metrics.cacheHits.Inc()
		}
		return nil, nil, nil
	}
	if s.metrics != nil {
		s.metrics.cacheMisses.Inc()
	}
	k, e, err := s.flights.do(ctx, sum, func(ctx context.Context) (*auth.APIKey, *entry, error) {
		return s.read(ctx, sum, now)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("apikey: look up key: %w", err)
	}
	return k, e, nil
}

// read looks sum up in the store and caches the answer: the record, or the
// fact that there is none. The store's error is returned as is, and nothing
// is cached then.
func (s *Service) read(ctx context.Context, sum *[sha256.Size]byte, now time.Time) (*auth.APIKey, *entry, error) {
	// Read before the store, so that an invalidation (or, for the negative
	// cache, a Create) racing with this read keeps its possibly stale
	// result out of the caches.
	var epoch, negEpoch uint64
	if s.cache != nil {
		epoch = s.cache.epoch.Load()
	}
	if s.negative != nil {
		negEpoch = s.negative.epoch.Load()
	}
	// A copy, so that sum itself stays on the caller's stack on the warm path.
	hash := append([]byte(nil), sum[:]...)
	k, err := s.store.GetAPIKeyByHash(ctx, hash)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		if s.negative != nil {
			s.negative.put(sum, negEpoch, now)
		}
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	// The store looked the hash up for us; compare it again, in constant
	// time, so that a backend matching loosely (a collation, a prefix
	// index) can never let a wrong key in.
	if subtle.ConstantTimeCompare(k.Hash, hash) != 1 {
		s.log.ErrorContext(ctx, "apikey: the store returned a key whose hash does not match the one asked for", slog.String("key_id", k.ID))
		return nil, nil, nil
	}
	var e *entry
	if s.cache != nil {
		e = s.cache.put(sum, k, epoch, now)
	}
	return k, e, nil
}

// recordUse notes that key id was used at now, for the next flush. With a
// cache entry it writes at most once a second per key, and only to an
// atomic when it does not: that is the common case on the hot path.
func (s *Service) recordUse(id string, e *entry, now time.Time) {
	t := now.UnixNano()
	if e != nil {
		last := e.lastUsed.Load()
		if t-last < int64(time.Second) || !e.lastUsed.CompareAndSwap(last, t) {
			return // recently recorded, or just now by another request
		}
	}
	s.usage.touch(id, now)
}

// reject counts a failed verification and returns its result.
func (s *Service) reject(id string, code Code, k *auth.APIKey) Result {
	s.usage.fail(id, code)
	s.count(code)
	return Result{Code: code, Key: k}
}

func (s *Service) count(code Code) {
	if s.metrics != nil {
		s.metrics.verifications[codeIndex(code)].Inc()
	}
}
