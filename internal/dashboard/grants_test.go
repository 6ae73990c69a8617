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

	// The form says what a developer may grant.
	if p := b.get("/dashboard/keys/new"); !strings.Contains(p.body, "You may grant <code>orders:read</code>") {
		t.Errorf("the key form does not say what a developer may grant:\n%s", p.body)
	}
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
	if p := b.post("/dashboard/clients", form("orders:read", "https://orders.example")); p.StatusCode != http.StatusCreated {
		t.Fatalf("client within the lists: %d\n%s", p.StatusCode, p.body)
	}

	// Admins grant anything.
	h.user("root", auth.RoleAdmin)
	a := h.signIn("root")
	if p := a.post("/dashboard/keys", url.Values{"owner": {"billing"}, "name": {"admin key"}, "scopes": {"admin"}}); p.StatusCode != http.StatusCreated {
		t.Fatalf("an admin's key with the admin scope: %d", p.StatusCode)
	}
}

// The attacks a second review found: a developer rotated an admin's key of
// their owner to receive a working copy of its scopes, and turned an
// admin's user-login client into a client-credentials one (or rotated its
// secret) to get its scopes without any user.
func TestADeveloperCannotTakeTheAccessAnAdminGave(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.DeveloperScopes = []string{"orders:read"}
		c.DeveloperAudiences = []string{"https://orders.example"}
	})
	h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	ctx := context.Background()

	k, _, err := h.Keys.Create(ctx, apikey.CreateParams{Owner: "billing", Name: "admin's", Scopes: []string{"admin"}, Actor: auth.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.post("/dashboard/keys/"+k.ID+"/rotate", url.Values{"grace": {"0"}}); p.StatusCode != http.StatusForbidden || strings.Contains(p.body, "data-secret") {
		t.Fatalf("a developer rotating an admin-scoped key: %d\n%s", p.StatusCode, p.body)
	}
	if got, _ := h.Keys.Get(ctx, k.ID); got.RotatedTo != "" {
		t.Fatal("the key was rotated")
	}
	mine, _, err := h.Keys.Create(ctx, apikey.CreateParams{Owner: "billing", Name: "plain", Scopes: []string{"orders:read"}, Actor: auth.ActorSystem})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.post("/dashboard/keys/"+mine.ID+"/rotate", url.Values{"grace": {"0"}}); p.StatusCode != http.StatusCreated {
		t.Fatalf("a developer rotating a key within the lists: %d", p.StatusCode)
	}

	web := url.Values{"name": {"web"}, "owner": {"billing"}, "type": {"confidential"},
		"grant_types": {auth.GrantAuthorizationCode}, "redirect_uris": {"https://app.example/cb"},
		"scopes": {"payments:write"}, "audiences": {"https://payments.internal"}}
	h.user("root", auth.RoleAdmin)
	a := h.signIn("root")
	if p := a.post("/dashboard/clients", web); p.StatusCode != http.StatusCreated {
		t.Fatalf("the admin's client: %d\n%s", p.StatusCode, p.body)
	}
	cs, _, _ := h.Clients.List(ctx, auth.ClientFilter{Owners: []string{"billing"}})
	if len(cs) != 1 {
		t.Fatalf("clients: %v", cs)
	}
	c := cs[0]
	// Keeping what the admin gave, with the same grants: allowed.
	keep := url.Values{}
	for k, v := range web {
		keep[k] = v
	}
	keep.Set("name", "web renamed")
	if p := b.post("/dashboard/clients/"+c.ID+"/edit", keep); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("a developer renaming the admin's client: %d\n%s", p.StatusCode, p.body)
	}
	// Adding client_credentials to use those scopes without a user: refused.
	cc := url.Values{}
	for k, v := range keep {
		cc[k] = v
	}
	cc["grant_types"] = []string{auth.GrantAuthorizationCode, auth.GrantClientCredentials}
	if p := b.post("/dashboard/clients/"+c.ID+"/edit", cc); p.StatusCode != http.StatusForbidden {
		t.Fatalf("a developer adding client_credentials to the admin's client: %d", p.StatusCode)
	}
	if got, _ := h.Clients.Get(ctx, c.ID); slices.Contains(got.GrantTypes, auth.GrantClientCredentials) {
		t.Fatal("the client gained client_credentials")
	}
	if p := b.post("/dashboard/clients/"+c.ID+"/rotate-secret", nil); p.StatusCode != http.StatusForbidden || strings.Contains(p.body, "data-secret") {
		t.Fatalf("a developer rotating the admin's client's secret: %d", p.StatusCode)
	}
	// The identity scopes are for users' sign-in, not for a client acting
	// as itself.
	svc := url.Values{"name": {"svc"}, "owner": {"billing"}, "type": {"confidential"},
		"grant_types": {auth.GrantClientCredentials}, "scopes": {"orders:read profile"}}
	if p := b.post("/dashboard/clients", svc); p.StatusCode != http.StatusForbidden {
		t.Fatalf("a client-credentials client with profile: %d", p.StatusCode)
	}
}
