package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The attack a review found: a developer gave a key of their own owner the
// admin API's scope (and any other), or made an OAuth client whose
// client-credentials tokens carried any scope and audience.
func TestADeveloperGrantsOnlyWhatDevelopersMay(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.DeveloperScopes = []string{"orders:read"}
		c.DeveloperAudiences = []string{"https://orders.example"}
	})
	h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	ctx := context.Background()

	for _, scopes := range []string{"admin", "orders:read payments:write"} {
		p := b.post("/dashboard/keys", url.Values{"owner": {"billing"}, "name": {"self-granted"}, "scopes": {scopes}})
		if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "Scopes you cannot grant") {
			t.Errorf("key with %q: %d, want 400 naming the scopes\n%s", scopes, p.StatusCode, p.body)
		}
	}
	if keys, _, _ := h.Keys.List(ctx, auth.APIKeyFilter{Owner: "billing"}); len(keys) != 0 {
		t.Fatalf("refused forms created %d keys", len(keys))
	}
	if p := b.post("/dashboard/keys", url.Values{"owner": {"billing"}, "name": {"ok"}, "scopes": {"orders:read"}}); p.StatusCode != http.StatusCreated {
		t.Fatalf("key with a scope developers may grant: %d", p.StatusCode)
	}

	// An admin's key of the developer's owner keeps its scopes through the
	// developer's edits, but gains none.
	k, _, err := h.Keys.Create(ctx, apikey.CreateParams{Owner: "billing", Name: "by admin", Scopes: []string{"payments:write"}, Actor: auth.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.post("/dashboard/keys/"+k.ID+"/edit", url.Values{"name": {"renamed"}, "scopes": {"payments:write orders:read"}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit keeping a held scope: %d\n%s", p.StatusCode, p.body)
	}
	if p := b.post("/dashboard/keys/"+k.ID+"/edit", url.Values{"name": {"renamed"}, "scopes": {"payments:write admin"}}); p.StatusCode != http.StatusBadRequest {
		t.Fatalf("edit adding admin: %d", p.StatusCode)
	}
	if got, _ := h.Keys.Get(ctx, k.ID); slices.Contains(got.Scopes, "admin") {
		t.Fatalf("the key gained %v", got.Scopes)
	}

	// Clients: no scope or audience beyond the lists (the OpenID Connect
	// identity scopes aside).
	form := func(scopes, audiences string) url.Values {
		return url.Values{"name": {"svc"}, "owner": {"billing"}, "type": {"confidential"},
			"grant_types": {auth.GrantClientCredentials}, "scopes": {scopes}, "audiences": {audiences}}
	}
	for _, f := range []url.Values{form("admin", ""), form("orders:read", "https://payments.internal")} {
		if p := b.post("/dashboard/clients", f); p.StatusCode != http.StatusForbidden || !strings.Contains(p.body, "you cannot grant") {
			t.Errorf("client %v: %d, want 403\n%s", f, p.StatusCode, p.body)
		}
	}
	if cs, _, _ := h.Clients.List(ctx, auth.ClientFilter{Owners: []string{"billing"}}); len(cs) != 0 {
		t.Fatalf("refused forms created %d clients", len(cs))
	}
	if p := b.post("/dashboard/clients", form("orders:read openid", "https://orders.example")); p.StatusCode != http.StatusCreated {
		t.Fatalf("client within the lists: %d\n%s", p.StatusCode, p.body)
	}

	// Admins grant anything.
	h.user("root", auth.RoleAdmin)
	a := h.signIn("root")
	if p := a.post("/dashboard/keys", url.Values{"owner": {"billing"}, "name": {"admin key"}, "scopes": {"admin"}}); p.StatusCode != http.StatusCreated {
		t.Fatalf("an admin's key with the admin scope: %d", p.StatusCode)
	}
}
