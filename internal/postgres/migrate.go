package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// migrations holds the schema, one numbered file per version. Files are
// never edited once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the embedded migrations to the current schema of db, up
// to version (all of them when version is 0). Each migration runs in its own
// transaction. Nodes starting together take turns through an advisory lock
// per schema, so exactly one of them applies each version. A schema newer
// than the newest migration here is refused with a *auth.SchemaTooNewError.
func migrate(ctx context.Context, db *sql.DB, version int64) error {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if !schema.Valid {
		return errors.New("postgres: migrate: no schema in the search_path exists")
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// The lock is per schema so that installations sharing a database (and
	// tests running in parallel) do not wait for each other. Checked every
	// second, for at most five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID(schema.String)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// A provider of our own, without goose's global registry of Go
	// migrations, so nothing else in the process can change our schema.
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// p.Close would close db, which the caller owns.
	if version == 0 {
		_, err = p.Up(ctx)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	// Read after Up: a schema already newer than ours had every version we
	// know applied, so Up changed nothing. (Up released the lock; a newer
	// node migrating in between is refused all the same.)
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: read the schema version: %w", err)
	}
	sources := p.ListSources()
	if err := auth.CheckSchemaVersion(current, sources[len(sources)-1].Version); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// migrationLockID derives the advisory lock key for migrating schema.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse migrations\x00" + schema)) // never fails
	return int64(h.Sum64())
}
