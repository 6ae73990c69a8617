package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// trySignIn signs in through the login page with a password and reports
// whether it reached the dashboard.
func (h *harness) trySignIn(username, password string) (*browser, bool) {
	h.t.Helper()
	b := h.browser()
	p := b.follow(b.get("/dashboard/"))
	lf := p.form(`name="password"`)
	lf.fields.Set("username", username)
	lf.fields.Set("password", password)
	done := b.follow(b.send(http.MethodPost, lf.action, lf.fields))
	return b, done.StatusCode == http.StatusOK && done.Request.URL.Path == "/dashboard/"
}

// userNamed finds a user in the store by username.
func (h *harness) userNamed(username string) *auth.User {
	h.t.Helper()
	us, _, err := h.Users.List(context.Background(), auth.UserFilter{Limit: 500})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, u := range us {
		if u.Username == username {
			return u
		}
	}
	return nil
}

func TestAnAdminCreatesADeveloperWhoSignsInAndSeesTheirClients(t *testing.T) {
	h := newHarness(t)
	admin := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	h.createClient(b, serviceClient("Billing client", "billing"))
	h.createClient(b, serviceClient("Payroll client", "payroll"))

	p := b.get("/dashboard/users/new")
	for _, label := range []string{"Username", "Password", "Role", "Owners", "Email", "Name"} {
		if !strings.Contains(p.body, ">"+label+"</label>") {
			t.Errorf("the form has no label %q", label)
		}
	}
	p = b.post("/dashboard/users", url.Values{
		"username": {"dev"}, "password": {testPassword}, "role": {"developer"},
		"owners": {" billing , shipping "}, "email": {"dev@example.com"}, "name": {"Dee Veloper"},
	})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("create user: %d\n%s", p.StatusCode, p.body)
	}
	u := h.userNamed("dev")
	if u == nil || u.Role != auth.RoleDeveloper || !slices.Equal(u.Owners, []string{"billing", "shipping"}) ||
		u.Email != "dev@example.com" || u.Name != "Dee Veloper" {
		t.Fatalf("stored %+v", u)
	}
	evs, _, err := h.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventUserCreated, Actor: admin.ID})
	if err != nil || len(evs) != 1 {
		t.Errorf("user.created by the admin: %+v, %v", evs, err)
	}
	p = b.follow(p)
	if !strings.Contains(p.body, "Created.") || !strings.Contains(p.body, "billing, shipping") {
		t.Errorf("the user's page:\n%s", p.body)
	}
	if p := b.get("/dashboard/users"); !strings.Contains(p.body, ">dev</a>") || !strings.Contains(p.body, "badge enabled") {
		t.Errorf("the list:\n%s", p.body)
	}

	dev := h.signIn("dev")
	p = dev.get("/dashboard/clients")
	if !strings.Contains(p.body, "Billing client") || strings.Contains(p.body, "Payroll client") {
		t.Errorf("the new developer's clients:\n%s", p.body)
	}
}

func TestAGeneratedPasswordIsShownOnceAndSignsIn(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	p := b.post("/dashboard/users", url.Values{"username": {"gen"}, "role": {"admin"}})
	if p.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d\n%s", p.StatusCode, p.body)
	}
	pw := secretOf(t, p)
	if len(pw) < 20 {
		t.Fatalf("generated password %q", pw)
	}
	u := h.userNamed("gen")
	if p := b.get("/dashboard/users/" + u.ID); strings.Contains(p.body, pw) {
		t.Error("the user's page shows the password again")
	}
	if _, ok := h.trySignIn("gen", pw); !ok {
		t.Error("the generated password does not sign in")
	}
}

func TestABadUserFormIsShownAgainAndNothingIsStored(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for _, tc := range []struct {
		name, field string
		form        url.Values
		status      int
		message     string
	}{
		{"a short password", "password", url.Values{"username": {"bob"}, "password": {"short"}}, 400, "at least 8"},
		{"a bad username", "username", url.Values{"username": {"bob smith"}}, 400, "The username may contain only"},
		{"a bad email", "email", url.Values{"username": {"bob"}, "email": {"not an address"}}, 400, "The email address"},
		{"an unknown role", "role", url.Values{"username": {"bob"}, "role": {"root"}}, 400, "The role must be"},
		{"a taken username", "username", url.Values{"username": {"ALICE"}}, 409, "is taken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("name", "Bob Kept")
			p := b.post("/dashboard/users", tc.form)
			if p.StatusCode != tc.status || !strings.Contains(p.body, tc.message) || !strings.Contains(p.body, `role="alert"`) {
				t.Fatalf("status %d, want %d with %q:\n%s", p.StatusCode, tc.status, tc.message, p.body)
			}
			if !strings.Contains(p.body, `id="`+tc.field+`-error"`) || !strings.Contains(p.body, `aria-invalid="true"`) {
				t.Errorf("the field %s is not marked", tc.field)
			}
			if !strings.Contains(p.body, `value="Bob Kept"`) {
				t.Error("the typed name was not kept")
			}
			if strings.Contains(p.body, "data-secret") {
				t.Error("a refused form shows a password")
			}
			if h.userNamed("bob") != nil || h.userNamed("bob smith") != nil {
				t.Error("stored a user")
			}
		})
	}
}

