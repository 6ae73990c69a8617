package dashboard

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/routes"
)

// routeValues is a valid route form; changes alter it.
func routeValues(changes ...string) url.Values {
	v := url.Values{
		"name": {"orders"}, "path": {"/orders"}, "upstreams": {"http://127.0.0.1:9"},
		"policy": {auth.PolicyAPIKey}, "scopes": {"orders:read"},
	}
	for i := 0; i+1 < len(changes); i += 2 {
		v.Set(changes[i], changes[i+1])
	}
	return v
}

func TestRouteFormRefusesBadInputInline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	miscStatus(t, b.get("/dashboard/routes/new"), http.StatusOK)
	tests := []struct {
		name, field, value, message string
	}{
		{"a prefix without its slash", "path", "orders", `path "orders" must start with '/'`},
		{"a prefix with a trailing slash", "path", "/orders/", `path "/orders/" must start with '/'`},
		{"an upstream that is not http", "upstreams", "ftp://files.example", `upstream "ftp://files.example": must be an http or https URL`},
		{"no upstream", "upstreams", "", "at least one upstream is required"},
		{"a bad rate", "rate", "lots", `Rate limit: "lots": want a number`},
		{"a bad timeout", "timeout", "soon", `The timeout "soon" is not a duration`},
		{"an unknown policy", "policy", "open", `policy "open" is not one of`},
	}
	for _, tt := range tests {
		p := b.post("/dashboard/routes", routeValues(tt.field, tt.value))
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tt.name, p.StatusCode)
			continue
		}
		body := html.UnescapeString(p.body)
		if !strings.Contains(body, tt.message) || !strings.Contains(p.body, `class="form-error" role="alert"`) {
			t.Errorf("%s: the message %q is not shown:\n%s", tt.name, tt.message, p.body)
		}
		id := tt.field
		if !strings.Contains(p.body, `aria-invalid="true" aria-describedby="`+id+`-error"`) ||
			!strings.Contains(p.body, `id="`+id+`-error"`) {
			t.Errorf("%s: the field %s is not marked", tt.name, id)
		}
		// The values entered are kept.
		if !strings.Contains(p.body, `value="/orders"`) && tt.field != "path" {
			t.Errorf("%s: the path entered is lost", tt.name)
		}
		if !strings.Contains(p.body, `value="orders:read"`) {
			t.Errorf("%s: the scopes entered are lost", tt.name)
		}
	}
	if rs, err := h.Routes.List(context.Background()); err != nil || len(rs) != 0 {
		t.Errorf("refused forms stored routes: %v %v", rs, err)
	}
}

func TestRouteCreateEditDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	alice := h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	ctx := context.Background()

	p := b.post("/dashboard/routes", routeValues("hosts", "API.example.com", "methods", "get, post", "rate", "6000/m"))
	miscStatus(t, p, http.StatusSeeOther)
	p = b.follow(p)
	for _, want := range []string{"orders", "api.example.com", "GET, POST", "http://127.0.0.1:9", "api_key", "stored", `href="/dashboard/routes/orders/edit"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	rt, err := h.Routes.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if rt.RateLimit != (auth.RateLimit{Rate: 100, Burst: 100}) || !slices.Equal(rt.Methods, []string{"GET", "POST"}) {
		t.Errorf("stored %+v", rt)
	}

	// The name is taken.
	p = b.post("/dashboard/routes", routeValues())
	miscStatus(t, p, http.StatusConflict)
	if !strings.Contains(p.body, `aria-describedby="name-error"`) {
		t.Errorf("the name is not marked:\n%s", p.body)
	}

	// The edit form holds the route; a bad change is refused inline.
	p = b.get("/dashboard/routes/orders/edit")
	miscStatus(t, p, http.StatusOK)
	f := p.form(`action="/dashboard/routes/orders/edit"`)
	if f.fields.Get("path") != "/orders" || f.fields.Get("rate") != "100" || f.fields.Get("burst") != "100" || f.fields.Get("hosts") != "api.example.com" {
		t.Errorf("the edit form holds %v", f.fields)
	}
	f.fields.Set("upstreams", "http://127.0.0.1:9")
	f.fields.Set("policy", auth.PolicyJWT)
	p = b.post("/dashboard/routes/orders/edit", f.fields)
	miscStatus(t, p, http.StatusBadRequest)
	if !strings.Contains(p.body, `aria-describedby="audience-error"`) {
		t.Errorf("a jwt route without an audience is not refused on the audience:\n%s", p.body)
	}
	f.fields.Set("audience", "https://api.example.com")
	f.fields.Set("path", "/orders/v2")
	p = b.post("/dashboard/routes/orders/edit", f.fields)
	miscStatus(t, p, http.StatusSeeOther)
	rt, err = h.Routes.Get(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if rt.PathPrefix != "/orders/v2" || rt.Policy != auth.PolicyJWT || rt.Audience != "https://api.example.com" || rt.RateLimit.Rate != 100 {
		t.Errorf("after the edit: %+v", rt)
	}
	evs, _, err := h.Store.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventRouteUpdated, Actor: alice.ID})
	if err != nil || len(evs) != 1 {
		t.Errorf("route.updated events by the user: %v %v", evs, err)
	}

	p = b.get("/dashboard/routes/orders/delete")
	miscStatus(t, p, http.StatusOK)
	p.form(`action="/dashboard/routes/orders/delete"`)
	p = b.post("/dashboard/routes/orders/delete", nil)
	miscStatus(t, p, http.StatusSeeOther)
	if _, err := h.Routes.Get(ctx, "orders"); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("after the delete: %v", err)
	}
	miscStatus(t, b.get("/dashboard/routes/orders/edit"), http.StatusNotFound)
	miscStatus(t, b.post("/dashboard/routes/orders/delete", nil), http.StatusNotFound)
}

func TestRoutesOfTheRoutesFileAreReadOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		svc, err := routes.New(routes.Config{
			Store: c.Store.(auth.RouteStore),
			FileRoutes: func() []auth.Route {
				return []auth.Route{{Name: "from-file", PathPrefix: "/files", Upstreams: []string{"http://127.0.0.1:1"}, Policy: auth.PolicyPublic}}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Routes = svc
	})
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	p := b.get("/dashboard/routes")
	miscStatus(t, p, http.StatusOK)
	if !strings.Contains(p.body, "from-file") || !strings.Contains(p.body, "read-only") || strings.Contains(p.body, "/dashboard/routes/from-file/edit") {
		t.Errorf("the file's route is not listed read-only:\n%s", p.body)
	}
	miscStatus(t, b.get("/dashboard/routes/from-file/edit"), http.StatusNotFound)
	miscStatus(t, b.post("/dashboard/routes/from-file/delete", nil), http.StatusNotFound)
	p = b.post("/dashboard/routes", routeValues("name", "from-file"))
	miscStatus(t, p, http.StatusConflict)
}

func TestRoutePagesWithoutRouteManagementAre404(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Routes = nil })
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	for _, path := range []string{"/dashboard/routes", "/dashboard/routes/new", "/dashboard/routes/x/edit", "/dashboard/routes/x/delete"} {
		miscStatus(t, b.get(path), http.StatusNotFound)
	}
	miscStatus(t, b.post("/dashboard/routes", routeValues()), http.StatusNotFound)
}

func TestRoutePagesAreForAdmins(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper, "billing")
	b := h.signIn("dev")
	for _, path := range []string{"/dashboard/routes", "/dashboard/routes/new", "/dashboard/routes/x/edit", "/dashboard/routes/x/delete"} {
		miscStatus(t, b.get(path), http.StatusForbidden)
	}
	miscStatus(t, b.post("/dashboard/routes", routeValues()), http.StatusForbidden)
	if rs, _ := h.Routes.List(context.Background()); len(rs) != 0 {
		t.Error("a developer created a route")
	}
}

func TestRouteFormRendersUserTextInert(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	script, img := `<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`
	// Names and upstreams cannot hold markup: the refusal echoes it.
	p := b.post("/dashboard/routes", routeValues("name", script, "upstreams", "http://"+img))
	miscStatus(t, p, http.StatusBadRequest)
	miscInert(t, p.body, script)
	p = b.post("/dashboard/routes", routeValues("upstreams", "ftp://"+img))
	miscStatus(t, p, http.StatusBadRequest)
	miscInert(t, p.body, img)
	// An audience may: it is stored, and shown escaped.
	p = b.post("/dashboard/routes", routeValues("policy", auth.PolicyJWT, "audience", img+script))
	miscStatus(t, p, http.StatusSeeOther)
	p = b.get("/dashboard/routes/orders/edit")
	miscStatus(t, p, http.StatusOK)
	miscInert(t, p.body, img, script)
}

func TestRoutePrefixClashIsMarkedOnThePath(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	b := h.signIn("alice")
	miscStatus(t, b.post("/dashboard/routes", routeValues("name", "names")), http.StatusSeeOther)
	p := b.post("/dashboard/routes", routeValues("name", "names2", "path", "/Orders"))
	miscStatus(t, p, http.StatusConflict)
	if !strings.Contains(p.body, `aria-describedby="path-error"`) || strings.Contains(p.body, `aria-describedby="name-error"`) {
		t.Errorf("the clash is not marked on the path:\n%s", p.body)
	}
}
