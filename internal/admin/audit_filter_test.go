package admin

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
)

func TestTheAuditLogFiltersByActorTargetAndTime(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	early, _ := env.createKey(t, apikey.CreateParams{Owner: "billing", Name: "early", Actor: "usr_alice"})
	env.clock.Add(time.Hour)
	late, _ := env.createKey(t, apikey.CreateParams{Owner: "billing", Name: "late", Actor: "usr_bob"})
	if _, err := env.keys.Revoke(ctx, early.ID, "usr_bob"); err != nil {
		t.Fatal(err)
	}
	ids := func(p AuditEventsParams) []string {
		t.Helper()
		page, err := env.client.ListAuditEvents(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range page.Items {
			out = append(out, e.Type+" "+e.KeyID+" by "+e.Actor)
		}
		return out
	}
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", name, got, want)
			}
		}
	}
	check("by actor", ids(AuditEventsParams{Actor: "usr_bob"}),
		"key.created "+late.ID+" by usr_bob", "key.revoked "+early.ID+" by usr_bob")
	check("by target", ids(AuditEventsParams{Target: early.ID}),
		"key.created "+early.ID+" by usr_alice", "key.revoked "+early.ID+" by usr_bob")
	check("until", ids(AuditEventsParams{Actor: "usr_alice", Until: testStart.Add(time.Minute)}),
		"key.created "+early.ID+" by usr_alice")
	check("since", ids(AuditEventsParams{Target: early.ID, Since: testStart.Add(time.Minute)}),
		"key.revoked "+early.ID+" by usr_bob")

	for _, q := range []string{"since=yesterday", "until=2030-13-01T00:00:00Z", "actor=a&bogus=1"} {
		resp, _ := env.do(t, http.MethodGet, "/admin/v1/audit-events?"+q, "", nil, env.adminHeader())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
}
