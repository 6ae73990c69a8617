package dashboard

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// The payloads every user-controlled field is tried with.
var xssPayloads = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}

var secretRe = regexp.MustCompile(`data-secret>([^<]*)</code>`)

// secretOf returns the secret shown once on a page, failing without one.
func secretOf(t testing.TB, p *response) string {
	t.Helper()
	m := secretRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no data-secret on the page (status %d):\n%s", p.StatusCode, p.body)
	}
	return html.UnescapeString(m[1])
}

// serviceClient returns a create form's fields for a confidential
// client-credentials client.
func serviceClient(name, owner string) url.Values {
	return url.Values{
		"name": {name}, "owner": {owner}, "type": {"confidential"},
		"grant_types": {auth.GrantClientCredentials}, "scopes": {"read write"},
	}
}

// webClient is a create form for a confidential authorization-code client.
func webClient(name, owner string) url.Values {
	return url.Values{
		"name": {name}, "owner": {owner}, "type": {"confidential"},
		"grant_types":   {auth.GrantAuthorizationCode, auth.GrantRefreshToken},
		"redirect_uris": {"https://app.example/cb\r\nhttps://app.example/cb2\r\n"},
		"scopes":        {"openid profile"},
	}
}

// createClient posts the create form and returns the new client and its
// secret ("" for a public client).
func (h *harness) createClient(b *browser, form url.Values) (*auth.Client, string) {
	h.t.Helper()
	t := h.t
	p := b.post("/dashboard/clients", form)
	var secret string
	switch p.StatusCode {
	case http.StatusCreated:
		secret = secretOf(t, p)
	case http.StatusSeeOther:
	default:
		t.Fatalf("create client: %d\n%s", p.StatusCode, p.body)
	}
	return h.clientNamed(form.Get("name")), secret
}

// clientNamed finds a client in the store by name.
func (h *harness) clientNamed(name string) *auth.Client {
	h.t.Helper()
	cs, _, err := h.Clients.List(context.Background(), auth.ClientFilter{Limit: 500})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	h.t.Fatalf("no client named %q", name)
	return nil
}

// clientToken asks the token endpoint for a client-credentials token with
// HTTP Basic authentication and returns the status.
func (h *harness) clientToken(id, secret string) int {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.URL+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			h.t.Fatalf("token response without a token: %v", err)
		}
	}
	return resp.StatusCode
}

func TestAnAdminCreatesAConfidentialClientAndReadsTheSecretOnce(t *testing.T) {
	h := newHarness(t)
	admin := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")

	p := b.get("/dashboard/clients/new")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("new client form: %d", p.StatusCode)
	}
	for _, label := range []string{"Name", "Owner", "Authentication method", "Redirect URIs", "Post-logout redirect URIs", "Scopes", "Audiences", "Access token lifetime"} {
		if !strings.Contains(p.body, ">"+label+"</label>") {
			t.Errorf("the form has no label %q", label)
		}
	}
	if !strings.Contains(p.body, `value="client_credentials"`) || !strings.Contains(p.body, ">Create client</button>") {
		t.Error("the form lacks the grant checkboxes or its button")
	}

	form := serviceClient("Billing worker", "billing")
	form.Set("access_token_ttl", "15m")
	c, secret := h.createClient(b, form)
	if !strings.HasPrefix(secret, client.SecretPrefix) {
		t.Fatalf("secret %q", secret)
	}
	if c.Owner != "billing" || c.Public || !slices.Equal(c.GrantTypes, []string{auth.GrantClientCredentials}) ||
		!slices.Equal(c.Scopes, []string{"read", "write"}) || c.AccessTokenTTL.String() != "15m0s" {
		t.Errorf("stored client %+v", c)
	}
	if got := h.clientToken(c.ID, secret); got != http.StatusOK {
		t.Errorf("the secret shown does not authenticate: token endpoint %d", got)
	}
	if got := h.clientToken(c.ID, secret[:len(secret)-1]+"x"); got == http.StatusOK {
		t.Error("a wrong secret authenticates")
	}

	// Once: neither the client's page nor the list shows it again.
	for _, path := range []string{"/dashboard/clients", "/dashboard/clients/" + c.ID, "/dashboard/clients/" + c.ID + "/edit"} {
		p := b.get(path)
		if p.StatusCode != http.StatusOK || strings.Contains(p.body, secret) || strings.Contains(p.body, "data-secret") {
			t.Errorf("%s: status %d, shows the secret: %v", path, p.StatusCode, strings.Contains(p.body, secret))
		}
		if !strings.Contains(p.body, "Billing worker") {
			t.Errorf("%s does not show the client", path)
		}
	}

	// Audited with the signed-in admin as the actor.
	evs, _, err := h.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventClientCreated, KeyID: c.ID})
	if err != nil || len(evs) != 1 || evs[0].Actor != admin.ID {
		t.Errorf("client.created events %+v (%v), want one by %s", evs, err, admin.ID)
	}
}

