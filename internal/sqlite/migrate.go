package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/filelock"
)

// migrations holds the schema, one numbered file per version. Files are
// never edited once released: a change is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockSuffix names the lock file beside the database that
// processes opening it take turns on while they migrate.
const migrateLockSuffix = ".migrate-lock"

// migrateLockTimeout is how long Open waits for another process to finish
// migrating the same file: as long as PostgreSQL's advisory lock waits.
const migrateLockTimeout = 5 * time.Minute

// migrateLockPoll is how often a waiting Open tries the lock again.
const migrateLockPoll = 20 * time.Millisecond

// migrate applies the embedded migrations to db, the database at path, up
// to version (all of them when version is 0). Each migration runs in its
// own transaction, so a failure leaves the database at the last version
// that fully applied. Processes opening the file at once take turns
// through a lock file beside it, so exactly one applies each version and
// the others find it done. A database whose schema is newer than the
// newest migration here is refused with a *auth.SchemaTooNewError.
func migrate(ctx context.Context, db *sql.DB, path string, version int64) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// A provider of our own, without goose's global registry of Go
	// migrations, so nothing else in the process can change our schema.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// p.Close would close db, which the caller still owns.
	unlock, err := lockMigrations(ctx, path+migrateLockSuffix)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer unlock()
	if version == 0 {
		_, err = p.Up(ctx)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// Read after Up, under the lock: a schema already newer than ours had
	// every version we know applied, so Up changed nothing.
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: read the schema version: %w", err)
	}
	sources := p.ListSources()
	if err := auth.CheckSchemaVersion(current, sources[len(sources)-1].Version); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// lockMigrations waits, within ctx and migrateLockTimeout, for the
// exclusive lock on the file at path (created, owner-only, if missing), and
// returns the function that releases it. The file stays: removing it
// would let two processes lock two different files of one name.
func lockMigrations(ctx context.Context, path string) (unlock func(), err error) {
	waitCtx, cancel := context.WithTimeout(ctx, migrateLockTimeout)
	defer cancel()
	l, err := filelock.WaitExclusive(waitCtx, path, migrateLockPoll)
	// The caller's own deadline or cancellation is not the holder's fault.
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("another process has held the migration lock %s too long (waited up to %s): %w",
			path, migrateLockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("take the migration lock: %w", err)
	}
	return func() { l.Close() }, nil
}
