package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
	"github.com/gatehouse-dev/gatehouse/internal/factors/factorstest"
)

func mustFactors(t testing.TB, db factors.Store, users *account.Service, now auth.Now) *factors.Service {
	t.Helper()
	fs, err := factors.New(db, users, now)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// The user page lists the user's second factors (never a secret) with a
// remove button for each and one for all; removing ends the user's
// sessions and is audited with the admin as actor.
func TestUserFactorsSection(t *testing.T) {
	h := newHarness(t)
	admin := h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper)
	keys, session := factorstest.Seed(t, h.Store, dev.ID, h.Clock.Now())
	b := h.signIn("alice")

	page := b.get("/dashboard/users/" + dev.ID)
	for _, want := range []string{"Second factors", "3 recovery codes left", "YubiKey 1", keys[1], `name="passkey" value="` + keys[0] + `"`,
		`name="totp" value="yes"`, "Remove all second factors", `action="/dashboard/users/` + dev.ID + `/factors/reset"`} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("no %q on the user page:\n%s", want, page.body)
		}
	}
	if strings.Contains(page.body, "sealed-secret") {
		t.Fatal("the TOTP secret is shown")
	}

	p := b.post("/dashboard/users/"+dev.ID+"/factors/reset", url.Values{"passkey": {keys[0]}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove passkey: %d\n%s", p.StatusCode, p.body)
	}
	if _, err := h.Store.GetSession(context.Background(), session, h.Clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the user's session survives: %v", err)
	}
	page = b.get("/dashboard/users/" + dev.ID)
	if strings.Contains(page.body, keys[0]) || !strings.Contains(page.body, keys[1]) {
		t.Fatalf("after removing one passkey:\n%s", page.body)
	}
	// A passkey that is gone is refused next to the form.
	p = b.post("/dashboard/users/"+dev.ID+"/factors/reset", url.Values{"passkey": {keys[0]}})
	if p.StatusCode != http.StatusConflict || !strings.Contains(p.body, "no such passkey") {
		t.Fatalf("removing it again: %d\n%s", p.StatusCode, p.body)
	}
	p = b.post("/dashboard/users/"+dev.ID+"/factors/reset", url.Values{})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove all: %d\n%s", p.StatusCode, p.body)
	}
	page = b.get("/dashboard/users/" + dev.ID)
	if !strings.Contains(page.body, "No authenticator app and no passkey.") {
		t.Fatalf("after removing all:\n%s", page.body)
	}
	evs, _, _ := h.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventUserFactorsReset, Limit: 10})
	if len(evs) != 2 || evs[0].Actor != admin.ID || evs[0].Target() != dev.ID {
		t.Fatalf("audit %+v", evs)
	}
	// A developer cannot.
	db := h.signIn("dev")
	if p := db.post("/dashboard/users/"+dev.ID+"/factors/reset", url.Values{}); p.StatusCode == http.StatusSeeOther {
		t.Fatal("a developer removed factors")
	}
}