func TestAPublicClientIsCreatedWithoutASecret(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	form := webClient("Single-page app", "")
	form.Set("type", "public")
	p := b.post("/dashboard/clients", form)
	if p.StatusCode != http.StatusSeeOther || strings.Contains(p.body, "data-secret") {
		t.Fatalf("create public client: %d\n%s", p.StatusCode, p.body)
	}
	c := h.clientNamed("Single-page app")
	if !c.Public || c.AuthMethod != auth.AuthMethodNone {
		t.Errorf("stored %+v", c)
	}
	p = b.follow(p)
	if !strings.Contains(p.body, "Created.") || strings.Contains(p.body, "Rotate secret") {
		t.Errorf("the client's page after creation:\n%s", p.body)
	}
	for _, p := range []*response{b.get("/dashboard/clients/" + c.ID + "/rotate-secret"), b.post("/dashboard/clients/"+c.ID+"/rotate-secret", nil)} {
		if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "has no secret") {
			t.Errorf("rotating a public client's secret: %d\n%s", p.StatusCode, p.body)
		}
	}
}

func TestABadClientFormIsShownAgainWithTheMessageAndNothingIsStored(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for _, tc := range []struct {
		name, field, value, field2, message string
	}{
		{"an http redirect URI", "redirect_uris", "http://app.example/cb", "redirect_uris", "Invalid redirect URI"},
		{"an unknown lifetime format", "access_token_ttl", "fortnight", "access_token_ttl", "must be a duration"},
		{"a lifetime out of bounds", "refresh_token_ttl", "1s", "refresh_token_ttl", "refresh token idle lifetime"},
		{"a bad scope", "scopes", `a"b`, "scopes", "The scope"},
		{"an audience that is no URI", "audiences", "not a uri", "audiences", "The audience"},
		{"a type that does not exist", "type", "semi-public", "type", "confidential or public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := webClient("Refused "+tc.name, "")
			form.Set(tc.field, tc.value)
			p := b.post("/dashboard/clients", form)
			if p.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", p.StatusCode)
			}
			if !strings.Contains(p.body, `class="form-error" role="alert"`) || !strings.Contains(p.body, tc.message) {
				t.Errorf("no message %q:\n%s", tc.message, p.body)
			}
			if !strings.Contains(p.body, `id="`+tc.field2+`-error"`) {
				t.Errorf("no field error for %s", tc.field2)
			}
			if tc.field2 != "type" && !regexp.MustCompile(`id="`+tc.field2+`"[^>]*aria-invalid="true"`).MatchString(p.body) {
				t.Errorf("the field %s is not marked invalid", tc.field2)
			}
			if !strings.Contains(p.body, `value="Refused `+tc.name+`"`) {
				t.Error("the typed name was not kept")
			}
			cs, _, _ := h.Clients.List(context.Background(), auth.ClientFilter{})
			for _, c := range cs {
				if strings.HasPrefix(c.Name, "Refused") {
					t.Errorf("stored %q", c.Name)
				}
			}
		})
	}
}

func TestEditingWithABadRedirectURIChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	c, _ := h.createClient(b, webClient("Web app", "billing"))

	p := b.get("/dashboard/clients/" + c.ID + "/edit")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "https://app.example/cb\nhttps://app.example/cb2") {
		t.Fatalf("edit form %d:\n%s", p.StatusCode, p.body)
	}
	f := p.form("data-client-form")
	form := f.fields
	// Textareas and selects are not inputs the harness reads: set them as
	// a browser would send them.
	form.Set("redirect_uris", "https://app.example/cb\nhttp://evil.example/cb")
	form.Set("auth_method", c.AuthMethod)
	p = b.post(f.action, form)
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "Invalid redirect URI") ||
		!strings.Contains(p.body, `aria-invalid="true"`) || !strings.Contains(p.body, "http://evil.example/cb") {
		t.Fatalf("bad edit: %d\n%s", p.StatusCode, p.body)
	}
	got, _ := h.Clients.Get(context.Background(), c.ID)
	if !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !got.UpdatedAt.Equal(c.UpdatedAt) {
		t.Errorf("a refused edit changed the client: %q", got.RedirectURIs)
	}

	form.Set("redirect_uris", "https://app.example/new")
	form.Set("audiences", "https://api.example")
	p = b.post(f.action, form)
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("good edit: %d\n%s", p.StatusCode, p.body)
	}
	got, _ = h.Clients.Get(context.Background(), c.ID)
	if !slices.Equal(got.RedirectURIs, []string{"https://app.example/new"}) || !slices.Equal(got.Audiences, []string{"https://api.example"}) ||
		got.Public || got.Owner != "billing" {
		t.Errorf("after the edit: %+v", got)
	}
	if p = b.follow(p); !strings.Contains(p.body, "Saved.") || !strings.Contains(p.body, "https://app.example/new") {
		t.Errorf("the client's page after the edit:\n%s", p.body)
	}
}

func TestRotatingAClientSecretAndDeletingTheClient(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	c, old := h.createClient(b, serviceClient("Nightly job", "ops"))

	p := b.get("/dashboard/clients/" + c.ID + "/rotate-secret")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "Nightly job") || !strings.Contains(p.body, ">Rotate secret</button>") {
		t.Fatalf("rotate confirmation %d:\n%s", p.StatusCode, p.body)
	}
	f := p.form(">Rotate secret<")
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusOK {
		t.Fatalf("rotate: %d\n%s", p.StatusCode, p.body)
	}
	fresh := secretOf(t, p)
	if fresh == old {
		t.Fatal("rotation kept the secret")
	}
	if got := h.clientToken(c.ID, old); got == http.StatusOK {
		t.Error("the old secret still authenticates")
	}
	if got := h.clientToken(c.ID, fresh); got != http.StatusOK {
		t.Errorf("the new secret does not authenticate: %d", got)
	}

	p = b.get("/dashboard/clients/" + c.ID + "/delete")
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "Delete Nightly job?") || !strings.Contains(p.body, c.ID) {
		t.Fatalf("delete confirmation %d:\n%s", p.StatusCode, p.body)
	}
	f = p.form(">Delete client<")
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d\n%s", p.StatusCode, p.body)
	}
	if _, err := h.Clients.Get(context.Background(), c.ID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("after deletion: %v", err)
	}
	if got := h.clientToken(c.ID, fresh); got == http.StatusOK {
		t.Error("a deleted client still gets tokens")
	}
	if p = b.follow(p); !strings.Contains(p.body, "Deleted.") || strings.Contains(p.body, "Nightly job") {
		t.Errorf("the list after deletion:\n%s", p.body)
	}
	if p = b.get("/dashboard/clients/" + c.ID); p.StatusCode != http.StatusNotFound {
		t.Errorf("a deleted client's page: %d", p.StatusCode)
	}
}

