package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storetest"
)

// BenchmarkKeyLists fills one file with storetest.BenchKeys keys, in one
// transaction, and times the dashboard's key lists on it.
func BenchmarkKeyLists(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.inTx(ctx, "fill", func(tx *sql.Tx) error {
		for i := range storetest.BenchKeys {
			if err := insertKey(ctx, tx, storetest.BenchKey(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	storetest.BenchmarkKeyLists(b, db)
}
