package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// ErrNoSchema says the schema a DSN names holds no Gatehouse tables.
var ErrNoSchema = errors.New("no Gatehouse schema")

// LatestVersion is the schema version this binary's migrations reach.
func LatestVersion() (int64, error) {
	latest, err := auth.LatestSchemaVersion(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return latest, nil
}

// SchemaVersion reports the version of the Gatehouse schema in the first
// schema of dsn's search_path, without migrating anything (a check after
// pg_restore must see the database as restored). ErrNoSchema if goose's
// table is not there. Errors never include the DSN.
func SchemaVersion(ctx context.Context, dsn string) (int64, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, errors.New("postgres: schema version: the DSN cannot be parsed")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema *string
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT current_schema(),
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'goose_db_version')`).Scan(&schema, &exists); err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	if schema == nil {
		return 0, fmt.Errorf("postgres: schema version: %w: no schema in the search_path exists", ErrNoSchema)
	}
	if !exists {
		return 0, fmt.Errorf("postgres: schema version: %w in schema %q (no goose_db_version table)", ErrNoSchema, *schema)
	}
	var version int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil {
		return 0, fmt.Errorf("postgres: schema version: %w", err)
	}
	return version, nil
}
