// Package replay holds the DPoP replay caches that several Gatehouse nodes
// share (verify.ReplayCache): one in Redis and one in the store
// (PostgreSQL when nodes share one). A proof accepted by one node is then
// refused by every other for as long as it could be replayed. A single
// node uses verify.MemoryReplayCache, which needs no round trip.
package replay

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// keyName is the text form of a replay key: a namespace and the key's
// base64url (43 characters), never the proof or its jti.
func keyName(prefix string, key [32]byte) string {
	return prefix + base64.RawURLEncoding.EncodeToString(key[:])
}

// JTIStore is what Store needs of the store: auth.TokenStore's UseJTI,
// which client assertions use too.
type JTIStore interface {
	UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error
}

// Store is a replay cache in the store's used_jtis table, under names
// "dpop:<key>" that cannot collide with client assertions' jtis. Expired
// entries go with the store's PurgeExpired.
type Store struct {
	Store JTIStore
}

var _ verify.ReplayCache = Store{}

// StorePrefix starts the names of DPoP entries in used_jtis.
const StorePrefix = "dpop:"

// Use records key until expiresAt: false if it was recorded and has not
// expired at now.
func (s Store) Use(ctx context.Context, key [32]byte, expiresAt, now time.Time) (bool, error) {
	err := s.Store.UseJTI(ctx, keyName(StorePrefix, key), expiresAt, now)
	switch auth.ErrorCode(err) {
	case "":
		return true, nil
	case auth.ECONFLICT:
		return false, nil
	}
	return false, fmt.Errorf("replay: use jti: %w", err)
}

// Redis is a replay cache in Redis: SET NX with the entry's lifetime, one
// round trip per proof, so the entries expire by themselves.
type Redis struct {
	Client redis.UniversalClient
	// Prefix starts every key name (a node's key scope); "gatehouse:dpop:"
	// if empty.
	Prefix string
}

var _ verify.ReplayCache = Redis{}

// DefaultRedisPrefix is Redis.Prefix when none is set.
const DefaultRedisPrefix = "gatehouse:dpop:"

// Use records key until expiresAt: false if it is held already. The
// entry lives at least a millisecond, so that a proof at the very edge of
// its window is still recorded.
func (r Redis) Use(ctx context.Context, key [32]byte, expiresAt, now time.Time) (bool, error) {
	if r.Client == nil {
		return false, errors.New("replay: no Redis client")
	}
	prefix := r.Prefix
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	ttl := max(expiresAt.Sub(now), time.Millisecond)
	// SET key 1 PX ttl NX: one atomic command.
	fresh, err := r.Client.SetNX(ctx, keyName(prefix, key), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("replay: redis: %w", err)
	}
	return fresh, nil
}
