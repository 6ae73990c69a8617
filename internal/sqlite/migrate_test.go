package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// wantEachVersionAppliedOnce fails unless goose recorded every version,
// from 0 to the newest, exactly once in the database at path: a version
// applied twice (by two processes racing) would be recorded twice, or
// would have failed.
func wantEachVersionAppliedOnce(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT version_id, count(*) FROM goose_db_version GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var next int64
	for rows.Next() {
		var version, n int64
		if err := rows.Scan(&version, &n); err != nil {
			t.Fatal(err)
		}
		// Versions may skip numbers (reserved for work merged later), but
		// each is recorded once, in order.
		if version < next || n != 1 {
			t.Errorf("version %d recorded %d times (expected a version from %d on, once)", version, n, next)
		}
		next = version + 1
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if newest := latestMigration(t); next != newest+1 {
		t.Errorf("versions recorded up to %d, want up to %d", next-1, newest)
	}
}

func TestConcurrentOpensOfANewFileApplyEachVersionOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	const n = 8
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			db, err := Open(t.Context(), path)
			if err == nil {
				err = db.Close()
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
	wantEachVersionAppliedOnce(t, path)
}

// openerEnv, when set, makes the test binary a process that opens the
// database it names and exits: 0 once opened, 1 on an error.
const openerEnv = "GATEHOUSE_TEST_SQLITE_OPEN"

func TestConcurrentProcessesOpeningANewFileApplyEachVersionOnce(t *testing.T) {
	if path := os.Getenv(openerEnv); path != "" {
		db, err := Open(context.Background(), path)
		if err == nil {
			err = db.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i := range cmds {
		cmds[i] = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestConcurrentProcessesOpeningANewFileApplyEachVersionOnce$")
		cmds[i].Env = append(os.Environ(), openerEnv+"="+path)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for i, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatalf("start process %d: %v", i, err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	wantEachVersionAppliedOnce(t, path)
}

func TestOpenWaitsWhileAnotherHoldsTheMigrationLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	unlock, err := lockMigrations(t.Context(), path+migrateLockSuffix)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if db, err := Open(ctx, path); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open while the lock is held = %v, want it to wait until its context ends", err)
	}
	unlock()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open once the lock is released: %v", err)
	}
	db.Close()
	wantEachVersionAppliedOnce(t, path)
}

func TestOpenRefusesASchemaNewerThanItKnows(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	newest := latestMigration(t)
	// What a later Gatehouse leaves behind: a version this one has no
	// file for.
	if _, err := db.write.ExecContext(t.Context(),
		`INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, 1)`, newest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, err = Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a schema newer than this build knows")
	}
	var tooNew *auth.SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Database != newest+1 || tooNew.Known != newest {
		t.Fatalf("Open = %v, want a SchemaTooNewError at %d, knowing %d", err, newest+1, newest)
	}
	for _, v := range []int64{newest + 1, newest} {
		if !strings.Contains(err.Error(), strconv.FormatInt(v, 10)) {
			t.Errorf("the message does not name version %d: %v", v, err)
		}
	}
}
