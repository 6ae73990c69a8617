package dashboard

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// overviewKey creates a key through the service, as the admin API does.
func overviewKey(t *testing.T, h *harness, p apikey.CreateParams) (*auth.APIKey, string) {
	t.Helper()
	if p.Actor == "" {
		p.Actor = auth.ActorSystem
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{"orders:read"}
	}
	k, plaintext, err := h.Keys.Create(context.Background(), p)
	if err != nil {
		t.Fatalf("create key %q: %v", p.Name, err)
	}
	return k, plaintext
}

// verifyTimes verifies a key n times (for scopes, which may refuse) and
// writes the counts to the store.
func verifyTimes(t *testing.T, h *harness, key string, scopes []string, n int) {
	t.Helper()
	for range n {
		if _, err := h.Keys.Verify(context.Background(), key, scopes); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	flushUsage(t, h)
}

func flushUsage(t *testing.T, h *harness) {
	t.Helper()
	f := usage.Flusher{Counter: h.Usage, Store: h.Store}
	if err := f.Flush(context.Background()); err != nil {
		t.Fatalf("flush usage: %v", err)
	}
}

// tableRow returns the text of the first table row of body holding all
// of the cells' texts, or "".
func tableRow(body string, cells ...string) string {
	for _, row := range strings.Split(body, "<tr>") {
		row, _, _ = strings.Cut(row, "</tr>")
		all := true
		for _, c := range cells {
			all = all && strings.Contains(row, c)
		}
		if all {
			return row
		}
	}
	return ""
}

func TestTheOverviewShowsTrafficRotationAndSecurityEventsToAnAdmin(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	ctx := context.Background()
	busy, busyKey := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-busy"})
	_, quietKey := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-quiet"})
	due, _ := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-due", RotationPeriod: time.Hour})
	revoked, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-revoked"})
	verifyTimes(t, h, busyKey, []string{"orders:read"}, 3)
	verifyTimes(t, h, busyKey, []string{"orders:write"}, 2) // refused: insufficient scope
	verifyTimes(t, h, quietKey, nil, 1)
	if _, err := h.Keys.Revoke(ctx, revoked.ID, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}
	h.Clock.Add(2 * time.Hour) // the rotation of billing-due falls due

	b := h.signIn("alice")
	p := b.get("/dashboard/")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d\n%s", p.StatusCode, p.body)
	}
	for _, want := range []string{"Verifications by outcome", `id="tokens-title"`, "Top keys by traffic", "Keys due for rotation", "Recent security events"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	// The legend totals every key's verifications by outcome.
	if !strings.Contains(p.body, "VALID: 4") || !strings.Contains(p.body, "INSUFFICIENT_SCOPE: 2") {
		t.Errorf("verifications legend lacks VALID: 4 and INSUFFICIENT_SCOPE: 2:\n%s", p.body)
	}
	// Top keys: the busiest first, with its refusals.
	busyRow := tableRow(p.body, "/dashboard/keys/"+busy.ID, "billing-busy")
	if !strings.Contains(busyRow, "<td>5</td><td>2</td>") {
		t.Errorf("top keys row of billing-busy = %q, want 5 requests, 2 refused", busyRow)
	}
	if strings.Index(p.body, "billing-busy") > strings.Index(p.body, "shipping-quiet") {
		t.Error("the busier key is not listed first")
	}
	dueAt := strings.Index(p.body, `id="due-title"`)
	if dueAt < 0 || !strings.Contains(p.body[dueAt:], "/dashboard/keys/"+due.ID) {
		t.Error("the key due for rotation is not listed")
	}
	if row := tableRow(p.body, auth.EventKeyRevoked, revoked.ID); row == "" {
		t.Error("the revocation is not among the security events")
	}
}

func TestTheOverviewShowsADeveloperOnlyTheirOwners(t *testing.T) {
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper, "billing")
	ctx := context.Background()
	_, mine := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-key"})
	_, theirs := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-key"})
	theirsDue, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-due", RotationPeriod: time.Hour})
	theirsRevoked, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-revoked"})
	minesRevoked, _ := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-revoked"})
	verifyTimes(t, h, mine, nil, 2)
	verifyTimes(t, h, theirs, nil, 7)
	for _, id := range []string{theirsRevoked.ID, minesRevoked.ID} {
		if _, err := h.Keys.Revoke(ctx, id, auth.ActorSystem); err != nil {
			t.Fatal(err)
		}
	}
	h.Clock.Add(2 * time.Hour)

	p := h.signIn("dev").get("/dashboard/")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", p.StatusCode)
	}
	if !strings.Contains(p.body, "VALID: 2") || strings.Contains(p.body, "VALID: 9") || strings.Contains(p.body, "VALID: 7") {
		t.Error("the developer's chart does not count exactly their owners' verifications")
	}
	for _, hidden := range []string{"shipping-key", "shipping-due", theirsDue.ID, theirsRevoked.ID} {
		if strings.Contains(p.body, hidden) {
			t.Errorf("the developer sees %q of another owner", hidden)
		}
	}
	if !strings.Contains(p.body, "billing-key") || !strings.Contains(p.body, minesRevoked.ID) {
		t.Error("the developer does not see their own key's traffic and revocation")
	}
	if strings.Contains(p.body, `href="/dashboard/audit"`) {
		t.Error("the overview links a developer to the audit log")
	}
}

