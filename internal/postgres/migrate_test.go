package postgres

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestConcurrentOpensOfAFreshSchemaApplyEachVersionOnce starts several
// nodes' Opens at once on one empty schema: the advisory lock lets one
// migrate while the others wait, so every Open succeeds and goose records
// each version once (two nodes applying one version would record it twice,
// or fail on the tables the other created).
func TestConcurrentOpensOfAFreshSchemaApplyEachVersionOnce(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	const n = 6
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			db, err := Open(t.Context(), dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}

	db := openDSN(t, dsn)
	rows, err := db.pool.Query(t.Context(), `SELECT version_id, count(*) FROM goose_db_version GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var next int64
	for rows.Next() {
		var version, count int64
		if err := rows.Scan(&version, &count); err != nil {
			t.Fatal(err)
		}
		// Versions may skip numbers (reserved for work merged later), but
		// each is recorded once, in order.
		if version < next || count != 1 {
			t.Errorf("version %d recorded %d times (expected a version from %d on, once)", version, count, next)
		}
		next = version + 1
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if latest := latestMigration(t); next != latest+1 {
		t.Errorf("versions recorded up to %d, want up to %d", next-1, latest)
	}
}

func TestOpenRefusesASchemaNewerThanItKnows(t *testing.T) {
	t.Parallel()
	dsn, _ := testenv.PostgresSchema(t)
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	latest := latestMigration(t)
	// What a later Gatehouse leaves behind: a version this one has no
	// file for.
	if _, err := db.pool.Exec(t.Context(),
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, latest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(t.Context(), dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a schema newer than this build knows")
	}
	var tooNew *auth.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != latest+1 || tooNew.Known != latest {
		t.Fatalf("Open = %v, want a SchemaTooNewError at %d, knowing %d", err, latest+1, latest)
	}
	for _, v := range []int64{latest + 1, latest} {
		if !strings.Contains(err.Error(), strconv.FormatInt(v, 10)) {
			t.Errorf("the message does not name version %d: %v", v, err)
		}
	}
}