func TestDisablingAUserEndsTheirSessionAndSigningIn(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("alice")
	db := h.signIn("dev")

	p := b.get("/dashboard/users/" + dev.ID)
	f := p.form(">Disable user<")
	if p = b.post(f.action, f.fields); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", p.StatusCode, p.body)
	}
	if p = b.follow(p); !strings.Contains(p.body, "badge disabled") || !strings.Contains(p.body, ">Enable user<") {
		t.Errorf("the user's page after disabling:\n%s", p.body)
	}
	if p := db.get("/dashboard/clients"); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/dashboard/signin") {
		t.Errorf("the disabled user's session: %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	if _, ok := h.trySignIn("dev", testPassword); ok {
		t.Error("a disabled user signs in")
	}

	p = b.get("/dashboard/users/" + dev.ID)
	f = p.form(">Enable user<")
	if p = b.post(f.action, f.fields); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("enable: %d", p.StatusCode)
	}
	if _, ok := h.trySignIn("dev", testPassword); !ok {
		t.Error("an enabled user cannot sign in")
	}
}

func TestAnAdminCannotLockThemselvesOut(t *testing.T) {
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	p := b.get("/dashboard/users/" + alice.ID)
	if strings.Contains(p.body, ">Disable user<") {
		t.Error("the admin's own page offers to disable them")
	}
	p = b.post("/dashboard/users/"+alice.ID+"/disable", url.Values{})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "lock yourself out") {
		t.Errorf("disable self: %d\n%s", p.StatusCode, p.body)
	}
	p = b.post("/dashboard/users/"+alice.ID+"/access", url.Values{"role": {"developer"}, "owners": {"billing"}})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "lock yourself out") {
		t.Errorf("demote self: %d\n%s", p.StatusCode, p.body)
	}
	u, _ := h.Users.Get(context.Background(), alice.ID)
	if u.Disabled() || u.Role != auth.RoleAdmin || len(u.Owners) != 0 {
		t.Errorf("the admin after the refusals: %+v", u)
	}
	if p := b.get("/dashboard/users"); p.StatusCode != http.StatusOK {
		t.Errorf("the admin lost the users page: %d", p.StatusCode)
	}
	// Owners of their own can still be given.
	p = b.post("/dashboard/users/"+alice.ID+"/access", url.Values{"role": {"admin"}, "owners": {"ops"}})
	if p.StatusCode != http.StatusSeeOther {
		t.Errorf("own owners: %d", p.StatusCode)
	}
}

func TestResettingAPassword(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper)
	b := h.signIn("alice")
	db := h.signIn("dev")

	// Typed, refused by the policy: nothing changes.
	p := b.post("/dashboard/users/"+dev.ID+"/password", url.Values{"password": {"short"}})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "at least 8") || !strings.Contains(p.body, `id="password-error"`) {
		t.Errorf("short password: %d\n%s", p.StatusCode, p.body)
	}
	if _, ok := h.trySignIn("dev", testPassword); !ok {
		t.Error("a refused reset changed the password")
	}

	// Typed.
	p = b.post("/dashboard/users/"+dev.ID+"/password", url.Values{"password": {"a brand new passphrase"}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", p.StatusCode, p.body)
	}
	if p := db.get("/dashboard/"); p.StatusCode == http.StatusOK {
		t.Error("the user's dashboard session survived the reset")
	}
	if _, ok := h.trySignIn("dev", testPassword); ok {
		t.Error("the old password still signs in")
	}
	if _, ok := h.trySignIn("dev", "a brand new passphrase"); !ok {
		t.Error("the typed password does not sign in")
	}

	// Generated, shown once in the response.
	p = b.get("/dashboard/users/" + dev.ID)
	f := p.form("data-password-form")
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusOK {
		t.Fatalf("generated reset: %d", p.StatusCode)
	}
	pw := secretOf(t, p)
	if _, ok := h.trySignIn("dev", pw); !ok {
		t.Error("the generated password does not sign in")
	}
}

