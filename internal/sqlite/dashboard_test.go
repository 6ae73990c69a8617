package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/storetest"
)

// TestMigrateBackfillsAuditTargets: the events stored before version 13
// get the target AuditEvent.Target gives them, so filtering by target
// finds them as it finds the events appended after; and the dashboard's
// session table is there.
func TestMigrateBackfillsAuditTargets(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	old, err := open(ctx, path, 12)
	if err != nil {
		t.Fatalf("open at version 12: %v", err)
	}
	for _, e := range storetest.EventsOfEveryTarget() {
		details, err := mapJSON(e.Details)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.write.ExecContext(ctx, `INSERT INTO audit_events (occurred_at, type, actor, key_id, reason, count, details)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, timeValue(e.Time), e.Type, e.Actor, e.KeyID, e.Reason, e.Count, details); err != nil {
			t.Fatalf("insert at version 12: %v", err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrating up): %v", err)
	}
	defer db.Close()
	storetest.WantTargets(t, db)
	s := &auth.DashboardSession{Hash: make([]byte, 32), UserID: "usr_1", ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.CreateDashboardSession(ctx, s); err != nil {
		t.Fatalf("CreateDashboardSession after migrating: %v", err)
	}
}
