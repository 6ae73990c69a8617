package storetest

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// RunRoutes runs the contract suite of auth.RouteStore. open is as for Run:
// a fresh, empty store per test, closed in t.Cleanup, safe to call
// concurrently.
func RunRoutes(t *testing.T, open func(t *testing.T) auth.Store) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s auth.Store)
	}{
		{"route: create then get and list return every field unchanged", testRouteRoundTrip},
		{"route: nil and empty lists read back nil, zero values zero", testRouteZeroValues},
		{"route: create appends its events in the same transaction", testRouteCreateEvents},
		{"route: duplicate name is a conflict and writes nothing", testRouteDuplicate},
		{"route: unknown name is not found and writes nothing", testRouteNotFound},
		{"route: list returns every route in ascending name order (bytewise)", testRouteListOrder},
		{"route: update replaces every field and appends its events", testRouteUpdate},
		{"route: update with a stale ifUpdatedAt is a conflict and writes nothing", testRouteUpdateStale},
		{"route: delete removes it and appends its events", testRouteDelete},
		{"route: what the database cannot keep is invalid and writes nothing", testRouteInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// fullRoute sets every field of a route to a value other than its zero
// value, so a field a backend forgets to keep shows up.
func fullRoute(name string) *auth.Route {
	return &auth.Route{
		Name:            name,
		Hosts:           []string{"*.example.com", "api.example.com"},
		PathPrefix:      "/orders/v1",
		Methods:         []string{"GET", "POST"},
		Upstreams:       []string{"http://10.0.0.1:8080/base", "https://orders.internal"},
		StripPrefix:     true,
		Timeout:         12*time.Second + 345*time.Millisecond,
		Policy:          auth.PolicyJWT,
		Scopes:          []string{"orders:read", "orders:write"},
		Audience:        "https://api.example.com",
		Issuer:          "https://idp.example.com/realms/a",
		JWKSURI:         "https://idp.example.com/keys",
		Algorithms:      []string{"ES256", "RS256"},
		RateLimit:       auth.RateLimit{Rate: 0.1, Burst: 7},
		ClientRateLimit: auth.RateLimit{Rate: 1234.5678, Burst: 1_000_000},
		InternalJWT:     true,
		StripHeaders:    []string{"Cookie", "X-Debug"},
		// Normalize would refuse it beside an audience; a store keeps
		// what it is given.
		AnyAudience:           true,
		AllowPathParams:       true,
		CaseInsensitive:       true,
		ForwardMethodOverride: true,
		KeyEnvironment:        auth.KeyEnvTest,
		RequireMFA:            true,
		CreatedAt:             base,
		UpdatedAt:             at(time.Second),
	}
}

// wantRoute compares strictly (reflect.DeepEqual): a nil list and an empty
// one differ, and so do times in different locations.
func wantRoute(t *testing.T, what string, want, got *auth.Route) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil", what)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s differs:\ngot  %#v\nwant %#v", what, got, want)
	}
}

func mustCreateRoute(t *testing.T, s auth.Store, r *auth.Route) {
	t.Helper()
	if err := s.CreateRoute(t.Context(), r); err != nil {
		t.Fatalf("CreateRoute(%s): %v", r.Name, err)
	}
}

func mustGetRoute(t *testing.T, s auth.Store, name string) *auth.Route {
	t.Helper()
	r, err := s.GetRoute(t.Context(), name)
	if err != nil {
		t.Fatalf("GetRoute(%s): %v", name, err)
	}
	return r
}

func testRouteRoundTrip(t *testing.T, s auth.Store) {
	want := fullRoute("orders")
	mustCreateRoute(t, s, fullRoute("orders"))
	wantRoute(t, "GetRoute", want, mustGetRoute(t, s, "orders"))
	list, err := s.ListRoutes(t.Context())
	if err != nil {
		t.Fatalf("ListRoutes: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListRoutes returned %d routes, want 1", len(list))
	}
	wantRoute(t, "ListRoutes[0]", want, list[0])
}