func TestDevelopersSeeAndManageOnlyTheirOwnersClients(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	h.user("dev", auth.RoleDeveloper, "billing", "shipping")
	ab := h.signIn("alice")
	mine, _ := h.createClient(ab, serviceClient("Billing client", "billing"))
	h.createClient(ab, serviceClient("Shipping client", "shipping"))
	theirs, theirSecret := h.createClient(ab, serviceClient("Payroll client", "payroll"))
	unowned, _ := h.createClient(ab, serviceClient("Unowned client", ""))

	b := h.signIn("dev")
	p := b.get("/dashboard/clients")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("list: %d", p.StatusCode)
	}
	for name, want := range map[string]bool{
		"Billing client": true, "Shipping client": true, "Payroll client": false, "Unowned client": false, ClientName: false,
	} {
		if strings.Contains(p.body, name) != want {
			t.Errorf("the developer's list shows %q: %v, want %v", name, !want, want)
		}
	}
	if p := b.get("/dashboard/clients/" + mine.ID); p.StatusCode != http.StatusOK {
		t.Errorf("own client's page: %d", p.StatusCode)
	}

	// Another owner's client, an unowned one and the dashboard's own are
	// the same 404 as a missing one, for every page and every change.
	missing := "cli_01JZZZZZZZZZZZZZZZZZZZZZZZ"
	notFound := b.get("/dashboard/clients/" + missing).body
	for _, id := range []string{theirs.ID, unowned.ID, ClientID} {
		for _, suffix := range []string{"", "/edit", "/rotate-secret", "/delete"} {
			p := b.get("/dashboard/clients/" + id + suffix)
			if p.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s%s: %d, want 404", id, suffix, p.StatusCode)
			}
			if suffix == "" && strings.ReplaceAll(p.body, id, "") != strings.ReplaceAll(notFound, missing, "") {
				t.Errorf("GET %s: the 404 differs from a missing client's", id)
			}
		}
		for _, suffix := range []string{"/edit", "/rotate-secret", "/delete"} {
			form := serviceClient("Taken over", "billing")
			if p := b.post("/dashboard/clients/"+id+suffix, form); p.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s%s: %d, want 404", id, suffix, p.StatusCode)
			}
		}
	}
	if got, err := h.Clients.Get(context.Background(), theirs.ID); err != nil || got.Name != "Payroll client" || !got.UpdatedAt.Equal(theirs.UpdatedAt) {
		t.Errorf("another owner's client after the developer's attempts: %+v, %v", got, err)
	}
	if got := h.clientToken(theirs.ID, theirSecret); got != http.StatusOK {
		t.Error("another owner's secret was rotated")
	}

	// The owner field offers the developer's owners only; another owner,
	// or none, is refused and nothing is created.
	p = b.get("/dashboard/clients/new")
	if !strings.Contains(p.body, `<select id="owner" name="owner"`) || strings.Contains(p.body, "payroll") {
		t.Errorf("the owner field:\n%s", p.body)
	}
	for _, owner := range []string{"payroll", ""} {
		p := b.post("/dashboard/clients", serviceClient("Sneaky "+owner, owner))
		if p.StatusCode != http.StatusForbidden || !strings.Contains(p.body, "one of your owners") {
			t.Errorf("create for owner %q: %d\n%s", owner, p.StatusCode, p.body)
		}
	}
	cs, _, _ := h.Clients.List(context.Background(), auth.ClientFilter{})
	for _, c := range cs {
		if strings.HasPrefix(c.Name, "Sneaky") {
			t.Errorf("created %q", c.Name)
		}
	}
	// Nor can an own client be moved to another owner.
	form := serviceClient("Billing client", "payroll")
	if p := b.post("/dashboard/clients/"+mine.ID+"/edit", form); p.StatusCode != http.StatusForbidden {
		t.Errorf("move to another owner: %d", p.StatusCode)
	}
	if got, _ := h.Clients.Get(context.Background(), mine.ID); got.Owner != "billing" {
		t.Errorf("moved to %q", got.Owner)
	}

	created, secret := h.createClient(b, serviceClient("Dev's own", "shipping"))
	if created.Owner != "shipping" || h.clientToken(created.ID, secret) != http.StatusOK {
		t.Errorf("the developer's own client: %+v", created)
	}
	for _, path := range []string{"/dashboard/users", "/dashboard/users/new"} {
		if p := b.get(path); p.StatusCode != http.StatusForbidden {
			t.Errorf("developer GET %s: %d, want 403", path, p.StatusCode)
		}
	}
}

