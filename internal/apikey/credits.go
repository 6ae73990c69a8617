package apikey

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Credits are spent exactly across nodes: however many nodes verify a key
// at the same time, no more verifications succeed than the key has
// credits. Two ledgers keep that promise:
//
//   - the store (the default): one conditional UPDATE per spend, which
//     takes the credits only if there are enough (refilled first when a
//     period has begun), so the database serialises the spends;
//   - Redis, when Config.CreditsRedis is set: a Lua script does the same
//     on a hash per key, which is cheaper than a database write per
//     request. The hash starts from the store's value and remembers the
//     version of the credits it was made from (auth.Credits.Version); an
//     admin update bumps the version in the store, and the first spend
//     that brings the new version starts over from the stored value. The
//     remaining credits are written back to the store by Flush (so the
//     admin API shows a value a few seconds old), only forward
//     (auth.APIKeyStore.SyncAPIKeyCredits). If Redis loses the hash, the
//     count starts again from the last value written back (read from the
//     store, not from a cached record): up to one flush interval of spends
//     may then be granted twice.
//
// Either way a failure of the ledger fails the verification (the store's
// or Redis's error, which the endpoints answer with 503) rather than
// granting a request nobody counted.

// DefaultCreditsRedisPrefix starts the name of every credits hash in Redis.
const DefaultCreditsRedisPrefix = "gatehouse:credits:"

// creditsRedisTimeout bounds each spend in Redis: a Redis that hangs must
// not hold requests (they fail with 503, as for an unreachable Redis).
const creditsRedisTimeout = 250 * time.Millisecond

// creditsRedisTTL is how long a credits hash outlives its last spend:
// longer than a monthly period, so that a key in use never starts over
// from the store's (older) value.
const creditsRedisTTL = 40 * 24 * time.Hour

// spendScript spends credits on one hash {v: version, r: remaining, t:
// refilled at (Unix µs), x: auth.ExhaustedMarker of the state the
// exhausted event was last recorded for}. Lua numbers are doubles: every
// value here (credits up to auth.MaxCredits, µs times until the year 2255)
// is an integer below 2^53, so exact.
//
// KEYS[1] the hash; ARGV[1] version of the caller's record, ARGV[2] its
// remaining credits, ARGV[3] its refilled-at time (µs), ARGV[4] refill
// amount (0: none), ARGV[5] start of the current refill period (µs),
// ARGV[6] cost, ARGV[7] TTL (ms), ARGV[8] "1" if the caller's record may
// start a missing hash, ARGV[9] the record's ExhaustedFor. Returns {spent
// (0|1), remaining, refilled at, version, exhausted (1: the first spend of
// this version and period that leaves 0 or cannot be paid, whose event is
// to be recorded)} as strings, or {-1, ...} when the hash is missing and
// ARGV[8] is not "1": the caller's record may be a cached one, older than
// what was written back since, so the caller reads the store and asks
// again. A hash of an older version than the caller's is replaced from the
// caller's record: that record is the admin's change itself, since no
// spend of its version can have been written back before the hash had it.
var spendScript = redis.NewScript(`
local v = tonumber(ARGV[1])
local h = redis.call("HMGET", KEYS[1], "v", "r", "t", "x")
local cv, r, t, x = tonumber(h[1]), tonumber(h[2]), tonumber(h[3]), h[4]
if cv == nil or r == nil or t == nil then
	if ARGV[8] ~= "1" then
		return {-1, "0", "0", "0", "0"}
	end
	cv, r, t, x = v, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[9]
elseif cv < v then
	cv, r, t, x = v, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[9]
end
if not x then
	x = ""
end
local amount, start, cost = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if amount > 0 and t < start then
	r, t = amount, start
end
local spent = 0
if r >= cost then
	r = r - cost
	spent = 1
end
local f = function(n) return string.format("%.0f", n) end
local exhausted = "0"
if spent == 0 or r == 0 then
	local m = f(cv) .. ":" .. f(t)
	if x ~= m then
		x, exhausted = m, "1"
	end
end
redis.call("HSET", KEYS[1], "v", f(cv), "r", f(r), "t", f(t), "x", x)
redis.call("PEXPIRE", KEYS[1], ARGV[7])
return {spent, f(r), f(t), f(cv), exhausted}
`)

// spend takes cost credits (0 means 1) from k, whose Credits are set.
func (s *Service) spend(ctx context.Context, k *auth.APIKey, cost int, now time.Time) (auth.CreditSpend, error) {
	if cost <= 0 {
		cost = 1
	}
	if cost > MaxCost {
		return auth.CreditSpend{}, auth.Errorf(auth.EINVALID, "cost must be between 1 and %d", MaxCost)
	}
	if s.creditsRedis == nil {
		sp, err := s.store.SpendAPIKeyCredits(ctx, k.CreditsLedger(), int64(cost), now, exhaustedEvent(k.ID, now))
		if err != nil {
			return sp, fmt.Errorf("apikey: spend credits: %w", err)
		}
		return sp, nil
	}
	return s.spendRedis(ctx, k, int64(cost), now)
}

func exhaustedEvent(id string, now time.Time) auth.AuditEvent {
	return auth.AuditEvent{Time: now, Type: auth.EventKeyUsageExceeded, Actor: auth.ActorSystem, KeyID: id, Count: 1}
}

