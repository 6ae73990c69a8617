package auth

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// SchemaTooNewError is why a node refuses to start: the store's schema is
// at a version this build has no migration for, so a newer Gatehouse has
// migrated it, and this one would read and write tables it does not know.
// Both backends return it from Open.
type SchemaTooNewError struct {
	Database int64 // the store's schema version
	Known    int64 // the highest version this build's migrations reach
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("the database schema is at version %d, newer than version %d, the newest this gatehouse knows: "+
		"a newer gatehouse has migrated it; run that version or a later one "+
		"(going back needs a backup taken before the upgrade)", e.Database, e.Known)
}

// CheckSchemaVersion returns a *SchemaTooNewError when the store's schema
// version (database) is above the newest this build knows (known).
func CheckSchemaVersion(database, known int64) error {
	if database > known {
		return &SchemaTooNewError{Database: database, Known: known}
	}
	return nil
}

// LatestSchemaVersion is the newest version among a backend's migration
// files in dir of migrations, named as goose numbers them
// (00014_nodes.sql): the version CheckSchemaVersion calls known.
func LatestSchemaVersion(migrations fs.FS, dir string) (int64, error) {
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var latest int64
	for _, e := range entries {
		number, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(number, 10, 64)
		if err != nil || v <= 0 {
			return 0, fmt.Errorf("migration %s has no version number before an underscore", e.Name())
		}
		latest = max(latest, v)
	}
	if latest == 0 {
		return 0, fmt.Errorf("no migrations in %s", dir)
	}
	return latest, nil
}
