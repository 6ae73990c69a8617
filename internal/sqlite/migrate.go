package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// migrations holds the schema, one numbered file per version. Files are
// never edited once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the embedded migrations to db up to version (all of them
// when version is 0). Each migration runs in its own transaction, so a
// failure leaves the database at the last version that fully applied.
func migrate(ctx context.Context, db *sql.DB, version int64) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// A provider of our own, without goose's global registry of Go
	// migrations, so nothing else in the process can change our schema.
	// goose has no locker for SQLite: one Gatehouse process owns a file, and
	// two processes migrating the same file at once may see one of them fail
	// (and succeed when restarted), never a half-applied version.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// p.Close would close db, which the caller still owns.
	if version == 0 {
		_, err = p.Up(ctx)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}