func (s *Service) spendRedis(ctx context.Context, k *auth.APIKey, cost int64, now time.Time) (auth.CreditSpend, error) {
	c := k.Credits
	start := int64(0)
	if c.Refill.Amount > 0 {
		start = auth.PeriodStart(c.Refill.Interval, now).UnixMicro()
	}
	// The hash is the ledger's, shared by the keys of a rotation chain.
	ledger := k.CreditsLedger()
	run := func(c *auth.Credits, init string) ([5]int64, error) {
		// Each round trip has its own deadline: the store read between
		// two of them is bound by the caller's context only.
		rctx, cancel := context.WithTimeout(ctx, creditsRedisTimeout)
		defer cancel()
		refilled := int64(0)
		if !c.RefilledAt.IsZero() {
			refilled = c.RefilledAt.UnixMicro()
		}
		out, err := spendScript.Run(rctx, s.creditsRedis, []string{s.creditsPrefix + ledger},
			c.Version, c.Remaining, refilled, c.Refill.Amount, start, cost, creditsRedisTTL.Milliseconds(), init, c.ExhaustedFor).Slice()
		if err != nil {
			return [5]int64{}, auth.Errorf(auth.EUNAVAILABLE, "apikey: spend credits in Redis: %v", err)
		}
		vals, err := int64s(out)
		if err != nil {
			return vals, fmt.Errorf("apikey: spend credits in Redis: %w", err)
		}
		return vals, nil
	}
	vals, err := run(c, "0")
	if err != nil {
		return auth.CreditSpend{}, err
	}
	if vals[0] == -1 {
		// No count in Redis yet (or any more): start it from the store's
		// latest value, not from the cached record. The caller's context,
		// not Redis's short timeout, bounds the store read.
		fresh, err := s.store.GetAPIKey(ctx, ledger)
		if err != nil {
			return auth.CreditSpend{}, fmt.Errorf("apikey: spend credits: %w", err)
		}
		if fresh.Credits == nil {
			return auth.CreditSpend{Unmetered: true}, nil
		}
		if vals, err = run(fresh.Credits, "1"); err != nil {
			return auth.CreditSpend{}, err
		}
	}
	sp := auth.CreditSpend{Spent: vals[0] == 1, Remaining: vals[1]}
	st := auth.Credits{Remaining: vals[1], RefilledAt: time.UnixMicro(vals[2]).UTC(), Version: vals[3]}
	if vals[2] == 0 {
		st.RefilledAt = time.Time{}
	}
	exhausted := vals[4] == 1
	if exhausted {
		st.ExhaustedFor = auth.ExhaustedMarker(st) // written back with the state
	}
	s.credits.note(ledger, k.ID, st, exhausted, now)
	return sp, nil
}

// int64s reads the script's answer: five integers as strings (or numbers).
func int64s(out []any) ([5]int64, error) {
	var v [5]int64
	if len(out) != 5 {
		return v, fmt.Errorf("unexpected answer of %d values", len(out))
	}
	for i, x := range out {
		switch x := x.(type) {
		case int64:
			v[i] = x
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return v, fmt.Errorf("unexpected value %q", x)
			}
			v[i] = n
		default:
			return v, fmt.Errorf("unexpected value of type %T", x)
		}
	}
	return v, nil
}

// creditBook holds, for the Redis ledger, what Flush writes to the store:
// the latest state of each key's credits seen here, and the exhausted
// events to append.
type creditBook struct {
	mu        sync.Mutex
	states    map[string]auth.Credits
	exhausted []auth.AuditEvent
}

// note records the state of the credits of ledger, spent by key id.
func (b *creditBook) note(ledger, id string, c auth.Credits, exhausted bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.states == nil {
		b.states = make(map[string]auth.Credits)
	}
	// Answers may arrive out of order: keep the newest state (the store
	// keeps only forward moves anyway).
	if old, ok := b.states[ledger]; !ok || newerCredits(c, old) {
		b.states[ledger] = c
	}
	if exhausted {
		b.exhausted = append(b.exhausted, exhaustedEvent(id, now))
	}
}

// newerCredits reports whether a is a later state of the credits than b.
func newerCredits(a, b auth.Credits) bool {
	switch {
	case a.Version != b.Version:
		return a.Version > b.Version
	case !a.RefilledAt.Equal(b.RefilledAt):
		return a.RefilledAt.After(b.RefilledAt)
	case a.Remaining != b.Remaining:
		return a.Remaining < b.Remaining
	default:
		// The same state: the one that saw the exhausted event is the one
		// to write back (its marker included).
		return a.ExhaustedFor != "" && b.ExhaustedFor == ""
	}
}

func (b *creditBook) take() (map[string]auth.Credits, []auth.AuditEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	states, events := b.states, b.exhausted
	b.states, b.exhausted = nil, nil
	return states, events
}

// restore puts back what could not be written.
func (b *creditBook) restore(states map[string]auth.Credits, events []auth.AuditEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.states == nil {
		b.states = make(map[string]auth.Credits)
	}
	for id, c := range states {
		if old, ok := b.states[id]; !ok || newerCredits(c, old) {
			b.states[id] = c
		}
	}
	b.exhausted = append(events, b.exhausted...)
}

// flushCredits writes the credits counted in Redis back to the store, and
// the exhausted events to the audit log.
func (s *Service) flushCredits(ctx context.Context) error {
	states, events := s.credits.take()
	if len(states) == 0 && len(events) == 0 {
		return nil
	}
	for id, c := range states {
		if err := s.store.SyncAPIKeyCredits(ctx, id, c); err != nil {
			s.credits.restore(states, events)
			return fmt.Errorf("apikey: write credits back: %w", err)
		}
		delete(states, id)
	}
	if len(events) > 0 {
		if err := s.audit.AppendAuditEvents(ctx, events...); err != nil {
			s.credits.restore(nil, events)
			return fmt.Errorf("apikey: record exhausted credits: %w", err)
		}
	}
	return nil
}
