package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestAKeysPageShowsItsNewestEventsAndLinksAdminsToTheRest(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	h.user("dave", auth.RoleDeveloper, "billing")
	k, _ := h.newKey("billing", "Invoices")
	ctx := context.Background()
	// More updates than the page shows, so an oldest-first trail would end
	// before the revocation.
	updates := make([]auth.AuditEvent, 60)
	for i := range updates {
		updates[i] = auth.AuditEvent{Time: h.Clock.Now(), Type: auth.EventKeyUpdated, Actor: alice.ID, KeyID: k.ID, Count: 1}
	}
	if err := h.Store.AppendAuditEvents(ctx, updates...); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Keys.Revoke(ctx, k.ID, alice.ID); err != nil {
		t.Fatal(err)
	}

	p := h.signIn("alice").get("/dashboard/keys/" + k.ID)
	if p.StatusCode != http.StatusOK {
		t.Fatalf("key page: %d", p.StatusCode)
	}
	if !strings.Contains(p.body, auth.EventKeyRevoked) {
		t.Error("the trail of a key with 60 updates does not show its revocation")
	}
	if strings.Contains(p.body, auth.EventKeyCreated) {
		t.Error("the trail shows the oldest event (key.created) instead of the newest ones")
	}
	if !strings.Contains(p.body, "These are the newest 50 events.") || !strings.Contains(p.body, `href="/dashboard/audit?target=`+k.ID+`"`) {
		t.Errorf("an admin is not told of and linked to the rest of the trail:\n%s", p.body)
	}
	if i, j := strings.Index(p.body, auth.EventKeyRevoked), strings.Index(p.body, auth.EventKeyUpdated); i > j {
		t.Error("the trail is not newest first")
	}

	// The audit log is admin-only: a developer is never linked to a 403.
	p = h.signIn("dave").get("/dashboard/keys/" + k.ID)
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, auth.EventKeyRevoked) {
		t.Fatalf("developer's key page: %d without the revocation", p.StatusCode)
	}
	if strings.Contains(p.body, "/dashboard/audit") {
		t.Errorf("a developer's key page links to the admin-only audit log:\n%s", p.body)
	}
}
