package apikey_test

import (
	"context"
	"crypto/sha256"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// BenchmarkBaselineSHA256 is the yardstick for the figures in
// docs/benchmarks.md: one plain SHA-256 of a key, measured in the same run, so
// the other benchmarks read as ratios that survive a noisy, shared machine.
func BenchmarkBaselineSHA256(b *testing.B) {
	key := []byte(generate(b, testPrefix))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		sha256.Sum256(key)
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := apikey.Generate(testPrefix); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	key := generate(b, testPrefix)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := apikey.Parse(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHasherSum(b *testing.B) {
	h, _ := secret.NewHasher(testSecret(1))
	key := generate(b, testPrefix)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		h.Sum(key)
	}
}

// benchEnv is a service over real SQLite holding one key with a scope and a
// (never reached) rate limit, so the warm path does all its work.
func benchEnv(b *testing.B, cacheTTL int) (*apikey.Service, string) {
	e := newEnv(b, func(c *apikey.Config) {
		c.Now = auth.SystemNow // the real clock: the bucket refills, and reading it is part of the cost
		if cacheTTL < 0 {
			c.CacheTTL = -1
		}
	})
	_, key := e.create(b, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1e9, Burst: 1_000_000}})
	if r := e.verify(b, key, "read"); !r.Valid() {
		b.Fatalf("Verify = %s", r.Code)
	}
	return e.svc, key
}

func BenchmarkVerifyWarm(b *testing.B) {
	svc, key := benchEnv(b, 0)
	scopes := []string{"read"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, _ := svc.Verify(ctx, key, scopes); !r.Valid() {
			b.Fatalf("Verify = %s", r.Code)
		}
	}
}

// BenchmarkVerifyWarmParallel reports wall time per verification with every
// core verifying; per-core cost is ns/op × GOMAXPROCS.
func BenchmarkVerifyWarmParallel(b *testing.B) {
	svc, key := benchEnv(b, 0)
	scopes := []string{"read"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, _ := svc.Verify(ctx, key, scopes); !r.Valid() {
				b.Errorf("Verify = %s", r.Code)
				return
			}
		}
	})
}

// BenchmarkVerifyInvalid is the cost of refusing a key with a typo: no hash,
// no store.
func BenchmarkVerifyInvalid(b *testing.B) {
	svc, key := benchEnv(b, 0)
	bad := key[:len(key)-1] + flip(key[len(key)-1])
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, _ := svc.Verify(ctx, bad, nil); r.Code != apikey.CodeInvalid {
			b.Fatalf("Verify = %s", r.Code)
		}
	}
}

// BenchmarkVerifyUnknownKey is the cost of refusing a well-formed key the
// store does not know, once the negative cache remembers it: a hash, no store.
func BenchmarkVerifyUnknownKey(b *testing.B) {
	e := newEnv(b, func(c *apikey.Config) {
		c.Now = auth.SystemNow
		c.NegativeCacheTTL = time.Hour // stays warm however long the benchmark runs
	})
	unknown := generate(b, testPrefix)
	ctx := context.Background()
	if r, err := e.svc.Verify(ctx, unknown, nil); err != nil || r.Code != apikey.CodeInvalid {
		b.Fatalf("Verify = %s, %v", r.Code, err)
	}
	e.store.Reset()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, _ := e.svc.Verify(ctx, unknown, nil); r.Code != apikey.CodeInvalid {
			b.Fatalf("Verify = %s", r.Code)
		}
	}
	b.StopTimer()
	if n := e.store.Calls("GetAPIKeyByHash"); n != 0 {
		b.Fatalf("%d store lookups with the negative cache warm", n)
	}
}

// BenchmarkVerifyCold reads the key from SQLite on every call (cache
// disabled): the cost of a key's first verification on a node.
func BenchmarkVerifyCold(b *testing.B) {
	svc, key := benchEnv(b, -1)
	scopes := []string{"read"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, err := svc.Verify(ctx, key, scopes); err != nil || !r.Valid() {
			b.Fatalf("Verify = %s, %v", r.Code, err)
		}
	}
}

// BenchmarkVerifyWarmParallelManyKeys is the warm path under a realistic
// mix: 256 keys, each with a scope and a rate limit, verified from every core
// at once, so the cache shards and the per-key buckets are spread out as
// they are in production (one hot key serialises on its own bucket).
func BenchmarkVerifyWarmParallelManyKeys(b *testing.B) {
	e := newEnv(b, func(c *apikey.Config) { c.Now = auth.SystemNow })
	keys := make([]string, 256)
	for i := range keys {
		_, keys[i] = e.create(b, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1e9, Burst: 1_000_000}})
		if r := e.verify(b, keys[i], "read"); !r.Valid() {
			b.Fatalf("Verify = %s", r.Code)
		}
	}
	scopes := []string{"read"}
	ctx := context.Background()
	var next atomic.Uint32
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(97)) // each goroutine starts elsewhere in the key list
		for pb.Next() {
			i++
			if r, _ := e.svc.Verify(ctx, keys[i%len(keys)], scopes); !r.Valid() {
				b.Errorf("Verify = %s", r.Code)
				return
			}
		}
	})
}
