package auth

import "fmt"

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
