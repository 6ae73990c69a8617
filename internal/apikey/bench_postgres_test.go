package apikey_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// BenchmarkVerifyColdPostgres reads the key from PostgreSQL on every call
// (cache disabled): the first verification of a key on a node of a cluster.
func BenchmarkVerifyColdPostgres(b *testing.B) {
	db := openPostgres(b)
	e := newEnv(b, func(c *apikey.Config) {
		c.Store, c.Audit = db, db
		c.Now = auth.SystemNow
		c.CacheTTL = -1
		c.NegativeCacheTTL = -1
	})
	_, key := e.create(b, apikey.CreateParams{Scopes: []string{"read"}})
	scopes := []string{"read"}
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if r, err := e.svc.Verify(ctx, key, scopes); err != nil || !r.Valid() {
			b.Fatalf("Verify = %s, %v", r.Code, err)
		}
	}
}

// openPostgres opens the store in a fresh schema of the test database.
func openPostgres(b *testing.B) *postgres.DB {
	b.Helper()
	dsn, _ := testenv.PostgresSchema(b)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}
