package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// mainPackage is the gatehouse program.
const mainPackage = "github.com/gatehouse-dev/gatehouse/cmd/gatehouse"

// Build compiles the gatehouse program into dir and returns its path. It
// runs `go build` (without -race: the cluster measures the real program)
// from the current folder, which must be inside Gatehouse's module, as it
// is for its tests and for `go run ./bench/cluster`.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, mainPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testcluster: go build %s: %w\n%s", mainPackage, err, out)
	}
	return bin, nil
}

// CreateSchema creates a schema with a random name in the database dsn (a
// postgres:// URL) and returns a DSN whose search_path selects it, and a
// function that drops it. Tests use testenv.PostgresSchema instead, which
// drops it when the test ends.
func CreateSchema(ctx context.Context, dsn string) (string, func(context.Context) error, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("testcluster: %q is not a postgres:// URL", dsn)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("testcluster: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	b := make([]byte, 8)
	rand.Read(b)
	schema := pgx.Identifier{"gatehouse_cluster_" + hex.EncodeToString(b)}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("testcluster: create schema: %w", err)
	}
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return fmt.Errorf("testcluster: drop schema: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("testcluster: drop schema: %w", err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", "gatehouse_cluster_"+hex.EncodeToString(b))
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
