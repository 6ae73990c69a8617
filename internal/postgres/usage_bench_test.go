package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func BenchmarkAddUsage10000Cells(b *testing.B) {
	dsn, _ := testenv.PostgresSchema(b)
	db, err := Open(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	storetest.BenchmarkAddUsage(b, db, 10000)
}
