package postgres

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestMigrateGivesExistingClientsNoOwner: a client stored before version
// 12 reads back with no owner, and can be given one.
func TestMigrateGivesExistingClientsNoOwner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn, _ := testenv.PostgresSchema(t)
	old, err := open(ctx, dsn, 10)
	if err != nil {
		t.Fatalf("open at version 10: %v", err)
	}
	if _, err := old.pool.Exec(ctx, `INSERT INTO oauth_clients (id, name, public, auth_method, redirect_uris,
		post_logout_redirect_uris, grant_types, scopes, audiences, access_token_ttl_ns, refresh_token_ttl_ns,
		refresh_token_max_ttl_ns) VALUES ('cli_old', 'old', true, 'none', '{}', '{}', '{}', '{}', '{}', 0, 0, 0)`); err != nil {
		t.Fatalf("insert at version 10: %v", err)
	}
	old.Close()

	db := openDSN(t, dsn)
	c, err := db.GetClient(ctx, "cli_old")
	if err != nil || c.Owner != "" || c.Name != "old" {
		t.Fatalf("GetClient after migrating = %+v, %v; want no owner", c, err)
	}
	prev := c.UpdatedAt
	c.Owner = "billing"
	if err := db.UpdateClient(ctx, c, prev); err != nil {
		t.Fatalf("UpdateClient: %v", err)
	}
	if c, err := db.GetClient(ctx, "cli_old"); err != nil || c.Owner != "billing" {
		t.Fatalf("GetClient after setting the owner = %+v, %v", c, err)
	}
}
