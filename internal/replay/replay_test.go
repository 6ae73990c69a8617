package replay_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/replay"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/verify"
)

const htu = "https://gatehouse.example/oauth2/token"

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// node is one Gatehouse node's DPoP checker over a shared replay cache.
func node(t *testing.T, cache verify.ReplayCache, now func() time.Time) *verify.DPoP {
	t.Helper()
	d, err := verify.NewDPoP(verify.DPoPConfig{Replay: cache, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// replayAcrossNodes is the attack: a proof accepted by node a is sent
// again to node b, and to a; both refuse it. A proof that is not a replay
// passes at either.
func replayAcrossNodes(t *testing.T, a, b verify.ReplayCache) {
	t.Helper()
	now := func() time.Time { return t0 }
	na, nb := node(t, a, now), node(t, b, now)
	c := dpoptest.MustNew(jose.ES256)
	c.Now = now
	req := verify.ProofRequest{Method: "POST", URL: htu}
	proof := c.Proof("POST", htu, dpoptest.Options{})
	if _, err := na.Check(t.Context(), proof, req); err != nil {
		t.Fatalf("node a: %v", err)
	}
	for name, n := range map[string]*verify.DPoP{"b": nb, "a": na} {
		_, err := n.Check(t.Context(), proof, req)
		if verify.ReasonOf(err) != verify.ReasonDPoPReplayed {
			t.Errorf("replay at node %s: %v, want %s", name, err, verify.ReasonDPoPReplayed)
		}
	}
	if _, err := nb.Check(t.Context(), c.Proof("POST", htu, dpoptest.Options{}), req); err != nil {
		t.Errorf("a fresh proof at node b: %v", err)
	}
}

// expiry: an entry is forgotten after its expiry, and not before.
func expiry(t *testing.T, c verify.ReplayCache) {
	t.Helper()
	var k [32]byte
	k[0] = byte(rand.Uint32())
	k[1] = byte(rand.Uint32())
	for i := 2; i < 32; i++ {
		k[i] = byte(rand.Uint32())
	}
	ok, err := c.Use(t.Context(), k, t0.Add(time.Minute), t0)
	if err != nil || !ok {
		t.Fatalf("first use: %v %v", ok, err)
	}
	ok, err = c.Use(t.Context(), k, t0.Add(2*time.Minute), t0.Add(59*time.Second))
	if err != nil || ok {
		t.Fatalf("second use within the lifetime: %v %v", ok, err)
	}
}

func TestStoreReplayAcrossTwoNodesOnPostgres(t *testing.T) {
	dsn, _ := testenv.PostgresSchema(t)
	open := func() *postgres.DB {
		db, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	replayAcrossNodes(t, replay.Store{Store: a}, replay.Store{Store: b})
	expiry(t, replay.Store{Store: a})
	// Past its expiry the store replaces the entry.
	var k [32]byte
	k[5] = 1
	if ok, _ := (replay.Store{Store: a}).Use(t.Context(), k, t0.Add(time.Second), t0); !ok {
		t.Fatal("first use refused")
	}
	if ok, err := (replay.Store{Store: b}).Use(t.Context(), k, t0.Add(time.Hour), t0.Add(2*time.Second)); !ok || err != nil {
		t.Fatalf("use after expiry: %v %v", ok, err)
	}
}

func TestStoreReplayOnSQLite(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	replayAcrossNodes(t, replay.Store{Store: db}, replay.Store{Store: db})
	expiry(t, replay.Store{Store: db})
}

func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		testenv.RedisUnreachable(t, err)
	}
	return c
}

func TestRedisReplayAcrossTwoNodes(t *testing.T) {
	prefix := "gatehouse-test:" + strconv.FormatUint(rand.Uint64(), 36) + ":dpop:"
	a, b := testRedis(t), testRedis(t)
	t.Cleanup(func() {
		ctx := context.Background()
		if keys := a.Keys(ctx, prefix+"*").Val(); len(keys) > 0 {
			a.Del(ctx, keys...)
		}
	})
	replayAcrossNodes(t, replay.Redis{Client: a, Prefix: prefix}, replay.Redis{Client: b, Prefix: prefix})
	expiry(t, replay.Redis{Client: a, Prefix: prefix})
	// The entry carries its lifetime: Redis forgets it by itself.
	keys := a.Keys(t.Context(), prefix+"*").Val()
	if len(keys) == 0 {
		t.Fatal("no key written under the prefix")
	}
	for _, k := range keys {
		if ttl := a.PTTL(t.Context(), k).Val(); ttl <= 0 || ttl > 2*time.Minute {
			t.Errorf("key %s has TTL %v", k, ttl)
		}
	}
}

func TestRedisUnreachableFailsClosed(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	now := func() time.Time { return t0 }
	d := node(t, replay.Redis{Client: c}, now)
	cl := dpoptest.MustNew(jose.ES256)
	cl.Now = now
	_, err := d.Check(t.Context(), cl.Proof("POST", htu, dpoptest.Options{}), verify.ProofRequest{Method: "POST", URL: htu})
	if verify.ReasonOf(err) != verify.ReasonKeysUnavailable {
		t.Fatalf("%v", err)
	}
}
