package dashboard

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// TestTheClientFormSetsTheSecondFactorPolicy: the form offers the server's
// policy, optional and required; the choice is stored, shown on the
// client's page, selected again in the edit form, and changed by an edit;
// a policy the registry refuses is told under the field.
func TestTheClientFormSetsTheSecondFactorPolicy(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")

	p := b.get("/dashboard/clients/new")
	if !strings.Contains(p.body, `<label for="mfa">Second factor</label>`) || !strings.Contains(p.body, `<option value="required"`) {
		t.Fatalf("the form has no second-factor choice:\n%s", p.body)
	}
	form := webClient("Bank", "billing")
	form.Set("mfa", auth.MFARequired)
	c, _ := h.createClient(b, form)
	if c.MFA != auth.MFARequired {
		t.Fatalf("stored policy %q", c.MFA)
	}
	if p := b.get("/dashboard/clients/" + c.ID); !strings.Contains(p.body, "<dt>Second factor</dt><dd>required</dd>") {
		t.Errorf("the client's page does not show the policy:\n%s", p.body)
	}
	p = b.get("/dashboard/clients/" + c.ID + "/edit")
	if !strings.Contains(p.body, `<option value="required" selected>`) {
		t.Fatalf("the edit form does not select the policy:\n%s", p.body)
	}
	f := p.form("data-client-form")
	edit := f.fields
	edit.Set("redirect_uris", strings.Join(c.RedirectURIs, "\n"))
	edit.Set("auth_method", c.AuthMethod)
	edit.Set("application_type", c.ApplicationType)
	edit.Set("mfa", "")
	if p = b.post(f.action, edit); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", p.StatusCode, p.body)
	}
	if got, _ := h.Clients.Get(context.Background(), c.ID); got.MFA != "" {
		t.Errorf("after choosing the server's policy: %q", got.MFA)
	}

	bad := serviceClient("Worker", "billing")
	bad.Set("mfa", auth.MFARequired)
	p = b.post("/dashboard/clients", bad)
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "second-factor policy") || !strings.Contains(p.body, `id="mfa-error"`) {
		t.Fatalf("a policy on a client without users: %d\n%s", p.StatusCode, p.body)
	}
}

func TestTheSecondFactorRulesAreToldUnderTheirField(t *testing.T) {
	h := newHarness(t)
	ok := client.Input{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{auth.GrantAuthorizationCode}}
	for _, change := range []func(*client.Input){
		func(in *client.Input) { in.MFA = "always" },
		func(in *client.Input) {
			in.RedirectURIs, in.GrantTypes, in.MFA = nil, []string{auth.GrantClientCredentials}, auth.MFAOptional
		},
	} {
		in := ok
		change(&in)
		_, _, err := h.Clients.Create(context.Background(), auth.ActorSystem, in)
		if got := clientFieldOf(auth.ErrorMessage(err)); auth.ErrorCode(err) != auth.EINVALID || got != "mfa" {
			t.Errorf("%v is told under %q, want mfa", err, got)
		}
	}
}

// TestTheRouteFormKeepsRequireMFA: the route form sets require_mfa, and
// an edit that does not touch it keeps it (the form rebuilds the whole
// route: a missing field would drop the requirement unsaid).
func TestTheRouteFormKeepsRequireMFA(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	ctx := context.Background()

	p := b.post("/dashboard/routes", routeValues("policy", auth.PolicyJWT, "audience", "https://pay.example", "require_mfa", "1"))
	miscStatus(t, p, http.StatusSeeOther)
	if rt, err := h.Routes.Get(ctx, "orders"); err != nil || !rt.RequireMFA {
		t.Fatalf("stored %+v, %v", rt, err)
	}
	p = b.get("/dashboard/routes/orders/edit")
	f := p.form(`action="/dashboard/routes/orders/edit"`)
	if f.fields.Get("require_mfa") != "1" {
		t.Fatalf("the edit form does not hold require_mfa: %v", f.fields)
	}
	f.fields.Set("policy", auth.PolicyJWT)
	f.fields.Set("upstreams", "http://127.0.0.1:9")
	f.fields.Set("path", "/orders/v2")
	miscStatus(t, b.post("/dashboard/routes/orders/edit", f.fields), http.StatusSeeOther)
	if rt, _ := h.Routes.Get(ctx, "orders"); !rt.RequireMFA || rt.PathPrefix != "/orders/v2" {
		t.Fatalf("an edit of the path dropped require_mfa: %+v", rt)
	}
	f.fields.Del("require_mfa")
	miscStatus(t, b.post("/dashboard/routes/orders/edit", f.fields), http.StatusSeeOther)
	if rt, _ := h.Routes.Get(ctx, "orders"); rt.RequireMFA {
		t.Fatal("unchecking require_mfa kept it")
	}

	p = b.post("/dashboard/routes", routeValues("name", "keys", "path", "/keys", "require_mfa", "1"))
	miscStatus(t, p, http.StatusBadRequest)
	if !strings.Contains(p.body, `id="require_mfa-error"`) || !strings.Contains(p.body, "require_mfa applies to user tokens") {
		t.Errorf("require_mfa on an api_key route is not told under its field:\n%s", p.body)
	}
}