func testRouteZeroValues(t *testing.T, s auth.Store) {
	// Empty lists and nil lists alike read back nil, the form
	// auth.Route.Normalize leaves them in, so a normalized route reads back
	// equal to itself.
	empty := &auth.Route{
		Name: "empty", PathPrefix: "/", Upstreams: []string{"http://a"}, Policy: auth.PolicyPublic,
		Hosts: []string{}, Methods: []string{}, Scopes: []string{}, Algorithms: []string{}, StripHeaders: []string{},
	}
	mustCreateRoute(t, s, empty)
	bare := &auth.Route{Name: "bare"}
	mustCreateRoute(t, s, bare)
	wantRoute(t, "empty lists", &auth.Route{Name: "empty", PathPrefix: "/", Upstreams: []string{"http://a"}, Policy: auth.PolicyPublic},
		mustGetRoute(t, s, "empty"))
	wantRoute(t, "zero route", &auth.Route{Name: "bare"}, mustGetRoute(t, s, "bare"))
}

func testRouteCreateEvents(t *testing.T, s auth.Store) {
	ev := auth.AuditEvent{Time: base, Type: auth.EventRouteCreated, Actor: "key_admin", Count: 1,
		Details: map[string]string{"name": "orders", "policy": "jwt"}}
	if err := s.CreateRoute(t.Context(), fullRoute("orders"), ev); err != nil {
		t.Fatalf("CreateRoute: %v", err)
	}
	wantEvents(t, s, ev)
}

func testRouteDuplicate(t *testing.T, s auth.Store) {
	mustCreateRoute(t, s, fullRoute("orders"))
	dup := fullRoute("orders")
	dup.PathPrefix = "/other"
	err := s.CreateRoute(t.Context(), dup, oev(auth.EventRouteCreated, base))
	wantCode(t, "CreateRoute of a taken name", err, auth.ECONFLICT)
	wantRoute(t, "the first route", fullRoute("orders"), mustGetRoute(t, s, "orders"))
	wantNoEvents(t, s)
}

func testRouteNotFound(t *testing.T, s auth.Store) {
	mustCreateRoute(t, s, fullRoute("orders"))
	_, err := s.GetRoute(t.Context(), "nope")
	wantCode(t, "GetRoute", err, auth.ENOTFOUND)
	_, err = s.GetRoute(t.Context(), "ORDERS")
	wantCode(t, "GetRoute of the name in another case", err, auth.ENOTFOUND)
	r := fullRoute("nope")
	err = s.UpdateRoute(t.Context(), r, r.UpdatedAt, oev(auth.EventRouteUpdated, base))
	wantCode(t, "UpdateRoute", err, auth.ENOTFOUND)
	err = s.DeleteRoute(t.Context(), "nope", oev(auth.EventRouteDeleted, base))
	wantCode(t, "DeleteRoute", err, auth.ENOTFOUND)
	wantNoEvents(t, s)
}

func testRouteListOrder(t *testing.T, s auth.Store) {
	list, err := s.ListRoutes(t.Context())
	if err != nil || len(list) != 0 {
		t.Fatalf("ListRoutes of an empty store = %v, %v; want none", list, err)
	}
	// Bytewise: '-' < '.' < digits < '_' < letters; a locale collation
	// would order these differently.
	names := []string{"b", "a_b", "a.b", "a-b", "a", "a9", "ab", "0"}
	for _, n := range names {
		mustCreateRoute(t, s, fullRoute(n))
	}
	list, err = s.ListRoutes(t.Context())
	if err != nil {
		t.Fatalf("ListRoutes: %v", err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.Name)
	}
	want := []string{"0", "a", "a-b", "a.b", "a9", "a_b", "ab", "b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListRoutes order = %q, want %q", got, want)
	}
}

func testRouteUpdate(t *testing.T, s auth.Store) {
	old := fullRoute("orders")
	mustCreateRoute(t, s, old)
	next := &auth.Route{
		Name:       "orders",
		Hosts:      []string{"shop.example"},
		PathPrefix: "/",
		Upstreams:  []string{"http://new:1"},
		Timeout:    time.Minute,
		Policy:     auth.PolicyAPIKey,
		Scopes:     []string{"x"},
		RateLimit:  auth.RateLimit{Rate: 3, Burst: 4},
		CreatedAt:  base,
		UpdatedAt:  at(time.Hour),
	}
	ev := oev(auth.EventRouteUpdated, at(time.Hour))
	if err := s.UpdateRoute(t.Context(), next, old.UpdatedAt, ev); err != nil {
		t.Fatalf("UpdateRoute: %v", err)
	}
	want := *next
	wantRoute(t, "after update", &want, mustGetRoute(t, s, "orders"))
	wantEvents(t, s, ev)
}

