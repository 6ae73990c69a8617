package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	routesvc "github.com/gatehouse-dev/gatehouse/internal/routes"
)

// newRoutesEnv is newTestEnv with the routes service over the same store;
// "from-file" stands for a route of the routes file. It returns a count of
// the reloads the service asked for.
func newRoutesEnv(t *testing.T) (*testEnv, *atomic.Int64) {
	t.Helper()
	env := newTestEnv(t)
	var changed atomic.Int64
	svc, err := routesvc.New(routesvc.Config{
		Store: env.db,
		Now:   env.clock.Now,
		FileRoutes: func() []auth.Route {
			return []auth.Route{{Name: "from-file", PathPrefix: "/from-file", Upstreams: []string{"http://file"}, Policy: auth.PolicyPublic}}
		},
		Changed: func() { changed.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := NewServer(Config{Keys: env.keys, Audit: env.db, Routes: svc, Logger: logger, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	env.server = srv
	env.ts.Config.Handler = srv.Handler()
	return env, &changed
}

func TestRouteLifecycleThroughClient(t *testing.T) {
	t.Parallel()
	env, changed := newRoutesEnv(t)
	ctx := context.Background()
	c := env.client

	created, err := c.CreateRoute(ctx, RouteRequest{
		Name:            "orders",
		Hosts:           []string{"API.example.com"},
		Path:            "/orders",
		Methods:         []string{"get", "post"},
		Upstreams:       []string{"http://orders:8080/"},
		Timeout:         "5s",
		Policy:          auth.PolicyJWT,
		Scopes:          []string{"orders:read"},
		Audience:        "https://orders.example.test",
		RateLimit:       &RateLimit{Rate: 10, Burst: 20},
		ClientRateLimit: &RateLimit{Rate: 1.5, Burst: 3},
		StripHeaders:    []string{"x-debug"},
	})
	if err != nil {
		t.Fatalf("CreateRoute: %v", err)
	}
	want := GatewayRoute{
		Name: "orders", Hosts: []string{"api.example.com"}, Path: "/orders", Methods: []string{"GET", "POST"},
		Upstreams: []string{"http://orders:8080"}, Timeout: "5s", Policy: "jwt", Scopes: []string{"orders:read"},
		Audience: "https://orders.example.test", Algorithms: []string{}, RateLimit: RateLimit{Rate: 10, Burst: 20}, ClientRateLimit: RateLimit{Rate: 1.5, Burst: 3},
		StripHeaders: []string{"X-Debug"}, CreatedAt: testStart, UpdatedAt: testStart,
	}
	if !reflect.DeepEqual(*created, want) {
		t.Fatalf("created\n%+v\nwant\n%+v", *created, want)
	}
	if got, err := c.GetRoute(ctx, "orders"); err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetRoute = %+v, %v", got, err)
	}
	list, err := c.ListRoutes(ctx)
	if err != nil || len(list.Items) != 1 || !reflect.DeepEqual(list.Items[0], want) {
		t.Fatalf("ListRoutes = %+v, %v", list, err)
	}

	env.clock.Add(time.Minute)
	updated, err := c.UpdateRoute(ctx, "orders", RoutePatch{
		Hosts:     &[]string{},
		Policy:    ptr(auth.PolicyAny),
		Timeout:   ptr(""),
		RateLimit: &RateLimit{},
	})
	if err != nil {
		t.Fatalf("UpdateRoute: %v", err)
	}
	want.Hosts, want.Policy, want.Timeout, want.RateLimit = []string{}, "any", "", RateLimit{}
	want.UpdatedAt = testStart.Add(time.Minute)
	if !reflect.DeepEqual(*updated, want) {
		t.Fatalf("updated\n%+v\nwant\n%+v", *updated, want)
	}

	if err := c.DeleteRoute(ctx, "orders"); err != nil {
		t.Fatalf("DeleteRoute: %v", err)
	}
	_, err = c.GetRoute(ctx, "orders")
	assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
	if n := changed.Load(); n != 3 {
		t.Fatalf("the gateway was told of %d changes, want 3", n)
	}

	events, err := c.ListAuditEvents(ctx, AuditEventsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events.Items {
		if strings.HasPrefix(e.Type, "route.") {
			types = append(types, e.Type)
			if e.Actor != env.adminID {
				t.Errorf("%s: actor %q, want the admin key %q", e.Type, e.Actor, env.adminID)
			}
		}
	}
	if !reflect.DeepEqual(types, []string{auth.EventRouteCreated, auth.EventRouteUpdated, auth.EventRouteDeleted}) {
		t.Fatalf("route events = %v", types)
	}
}

// TestRouteWireForm pins the member names shared with the routes file and
// the shape of a minimal route: every member present, lists as [].
func TestRouteWireForm(t *testing.T) {
	t.Parallel()
	env, _ := newRoutesEnv(t)
	resp, body := env.do(t, http.MethodPost, "/admin/v1/routes", "application/json",
		strings.NewReader(`{"name":"min","upstreams":["http://a"],"policy":"public"}`), env.adminHeader())
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/admin/v1/routes/min" {
		t.Fatalf("status %d, Location %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "min", "hosts": []any{}, "path": "/", "methods": []any{}, "upstreams": []any{"http://a"},
		"strip_prefix": false, "timeout": "", "policy": "public", "scopes": []any{}, "audience": "",
		"issuer": "", "jwks_uri": "", "algorithms": []any{},
		"rate_limit": map[string]any{"rate": 0.0, "burst": 0.0}, "client_rate_limit": map[string]any{"rate": 0.0, "burst": 0.0},
		"internal_jwt": false, "strip_headers": []any{},
		"any_audience": false, "allow_path_params": false, "case_insensitive": false, "forward_method_override": false,
		"created_at": "2030-05-06T07:08:09Z", "updated_at": "2030-05-06T07:08:09Z",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wire form\n%v\nwant\n%v", got, want)
	}
}

func TestRouteWireGolden(t *testing.T) {
	t.Parallel()
	created := time.Date(2030, 1, 1, 0, 0, 0, 123456000, time.UTC)
	full := &auth.Route{
		Name: "orders", Hosts: []string{"*.example.com", "api.example.com"}, PathPrefix: "/orders/v1",
		Methods: []string{"GET", "POST"}, Upstreams: []string{"http://10.0.0.1:8080", "https://orders.internal/base"},
		StripPrefix: true, Timeout: 90 * time.Second, Policy: auth.PolicyJWT, Scopes: []string{"orders:read"},
		Audience: "https://api.example.com", Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/jwks",
		Algorithms: []string{"ES256", "RS256"}, RateLimit: auth.RateLimit{Rate: 100, Burst: 200},
		ClientRateLimit: auth.RateLimit{Rate: 0.5, Burst: 5}, InternalJWT: true, StripHeaders: []string{"Cookie"},
		AllowPathParams: true, CaseInsensitive: true, ForwardMethodOverride: true, RequireMFA: true,
		CreatedAt: created, UpdatedAt: created.Add(time.Hour),
	}
	minimal := &auth.Route{Name: "health", PathPrefix: "/", Upstreams: []string{"http://health"}, Policy: auth.PolicyPublic,
		CreatedAt: created, UpdatedAt: created}
	cases := map[string]any{
		"route_full":       routeFromRecord(full),
		"route_minimal":    routeFromRecord(minimal),
		"route_list":       RouteList{Items: []GatewayRoute{routeFromRecord(minimal)}},
		"route_list_empty": RouteList{Items: []GatewayRoute{}},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "wire", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed:\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

func TestRouteRequestsRefused(t *testing.T) {
	t.Parallel()
	env, changed := newRoutesEnv(t)
	if _, err := env.client.CreateRoute(context.Background(), RouteRequest{Name: "orders", Path: "/orders", Upstreams: []string{"http://a"}, Policy: "jwt", Audience: "api"}); err != nil {
		t.Fatal(err)
	}
	_, readOnly := env.createKey(t, apikey.CreateParams{Owner: "svc", Scopes: []string{"read"}})
	big := `{"name":"big","upstreams":["http://a"],"policy":"jwt","audience":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`
	for _, tc := range []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		code                     string
	}{
		{"unknown member", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"jwt","upstream":"http://b"}`, nil, 400, auth.EINVALID},
		{"member in another case", "POST", "/admin/v1/routes", `{"Name":"x","upstreams":["http://a"],"policy":"jwt"}`, nil, 400, auth.EINVALID},
		{"null list", "POST", "/admin/v1/routes", `{"name":"x","upstreams":null,"policy":"jwt"}`, nil, 400, auth.EINVALID},
		{"wrong type", "POST", "/admin/v1/routes", `{"name":"x","upstreams":"http://a","policy":"jwt"}`, nil, 400, auth.EINVALID},
		{"malformed JSON", "POST", "/admin/v1/routes", `{"name":"x",`, nil, 400, auth.EINVALID},
		{"timeout not a duration", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"jwt","timeout":"5"}`, nil, 400, auth.EINVALID},
		{"timeout over the maximum", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"jwt","timeout":"11m"}`, nil, 400, auth.EINVALID},
		{"a route that breaks a rule", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["ftp://a"],"policy":"jwt"}`, nil, 400, auth.EINVALID},
		{"a name of the routes file", "POST", "/admin/v1/routes", `{"name":"from-file","upstreams":["http://a"],"policy":"jwt","audience":"api"}`, nil, 409, auth.ECONFLICT},
		{"a taken name", "POST", "/admin/v1/routes", `{"name":"orders","upstreams":["http://a"],"policy":"jwt","audience":"api"}`, nil, 409, auth.ECONFLICT},
		// A token minted for another API of the issuer would pass.
		{"a jwt route without an audience", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"jwt"}`, nil, 400, auth.EINVALID},
		{"an any route without an audience", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"any"}`, nil, 400, auth.EINVALID},
		{"both an audience and any_audience", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"jwt","audience":"a","any_audience":true}`, nil, 400, auth.EINVALID},
		{"patch the audience away", "PATCH", "/admin/v1/routes/orders", `{"audience":""}`, nil, 400, auth.EINVALID},
		// No two prefixes that differ only by case.
		{"a path another route spells in another case", "POST", "/admin/v1/routes", `{"name":"x","path":"/Orders","upstreams":["http://a"],"policy":"public"}`, nil, 409, auth.ECONFLICT},
		{"an oversized body", "POST", "/admin/v1/routes", big, nil, 413, auth.ETOOLARGE},
		{"no key", "POST", "/admin/v1/routes", `{"name":"x","upstreams":["http://a"],"policy":"jwt"}`, http.Header{}, 401, auth.EUNAUTHORIZED},
		{"a key without the admin scope", "GET", "/admin/v1/routes", ``, http.Header{"X-API-Key": {readOnly}}, 403, auth.EFORBIDDEN},
		{"a forged key", "GET", "/admin/v1/routes/orders", ``, http.Header{"X-API-Key": {flipLast(env.adminKey)}}, 401, auth.EUNAUTHORIZED},
		{"a query parameter on list", "GET", "/admin/v1/routes?limit=5", ``, nil, 400, auth.EINVALID},
		{"get an unknown route", "GET", "/admin/v1/routes/nope", ``, nil, 404, auth.ENOTFOUND},
		{"get a malformed name", "GET", "/admin/v1/routes/%00", ``, nil, 400, auth.EINVALID},
		{"patch the name", "PATCH", "/admin/v1/routes/orders", `{"name":"other"}`, nil, 400, auth.EINVALID},
		{"patch an unknown member", "PATCH", "/admin/v1/routes/orders", `{"upstream":["http://b"]}`, nil, 400, auth.EINVALID},
		{"patch to a broken route", "PATCH", "/admin/v1/routes/orders", `{"upstreams":[]}`, nil, 400, auth.EINVALID},
		{"patch a public route with scopes", "PATCH", "/admin/v1/routes/orders", `{"policy":"public","scopes":["a"]}`, nil, 400, auth.EINVALID},
		{"patch without a body", "PATCH", "/admin/v1/routes/orders", ``, nil, 400, auth.EINVALID},
		{"patch an unknown route", "PATCH", "/admin/v1/routes/nope", `{"policy":"any"}`, nil, 404, auth.ENOTFOUND},
		{"delete an unknown route", "DELETE", "/admin/v1/routes/nope", ``, nil, 404, auth.ENOTFOUND},
		{"a method the path does not take", "PUT", "/admin/v1/routes/orders", `{}`, nil, 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := tc.header
			if header == nil {
				header = env.adminHeader()
			}
			ct := ""
			if tc.body != "" {
				ct = "application/json"
			}
			resp, body := env.do(t, tc.method, tc.path, ct, strings.NewReader(tc.body), header)
			p := assertProblem(t, resp, body, tc.status)
			if p.Type != problemTypePrefix+tc.code {
				t.Errorf("type %q, want code %q (%s)", p.Type, tc.code, p.Detail)
			}
		})
	}
	got, err := env.client.GetRoute(context.Background(), "orders")
	if err != nil || got.Policy != "jwt" || !reflect.DeepEqual(got.Upstreams, []string{"http://a"}) {
		t.Fatalf("a refused request changed the route: %+v, %v", got, err)
	}
	if n := changed.Load(); n != 1 {
		t.Fatalf("%d changes reported, want only the first create", n)
	}
	env.assertNoSecretLogged(t)
}

func TestRoutesNotConfiguredAreNotFound(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	for _, rt := range routes() {
		if rt.access != adminRoutes {
			continue
		}
		path := strings.ReplaceAll(rt.path, "{name}", "orders")
		resp, body := env.do(t, rt.method, path, "application/json", strings.NewReader(`{}`), env.adminHeader())
		p := assertProblem(t, resp, body, http.StatusNotFound)
		if !strings.Contains(p.Detail, "not enabled") {
			t.Errorf("%s: detail %q", rt.pattern(), p.Detail)
		}
	}
	// Authentication still comes first.
	resp, body := env.do(t, http.MethodGet, "/admin/v1/routes", "", nil, nil)
	assertProblem(t, resp, body, http.StatusUnauthorized)
}

// FuzzRoutePatch feeds PATCH bodies through the decoder and onto a valid
// route: nothing may panic, every refusal is a 4xx code, and what is
// accepted is a normalized route.
func FuzzRoutePatch(f *testing.F) {
	for _, s := range []string{
		`{"hosts":[],"timeout":"","rate_limit":{"rate":0,"burst":0}}`,
		`{"policy":"public","scopes":["a"]}`,
		`{"upstreams":null}`,
		`{"timeout":"1h"}`,
		`{"name":"x"}`,
		`{"rate_limit":{"rate":1e400,"burst":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p RoutePatch
		if err := decodeJSONBytes(body, &p); err != nil {
			if code := auth.ErrorCode(err); code != auth.EINVALID {
				t.Fatalf("decode error %v has code %q", err, code)
			}
			return
		}
		r := auth.Route{Name: "orders", PathPrefix: "/orders", Upstreams: []string{"http://a"}, Policy: auth.PolicyJWT, AnyAudience: true}
		if err := p.apply(&r); err != nil {
			if code := auth.ErrorCode(err); code != auth.EINVALID {
				t.Fatalf("apply error %v has code %q", err, code)
			}
			return
		}
		if err := r.Normalize(); err != nil {
			if code := auth.ErrorCode(err); code != auth.EINVALID {
				t.Fatalf("Normalize error %v has code %q", err, code)
			}
			return
		}
		if _, err := json.Marshal(routeFromRecord(&r)); err != nil {
			t.Fatalf("an accepted route cannot be encoded: %v", err)
		}
	})
}

// A jwt route names its audience or says any_audience; setting one through
// a patch clears the other, and the settings of issue 9 round-trip.
func TestRouteAudienceAndPathSettingsThroughClient(t *testing.T) {
	t.Parallel()
	env, _ := newRoutesEnv(t)
	ctx := context.Background()
	c := env.client
	_, err := c.CreateRoute(ctx, RouteRequest{Name: "legacy", Path: "/app", Upstreams: []string{"http://a"}, Policy: auth.PolicyJWT})
	if err == nil || !strings.Contains(err.Error(), "any_audience: true") {
		t.Fatalf("a jwt route without an audience: %v, want a refusal naming any_audience", err)
	}
	got, err := c.CreateRoute(ctx, RouteRequest{Name: "legacy", Path: "/app", Upstreams: []string{"http://a"}, Policy: auth.PolicyAny,
		AnyAudience: true, AllowPathParams: true, CaseInsensitive: true, ForwardMethodOverride: true})
	if err != nil {
		t.Fatal(err)
	}
	if !got.AnyAudience || !got.AllowPathParams || !got.CaseInsensitive || !got.ForwardMethodOverride || got.Audience != "" {
		t.Fatalf("created %+v", got)
	}
	got, err = c.UpdateRoute(ctx, "legacy", RoutePatch{Audience: ptr("https://app.example.test"), CaseInsensitive: ptr(false)})
	if err != nil {
		t.Fatalf("setting an audience: %v", err)
	}
	if got.AnyAudience || got.Audience != "https://app.example.test" || got.CaseInsensitive || !got.AllowPathParams {
		t.Fatalf("after setting the audience: %+v", got)
	}
	got, err = c.UpdateRoute(ctx, "legacy", RoutePatch{AnyAudience: ptr(true)})
	if err != nil {
		t.Fatalf("back to any audience: %v", err)
	}
	if !got.AnyAudience || got.Audience != "" {
		t.Fatalf("after any_audience: %+v", got)
	}
	got, err = c.UpdateRoute(ctx, "legacy", RoutePatch{Policy: ptr(auth.PolicyPublic)})
	if err != nil {
		t.Fatalf("to a public route: %v", err)
	}
	if got.AnyAudience {
		t.Fatalf("a public route kept any_audience: %+v", got)
	}
}