func TestRoleAndOwnersApplyAtOnceToASignedInDeveloper(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("alice")
	billing, _ := h.createClient(b, serviceClient("Billing client", "billing"))
	h.createClient(b, serviceClient("Shipping client", "shipping"))
	db := h.signIn("dev")
	if p := db.get("/dashboard/clients"); !strings.Contains(p.body, "Billing client") || strings.Contains(p.body, "Shipping client") {
		t.Fatalf("before:\n%s", p.body)
	}

	p := b.post("/dashboard/users/"+dev.ID+"/access", url.Values{"role": {"developer"}, "owners": {"shipping"}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("access: %d\n%s", p.StatusCode, p.body)
	}
	if p := db.get("/dashboard/clients"); strings.Contains(p.body, "Billing client") || !strings.Contains(p.body, "Shipping client") {
		t.Errorf("after the owners changed:\n%s", p.body)
	}
	if p := db.get("/dashboard/clients/" + billing.ID); p.StatusCode != http.StatusNotFound {
		t.Errorf("the former owner's client: %d", p.StatusCode)
	}

	// A bad owner is refused next to the form, nothing changed.
	p = b.post("/dashboard/users/"+dev.ID+"/access", url.Values{"role": {"developer"}, "owners": {"ok, bad\x01"}})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "owner must") || !strings.Contains(p.body, `id="owners-error"`) {
		t.Errorf("bad owner: %d\n%s", p.StatusCode, p.body)
	}
	if u, _ := h.Users.Get(context.Background(), dev.ID); !slices.Equal(u.Owners, []string{"shipping"}) {
		t.Errorf("owners after a refusal: %q", u.Owners)
	}

	if p := db.get("/dashboard/users"); p.StatusCode != http.StatusForbidden {
		t.Errorf("developer on the users page: %d", p.StatusCode)
	}
	b.post("/dashboard/users/"+dev.ID+"/access", url.Values{"role": {"admin"}, "owners": {""}})
	if p := db.get("/dashboard/users"); p.StatusCode != http.StatusOK {
		t.Errorf("the promoted developer on the users page: %d", p.StatusCode)
	}
	if u, _ := h.Users.Get(context.Background(), dev.ID); u.Role != auth.RoleAdmin || len(u.Owners) != 0 {
		t.Errorf("after promotion: %+v", u)
	}
}

func TestAUsersConsentsAreListedAndRevoked(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper)
	b := h.signIn("alice")
	c, _ := h.createClient(b, webClient("Photo printer", ""))
	ctx := context.Background()
	if err := h.Store.SaveConsent(ctx, &auth.Consent{UserID: dev.ID, ClientID: c.ID, Scopes: []string{"openid", "profile"}, GrantedAt: h.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	p := b.get("/dashboard/users/" + dev.ID)
	if !strings.Contains(p.body, "Photo printer") || !strings.Contains(p.body, "openid profile") {
		t.Fatalf("the consents:\n%s", p.body)
	}
	f := p.form("/consents/")
	p = b.post(f.action, f.fields)
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", p.StatusCode, p.body)
	}
	if cs, _ := h.OAuth.ListConsents(ctx, dev.ID); len(cs) != 0 {
		t.Errorf("consents after revocation: %+v", cs)
	}
	if p = b.follow(p); strings.Contains(p.body, "Photo printer") || !strings.Contains(p.body, "No remembered consents") {
		t.Errorf("the page after revocation:\n%s", p.body)
	}
	if p := b.post(f.action, f.fields); p.StatusCode != http.StatusNotFound {
		t.Errorf("revoking again: %d", p.StatusCode)
	}
}

func TestAdminPagesRefuseDevelopers(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	dev := h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	for _, path := range []string{"/dashboard/users", "/dashboard/users/new", "/dashboard/users/" + dev.ID} {
		if p := b.get(path); p.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d", path, p.StatusCode)
		}
	}
	for _, path := range []string{"/dashboard/users", "/dashboard/users/" + dev.ID + "/access"} {
		p := b.post(path, url.Values{"username": {"mallory"}, "password": {testPassword}, "role": {"admin"}})
		if p.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d", path, p.StatusCode)
		}
	}
	if u, _ := h.Users.Get(context.Background(), dev.ID); u.Role != auth.RoleDeveloper || h.userNamed("mallory") != nil {
		t.Error("a developer changed users")
	}
}

func TestUserFieldsAreRenderedEscaped(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for i, payload := range xssPayloads {
		username := "user" + string(rune('a'+i))
		p := b.post("/dashboard/users", url.Values{"username": {username}, "password": {testPassword}, "name": {payload}, "owners": {payload}})
		if p.StatusCode != http.StatusSeeOther {
			t.Fatalf("create: %d\n%s", p.StatusCode, p.body)
		}
		u := h.userNamed(username)
		for _, path := range []string{"/dashboard/users", "/dashboard/users/" + u.ID} {
			checkEscaped(t, path, b.get(path).body, payload)
		}
		// A username validation refuses is kept in the form, escaped.
		p = b.post("/dashboard/users", url.Values{"username": {payload}, "name": {payload}})
		if p.StatusCode != http.StatusBadRequest {
			t.Fatalf("a payload username: %d", p.StatusCode)
		}
		checkEscaped(t, "refused username", p.body, payload)
		// And the owners typed into a refused access form.
		p = b.post("/dashboard/users/"+u.ID+"/access", url.Values{"role": {"nobody"}, "owners": {payload}})
		if p.StatusCode != http.StatusBadRequest {
			t.Fatalf("a refused access change: %d", p.StatusCode)
		}
		checkEscaped(t, "refused access", p.body, payload)
	}
}