func testRouteUpdateStale(t *testing.T, s auth.Store) {
	old := fullRoute("orders")
	mustCreateRoute(t, s, old)
	first := fullRoute("orders")
	first.Upstreams, first.UpdatedAt = []string{"http://first"}, at(time.Hour)
	if err := s.UpdateRoute(t.Context(), first, old.UpdatedAt); err != nil {
		t.Fatalf("first UpdateRoute: %v", err)
	}
	// A second writer that read the route before the first update.
	second := fullRoute("orders")
	second.Upstreams, second.UpdatedAt = []string{"http://second"}, at(2*time.Hour)
	err := s.UpdateRoute(t.Context(), second, old.UpdatedAt, oev(auth.EventRouteUpdated, at(2*time.Hour)))
	wantCode(t, "UpdateRoute with a stale ifUpdatedAt", err, auth.ECONFLICT)
	wantRoute(t, "after the stale update", first, mustGetRoute(t, s, "orders"))
	wantNoEvents(t, s)

	// A zero ifUpdatedAt matches only a route stored with a zero UpdatedAt.
	err = s.UpdateRoute(t.Context(), second, time.Time{})
	wantCode(t, "UpdateRoute with a zero ifUpdatedAt", err, auth.ECONFLICT)
	zero := &auth.Route{Name: "zero"}
	mustCreateRoute(t, s, zero)
	zero2 := fullRoute("zero")
	if err := s.UpdateRoute(t.Context(), zero2, time.Time{}); err != nil {
		t.Fatalf("UpdateRoute of a route with a zero UpdatedAt: %v", err)
	}
	wantRoute(t, "zero updated", fullRoute("zero"), mustGetRoute(t, s, "zero"))
}

func testRouteDelete(t *testing.T, s auth.Store) {
	mustCreateRoute(t, s, fullRoute("orders"))
	mustCreateRoute(t, s, fullRoute("users"))
	ev := oev(auth.EventRouteDeleted, at(time.Hour))
	if err := s.DeleteRoute(t.Context(), "orders", ev); err != nil {
		t.Fatalf("DeleteRoute: %v", err)
	}
	_, err := s.GetRoute(t.Context(), "orders")
	wantCode(t, "GetRoute after delete", err, auth.ENOTFOUND)
	wantRoute(t, "the other route", fullRoute("users"), mustGetRoute(t, s, "users"))
	wantEvents(t, s, ev)
	err = s.DeleteRoute(t.Context(), "orders", ev)
	wantCode(t, "second DeleteRoute", err, auth.ENOTFOUND)
	wantEvents(t, s, ev)
	// The name is free again.
	mustCreateRoute(t, s, fullRoute("orders"))
}

func testRouteInvalid(t *testing.T, s auth.Store) {
	mustCreateRoute(t, s, fullRoute("orders"))
	cases := map[string]func(r *auth.Route){
		"no name":                 func(r *auth.Route) { r.Name = "" },
		"NUL in a string":         func(r *auth.Route) { r.Audience = "a\x00b" },
		"invalid UTF-8 in a list": func(r *auth.Route) { r.Hosts = []string{"\xff"} },
		"NUL in the path":         func(r *auth.Route) { r.PathPrefix = "/\x00" },
		"NaN rate":                func(r *auth.Route) { r.RateLimit.Rate = math.NaN() },
		"infinite client rate":    func(r *auth.Route) { r.ClientRateLimit.Rate = math.Inf(1) },
	}
	for name, change := range cases {
		r := fullRoute("orders")
		change(r)
		err := s.UpdateRoute(t.Context(), r, fullRoute("orders").UpdatedAt, oev(auth.EventRouteUpdated, base))
		wantCode(t, "UpdateRoute, "+name, err, auth.EINVALID)
		if r.Name != "" {
			r.Name = "new"
		}
		err = s.CreateRoute(t.Context(), r, oev(auth.EventRouteCreated, base))
		wantCode(t, "CreateRoute, "+name, err, auth.EINVALID)
	}
	if err := s.CreateRoute(t.Context(), nil); auth.ErrorCode(err) != auth.EINVALID {
		t.Fatalf("CreateRoute(nil) = %v, want EINVALID", err)
	}
	bad := oev(auth.EventRouteDeleted, base)
	bad.Details = map[string]string{"name": "\x00"}
	wantCode(t, "DeleteRoute with an unstorable event", s.DeleteRoute(t.Context(), "orders", bad), auth.EINVALID)
	wantRoute(t, "the route", fullRoute("orders"), mustGetRoute(t, s, "orders"))
	list, err := s.ListRoutes(t.Context())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListRoutes = %d routes, %v; want only the first", len(list), err)
	}
	wantNoEvents(t, s)
}
