// Package testenv is what Gatehouse's tests share: a clock they move by
// hand, a log buffer safe for concurrent writers, and a fresh schema of the
// real PostgreSQL test database. Only _test.go files import it.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Clock is a clock the test moves by hand; its Now method is an auth.Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// SyncBuffer collects log output written from many goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// DefaultPostgresDSN is the test database on the development and CI machines.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN is the test database: GATEHOUSE_TEST_POSTGRES_DSN, or the default.
func PostgresDSN() string {
	if dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return DefaultPostgresDSN
}

// WithParams returns dsn with the given run-time parameters added, in
// either of the two forms pgx accepts.
func WithParams(t testing.TB, dsn string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("GATEHOUSE_TEST_POSTGRES_DSN is not a valid URL: %v", err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// PostgresSchema creates a schema with a random name for this test, drops it
// when the test ends, and returns a DSN whose search_path selects it. If
// PostgreSQL cannot be reached the test is skipped — unless
// GATEHOUSE_REQUIRE_POSTGRES=1 (as in CI), where it fails: there these tests
// must run.
func PostgresSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, WithParams(t, PostgresDSN(), map[string]string{"connect_timeout": "5"}))
	if err != nil {
		msg := "PostgreSQL is not reachable (set GATEHOUSE_TEST_POSTGRES_DSN, default " + DefaultPostgresDSN + "): " + err.Error()
		if os.Getenv("GATEHOUSE_REQUIRE_POSTGRES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer admin.Close(context.WithoutCancel(ctx))

	b := make([]byte, 8)
	rand.Read(b)
	schema = "gatehouse_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, PostgresDSN())
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithParams(t, PostgresDSN(), map[string]string{"search_path": schema}), schema
}

// DefaultRedisURL is the test Redis on the development and CI machines:
// database 15, which nothing but the tests uses.
const DefaultRedisURL = "redis://127.0.0.1:6379/15"

// RedisURL is the test Redis: GATEHOUSE_TEST_REDIS_URL, or the default.
func RedisURL() string {
	if u := os.Getenv("GATEHOUSE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// RedisUnreachable ends a test that could not reach the test Redis (err
// says why): it is skipped — unless GATEHOUSE_REQUIRE_REDIS=1 (as in CI),
// where it fails: there these tests must run. testenv takes the error
// rather than connecting itself, so that it does not depend on a Redis
// client.
func RedisUnreachable(t testing.TB, err error) {
	t.Helper()
	msg := "Redis is not reachable (set GATEHOUSE_TEST_REDIS_URL, default " + DefaultRedisURL + "): " + err.Error()
	if os.Getenv("GATEHOUSE_REQUIRE_REDIS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