func TestADeveloperWithoutOwnersIsToldWhyTheOverviewIsEmpty(t *testing.T) {
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper)
	_, key := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-key"})
	verifyTimes(t, h, key, nil, 1)
	p := h.signIn("dev").get("/dashboard/")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "no owners yet") {
		t.Fatalf("overview: %d, want the no-owners notice", p.StatusCode)
	}
	if strings.Contains(p.body, "billing-key") || strings.Contains(p.body, "VALID") {
		t.Error("a developer without owners sees every owner's data (an empty owner list means all to the store)")
	}
}

func TestTheOverviewChartsGatewayRoutesAndClients(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	ctx := context.Background()
	if _, err := h.Routes.Create(ctx, auth.Route{Name: "orders", PathPrefix: "/orders", Upstreams: []string{"http://127.0.0.1:1"}, Policy: auth.PolicyAPIKey}, auth.ActorSystem); err != nil {
		t.Fatalf("create route: %v", err)
	}
	k, key := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "gw-key"})
	for range 4 {
		if _, err := h.Keys.Check(ctx, apikey.Request{Key: key, Route: "orders"}); err != nil {
			t.Fatal(err)
		}
	}
	h.Usage.Count(usage.Event{ClientID: "cli_nobody", Outcome: "VALID"}, h.Clock.Now()) // a client that is not listed is not charted
	flushUsage(t, h)
	p := h.signIn("alice").get("/dashboard/")
	row := tableRow(p.body, "<th scope=\"row\">orders</th>")
	if !strings.Contains(row, "<td>4</td>") || !strings.Contains(row, "VALID") {
		t.Errorf("gateway row of route orders = %q, want 4 VALID", row)
	}
	if !strings.Contains(p.body, "orders: 4") {
		t.Error("the gateway chart's legend lacks orders: 4")
	}
	if !strings.Contains(p.body, "/dashboard/keys/"+k.ID) {
		t.Error("the key used at the gateway is not among the top keys")
	}
	if strings.Contains(p.body, "cli_nobody") {
		t.Error("an unknown client is charted")
	}
}

func TestTheOverviewRendersUserTextInert(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	ctx := context.Background()
	payloads := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}
	for i, x := range payloads {
		_, key := overviewKey(t, h, apikey.CreateParams{Owner: x, Name: x, Metadata: map[string]string{"note": x}, RotationPeriod: time.Hour})
		verifyTimes(t, h, key, nil, i+1)
		if _, err := h.Routes.Create(ctx, auth.Route{Name: "route-" + string(rune('a'+i)), PathPrefix: "/r" + string(rune('a'+i)), Upstreams: []string{"http://127.0.0.1:1"}, Policy: auth.PolicyAPIKey}, auth.ActorSystem); err != nil {
			t.Fatal(err)
		}
	}
	h.Clock.Add(2 * time.Hour)
	p := h.signIn("alice").get("/dashboard/")
	for _, x := range payloads {
		if strings.Contains(p.body, x) {
			t.Errorf("payload %q is in the page unescaped", x)
		}
		if !strings.Contains(p.body, html.EscapeString(x)) {
			t.Errorf("payload %q is not shown (escaped) at all", x)
		}
	}
}

// TestTheOverviewFindsTheNewestSecurityEventsBeneathThousands stores more
// failures than the overview would read oldest first, so only a
// newest-first read finds the latest failure and revocation.
func TestTheOverviewFindsTheNewestSecurityEventsBeneathThousands(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	h.user("dev", auth.RoleDeveloper, "billing")
	ctx := context.Background()
	theirs, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-key"})
	mine, _ := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-key"})
	revoked, _ := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-revoked"})
	old := make([]auth.AuditEvent, 2100)
	for i := range old {
		old[i] = auth.AuditEvent{Time: h.Clock.Now(), Type: auth.EventKeyVerificationFailed, Actor: auth.ActorSystem, KeyID: theirs.ID, Reason: "EXPIRED", Count: 1}
	}
	if err := h.Store.AppendAuditEvents(ctx, old...); err != nil {
		t.Fatal(err)
	}
	h.Clock.Add(time.Minute)
	newest := auth.AuditEvent{Time: h.Clock.Now(), Type: auth.EventKeyVerificationFailed, Actor: auth.ActorSystem, KeyID: mine.ID, Reason: "INSUFFICIENT_SCOPE", Count: 1}
	if err := h.Store.AppendAuditEvents(ctx, newest); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Keys.Revoke(ctx, revoked.ID, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}

	for _, who := range []string{"alice", "dev"} {
		p := h.signIn(who).get("/dashboard/")
		if p.StatusCode != http.StatusOK {
			t.Fatalf("%s: overview: %d", who, p.StatusCode)
		}
		if tableRow(p.body, auth.EventKeyVerificationFailed, mine.ID, "INSUFFICIENT_SCOPE") == "" {
			t.Errorf("%s: the newest failure, after 2,100 older ones, is not listed", who)
		}
		if tableRow(p.body, auth.EventKeyRevoked, revoked.ID) == "" {
			t.Errorf("%s: the newest revocation is not listed", who)
		}
		if n := strings.Count(p.body, ">"+auth.EventKeyVerificationFailed+"<"); who == "alice" && n != eventsShown-1 {
			t.Errorf("%s: %d failures listed, want %d beside the revocation", who, n, eventsShown-1)
		}
		if who == "dev" && strings.Contains(p.body, theirs.ID) {
			t.Error("the developer sees another owner's failures")
		}
	}
}
