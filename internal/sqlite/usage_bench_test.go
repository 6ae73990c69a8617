package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storetest"
)

func BenchmarkAddUsage10000Cells(b *testing.B) {
	db, err := Open(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	storetest.BenchmarkAddUsage(b, db, 10000)
}