func TestADeveloperWithoutOwnersSeesNoClients(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	h.user("newbie", auth.RoleDeveloper)
	h.createClient(h.signIn("alice"), serviceClient("Billing client", "billing"))
	b := h.signIn("newbie")
	p := b.get("/dashboard/clients")
	if p.StatusCode != http.StatusOK || strings.Contains(p.body, "Billing client") || !strings.Contains(p.body, "no owners") {
		t.Errorf("list: %d\n%s", p.StatusCode, p.body)
	}
	if p := b.get("/dashboard/clients/new"); p.StatusCode != http.StatusForbidden {
		t.Errorf("new client form: %d", p.StatusCode)
	}
}

func TestTheDashboardsOwnClientIsReadOnly(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	before, err := h.Clients.Get(context.Background(), ClientID)
	if err != nil {
		t.Fatal(err)
	}
	p := b.get("/dashboard/clients/" + ClientID)
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, "dashboard's own client") ||
		strings.Contains(p.body, "/edit\"") || strings.Contains(p.body, "/delete\"") {
		t.Errorf("the dashboard client's page: %d\n%s", p.StatusCode, p.body)
	}
	if p := b.get("/dashboard/clients"); !strings.Contains(p.body, ClientName) {
		t.Error("admins do not see the dashboard's client in the list")
	}
	for _, suffix := range []string{"/edit", "/rotate-secret", "/delete"} {
		if p := b.get("/dashboard/clients/" + ClientID + suffix); p.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", suffix, p.StatusCode)
		}
		form := webClient("Hijacked", "")
		form.Set("type", "public")
		if p := b.post("/dashboard/clients/"+ClientID+suffix, form); p.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", suffix, p.StatusCode)
		}
	}
	after, err := h.Clients.Get(context.Background(), ClientID)
	if err != nil || after.Name != before.Name || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("the dashboard's client changed: %+v, %v", after, err)
	}
	// And signing in still works.
	h.signIn("alice")
}

func TestClientFieldsAreRenderedEscaped(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for i, payload := range xssPayloads {
		form := webClient(payload, payload)
		form.Set("redirect_uris", "https://app.example/"+url.PathEscape(payload))
		c, _ := h.createClient(b, form)
		for _, path := range []string{"/dashboard/clients", "/dashboard/clients/" + c.ID, "/dashboard/clients/" + c.ID + "/edit",
			"/dashboard/clients/" + c.ID + "/delete", "/dashboard/clients/" + c.ID + "/rotate-secret"} {
			p := b.get(path)
			if p.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", path, p.StatusCode)
			}
			checkEscaped(t, path, p.body, payload)
		}
		// The payload as it is in a redirect URI: validation refuses it
		// (spaces), quoting it in the message, or lets it through (no
		// spaces) to be shown on the client's page.
		raw := webClient("Raw "+string(rune('a'+i)), "")
		raw.Set("redirect_uris", "https://app.example/"+payload)
		p := b.post("/dashboard/clients", raw)
		switch p.StatusCode {
		case http.StatusBadRequest:
		case http.StatusCreated:
			p = b.get("/dashboard/clients/" + h.clientNamed(raw.Get("name")).ID)
		default:
			t.Fatalf("a redirect URI with %q: %d", payload, p.StatusCode)
		}
		checkEscaped(t, "redirect URI "+payload, p.body, payload)
		// On the edit form's refusal too, with the payload as the name.
		edit := webClient(payload, payload)
		edit.Set("access_token_ttl", "soon")
		p = b.post("/dashboard/clients/"+c.ID+"/edit", edit)
		if p.StatusCode != http.StatusBadRequest {
			t.Fatalf("a refused edit: %d", p.StatusCode)
		}
		checkEscaped(t, "refused edit", p.body, payload)
	}
}

