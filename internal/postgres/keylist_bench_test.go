package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// BenchmarkKeyLists fills one schema with storetest.BenchKeys keys, in one
// transaction, and times the dashboard's key lists on it.
func BenchmarkKeyLists(b *testing.B) {
	ctx := b.Context()
	dsn, _ := testenv.PostgresSchema(b)
	db, err := Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.inTx(ctx, "fill", func(tx pgx.Tx) error {
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
	if _, err := db.pool.Exec(ctx, `ANALYZE api_keys`); err != nil {
		b.Fatal(err)
	}
	storetest.BenchmarkKeyLists(b, db)
}
