package client_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// ownerStore is a client store that also lists audit events.
type ownerStore interface {
	auth.ClientStore
	ListAuditEvents(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEvent, int64, error)
}

// TestOwner runs on both backends: an owner is set on create, changed and
// cleared on update (client.updated names it among what changed), and a
// bad one is refused with nothing stored.
func TestOwner(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testOwner(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := testenv.PostgresSchema(t)
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		testOwner(t, db)
	})
}

func testOwner(t *testing.T, store ownerStore) {
	ctx := context.Background()
	e := newEnv(t)
	r := e.node(t, store)

	for name, owner := range map[string]string{
		"too long":          strings.Repeat("o", auth.MaxOwnerLength+1),
		"control character": "bill\ning",
		"invalid UTF-8":     "bill\xffing",
	} {
		if _, _, err := r.Create(ctx, "adm_1", client.Input{Name: "svc", Owner: owner}); auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("Create with owner %s: %v, want EINVALID", name, err)
		}
	}
	if list, _, err := r.List(ctx, auth.ClientFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("after refused creates: %d clients, %v; want none", len(list), err)
	}

	owner := strings.Repeat("ö", auth.MaxOwnerLength/2) // exactly the limit in bytes
	c, _, err := r.Create(ctx, "adm_1", client.Input{Name: "svc", Owner: owner})
	if err != nil || c.Owner != owner {
		t.Fatalf("Create: %+v %v", c, err)
	}
	if got, err := r.Get(ctx, c.ID); err != nil || got.Owner != owner {
		t.Fatalf("Get after create: %+v %v", got, err)
	}

	// Updates replace every setting: the owner changes, then is cleared.
	if _, err := r.Update(ctx, "adm_1", c.ID, client.Input{Name: "svc", Owner: "shipping"}); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(ctx, c.ID); err != nil || got.Owner != "shipping" {
		t.Fatalf("Get after update: %+v %v", got, err)
	}
	if _, err := r.Update(ctx, "adm_1", c.ID, client.Input{Name: "svc", Owner: "ship\x00"}); auth.ErrorCode(err) != auth.EINVALID {
		t.Errorf("Update with a bad owner: %v, want EINVALID", err)
	}
	if _, err := r.Update(ctx, "adm_1", c.ID, client.Input{Name: "svc2"}); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(ctx, c.ID); err != nil || got.Owner != "" || got.Name != "svc2" {
		t.Fatalf("Get after clearing: %+v %v", got, err)
	}

	events, _, err := store.ListAuditEvents(ctx, auth.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		switch ev.Type {
		case auth.EventClientCreated:
			got = append(got, "created owner="+ev.Details["owner"])
		case auth.EventClientUpdated:
			got = append(got, "updated owner="+ev.Details["owner"]+" changed="+ev.Details["changed"])
		}
	}
	want := []string{
		"created owner=" + owner,
		"updated owner=shipping changed=owner",
		"updated owner= changed=name,owner",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
