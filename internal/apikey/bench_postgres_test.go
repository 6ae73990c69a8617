package apikey_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
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

// openPostgres opens the store in a fresh schema of the test database, or
// skips when PostgreSQL is absent (never in CI: GATEHOUSE_REQUIRE_POSTGRES=1).
func openPostgres(b *testing.B) *postgres.DB {
	b.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("GATEHOUSE_REQUIRE_POSTGRES") == "1" {
			b.Fatalf("PostgreSQL is required but unreachable: %v", err)
		}
		b.Skipf("PostgreSQL unreachable: %v", err)
	}
	r := make([]byte, 6)
	rand.Read(r)
	schema := "gh_bench_" + hex.EncodeToString(r)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := postgres.Open(ctx, dsn+sep+"search_path="+schema)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}