// checkEscaped fails if payload appears unescaped (as markup) in body, or
// not at all in its escaped form.
func checkEscaped(t *testing.T, where, body, payload string) {
	t.Helper()
	if strings.Contains(body, payload) || strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
		t.Errorf("%s: the payload %q is rendered as markup", where, payload)
	}
	if !strings.Contains(body, "alert(1)") {
		t.Errorf("%s: the payload %q is not shown at all", where, payload)
	}
}

// Each rule of the registry that the form can break is told under the
// field it is about: the messages are the registry's own, so a reworded
// message fails here rather than silently losing its field.
func TestEveryClientRuleIsToldUnderItsField(t *testing.T) {
	h := newHarness(t)
	ok := client.Input{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, GrantTypes: []string{auth.GrantAuthorizationCode}}
	for _, tc := range []struct {
		field  string
		change func(*client.Input)
	}{
		{"name", func(in *client.Input) { in.Name = "" }},
		{"name", func(in *client.Input) { in.Name = "a\x01" }},
		{"owner", func(in *client.Input) { in.Owner = "a\x00" }},
		{"auth_method", func(in *client.Input) { in.AuthMethod = "magic" }},
		{"auth_method", func(in *client.Input) { in.AuthMethod = auth.AuthMethodNone }},
		{"auth_method", func(in *client.Input) { in.Public, in.AuthMethod = true, auth.AuthMethodSecretBasic }},
		{"jwks", func(in *client.Input) { in.AuthMethod = auth.AuthMethodPrivateKeyJWT }},
		{"jwks", func(in *client.Input) { in.AuthMethod, in.JWKS = auth.AuthMethodPrivateKeyJWT, []byte("{") }},
		{"jwks", func(in *client.Input) { in.JWKS = []byte(`{"keys":[]}`) }},
		{"redirect_uris", func(in *client.Input) { in.RedirectURIs = []string{"http://a.example/cb"} }},
		{"redirect_uris", func(in *client.Input) { in.RedirectURIs = nil }},
		{"redirect_uris", func(in *client.Input) { in.RedirectURIs = slices.Repeat([]string{"https://a.example/cb"}, 21) }},
		{"post_logout_redirect_uris", func(in *client.Input) { in.PostLogoutRedirectURIs = []string{"ftp://a.example"} }},
		{"grant_types", func(in *client.Input) { in.GrantTypes = []string{"password"} }},
		{"grant_types", func(in *client.Input) { in.GrantTypes = []string{auth.GrantClientCredentials} }},
		{"grant_types", func(in *client.Input) { in.GrantTypes = []string{auth.GrantRefreshToken} }},
		{"grant_types", func(in *client.Input) {
			in.Public, in.GrantTypes = true, []string{auth.GrantAuthorizationCode, auth.GrantClientCredentials}
		}},
		{"scopes", func(in *client.Input) { in.Scopes = []string{`a"b`} }},
		{"scopes", func(in *client.Input) { in.Scopes = []string{strings.Repeat("s", 200)} }},
		{"audiences", func(in *client.Input) { in.Audiences = []string{"relative"} }},
		{"access_token_ttl", func(in *client.Input) { in.AccessTokenTTL = 1 }},
		{"refresh_token_ttl", func(in *client.Input) { in.RefreshTokenTTL = 1 }},
		{"refresh_token_max_ttl", func(in *client.Input) { in.RefreshTokenMaxTTL = 1 }},
	} {
		in := ok
		tc.change(&in)
		_, _, err := h.Clients.Create(context.Background(), auth.ActorSystem, in)
		if auth.ErrorCode(err) != auth.EINVALID {
			t.Errorf("%s: %v, want EINVALID", tc.field, err)
			continue
		}
		if got := clientFieldOf(auth.ErrorMessage(err)); got != tc.field {
			t.Errorf("%q is told under %q, want %q", auth.ErrorMessage(err), got, tc.field)
		}
	}
}
