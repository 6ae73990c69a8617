package apikey_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// countedBenchEnv is benchEnv with usage counting on, and a route, as the
// gateway verifies: compare with BenchmarkVerifyWarm in the same run.
func countedBenchEnv(b *testing.B) (*apikey.Service, string) {
	e := newEnv(b, func(c *apikey.Config) {
		c.Now = auth.SystemNow
		c.Usage = usage.NewCounter()
	})
	_, key := e.create(b, apikey.CreateParams{Scopes: []string{"read"}, RateLimit: auth.RateLimit{Rate: 1e9, Burst: 1_000_000}})
	if r := e.verify(b, key, "read"); !r.Valid() {
		b.Fatalf("Verify = %s", r.Code)
	}
	return e.svc, key
}

// BenchmarkVerifyWarmCounted is BenchmarkVerifyWarm with every
// verification counted in a usage.Counter (no flusher: Take runs every
// flush_interval, off the request path).
func BenchmarkVerifyWarmCounted(b *testing.B) {
	svc, key := countedBenchEnv(b)
	req := apikey.Request{Key: key, Scopes: []string{"read"}, Route: "orders"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, _ := svc.Check(ctx, req); !r.Valid() {
			b.Fatalf("Check = %s", r.Code)
		}
	}
}

// BenchmarkVerifyWarmCountedParallel is the same with every core
// verifying, the case the counter's shards are for.
func BenchmarkVerifyWarmCountedParallel(b *testing.B) {
	svc, key := countedBenchEnv(b)
	req := apikey.Request{Key: key, Scopes: []string{"read"}, Route: "orders"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, _ := svc.Check(ctx, req); !r.Valid() {
				b.Errorf("Check = %s", r.Code)
				return
			}
		}
	})
}
