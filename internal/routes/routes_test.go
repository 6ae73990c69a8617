package routes

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	svc     *Service
	db      *sqlite.DB
	clock   *testenv.Clock
	changed int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, clock: testenv.NewClock(start)}
	f.svc, err = New(Config{
		Store: db,
		Now:   f.clock.Now,
		FileRoutes: func() []auth.Route {
			return []auth.Route{{Name: "from-file", PathPrefix: "/from-file", Upstreams: []string{"http://file"}, Policy: auth.PolicyPublic}}
		},
		Changed: func() { f.changed++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func orders() auth.Route {
	return auth.Route{
		Name:         "orders",
		Hosts:        []string{"API.Example.com.", "*.example.com"},
		PathPrefix:   "/orders",
		Methods:      []string{"post", "GET", "get"},
		Upstreams:    []string{"HTTP://Orders:8080/"},
		Policy:       auth.PolicyJWT,
		Audience:     "https://orders.example.test",
		Scopes:       []string{"orders:write", "orders:read"},
		StripHeaders: []string{"x-debug"},
		Timeout:      5 * time.Second,
	}
}

func (f *fixture) create(t *testing.T, r auth.Route) *auth.Route {
	t.Helper()
	got, err := f.svc.Create(t.Context(), r, "key_admin")
	if err != nil {
		t.Fatalf("Create(%s): %v", r.Name, err)
	}
	return got
}

func (f *fixture) events(t *testing.T) []auth.AuditEvent {
	t.Helper()
	evs, _, err := f.db.ListAuditEvents(t.Context(), auth.AuditFilter{Limit: auth.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := auth.ErrorCode(err); got != code {
		t.Fatalf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

func TestNewNeedsStore(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a store succeeded")
	}
}

func TestCreateNormalizesStampsAndAudits(t *testing.T) {
	f := newFixture(t)
	in := orders()
	got := f.create(t, in)

	want := &auth.Route{
		Name:         "orders",
		Hosts:        []string{"*.example.com", "api.example.com"},
		PathPrefix:   "/orders",
		Methods:      []string{"GET", "POST"},
		Upstreams:    []string{"http://orders:8080"},
		Policy:       auth.PolicyJWT,
		Audience:     "https://orders.example.test",
		Scopes:       []string{"orders:read", "orders:write"},
		StripHeaders: []string{"X-Debug"},
		Timeout:      5 * time.Second,
		CreatedAt:    start,
		UpdatedAt:    start,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Create returned\n%#v\nwant\n%#v", got, want)
	}
	stored, err := f.svc.Get(t.Context(), "orders")
	if err != nil || !reflect.DeepEqual(stored, want) {
		t.Fatalf("Get = %#v, %v; want %#v", stored, err, want)
	}
	// Normalize sorts in place: the caller's slices must be left alone.
	if !reflect.DeepEqual(in, orders()) {
		t.Fatalf("Create changed its argument: %#v", in)
	}
	evs := f.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	e := evs[0]
	wantDetails := map[string]string{"name": "orders", "policy": "jwt", "path": "/orders", "upstreams": "1"}
	if e.Type != auth.EventRouteCreated || e.Actor != "key_admin" || !e.Time.Equal(start) || !reflect.DeepEqual(e.Details, wantDetails) {
		t.Fatalf("event = %+v, want route.created by key_admin with %v", e, wantDetails)
	}
	if f.changed != 1 {
		t.Fatalf("Changed called %d times, want 1", f.changed)
	}
}

func TestCreateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*auth.Route)
		code   string
	}{
		{"a route that breaks a rule", func(r *auth.Route) { r.Upstreams = nil }, auth.EINVALID},
		{"a bad name", func(r *auth.Route) { r.Name = "Orders" }, auth.EINVALID},
		{"a name of the routes file", func(r *auth.Route) { r.Name = "from-file" }, auth.ECONFLICT},
		{"a name already stored", func(r *auth.Route) { r.Name = "taken" }, auth.ECONFLICT},
		// The gateway serves no two prefixes that differ only by case.
		{"a path a stored route spells in another case", func(r *auth.Route) { r.PathPrefix = "/ORDERS" }, auth.ECONFLICT},
		{"a path the routes file spells in another case", func(r *auth.Route) { r.PathPrefix = "/From-File" }, auth.ECONFLICT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			taken := orders()
			taken.Name = "taken"
			f.create(t, taken)
			r := orders()
			tc.change(&r)
			_, err := f.svc.Create(t.Context(), r, "key_admin")
			wantCode(t, "Create", err, tc.code)
			list, _ := f.svc.List(t.Context())
			if len(list) != 1 || len(f.events(t)) != 1 || f.changed != 1 {
				t.Fatalf("after a refused create: %d routes, %d events, %d changes; want 1 each", len(list), len(f.events(t)), f.changed)
			}
		})
	}
}

func TestGetAndDeleteUnknownOrMalformed(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"nope", "", "UPPER", "a/b", string(make([]byte, 100))} {
		_, err := f.svc.Get(t.Context(), name)
		wantCode(t, "Get("+name+")", err, auth.ENOTFOUND)
		wantCode(t, "Delete("+name+")", f.svc.Delete(t.Context(), name, "key_admin"), auth.ENOTFOUND)
		_, err = f.svc.Update(t.Context(), name, func(*auth.Route) error { return nil }, "key_admin")
		wantCode(t, "Update("+name+")", err, auth.ENOTFOUND)
	}
	if f.changed != 0 || len(f.events(t)) != 0 {
		t.Fatalf("failed calls changed something: %d changes, %d events", f.changed, len(f.events(t)))
	}
}

func TestListByName(t *testing.T) {
	f := newFixture(t)
	if list, err := f.svc.List(t.Context()); err != nil || len(list) != 0 {
		t.Fatalf("List of none = %v, %v", list, err)
	}
	for _, n := range []string{"users", "admin", "orders"} {
		r := orders()
		r.Name = n
		f.create(t, r)
	}
	list, err := f.svc.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	if !reflect.DeepEqual(names, []string{"admin", "orders", "users"}) {
		t.Fatalf("List names = %v", names)
	}
}

func TestUpdateRefusesAPathAnotherRouteSpellsInAnotherCase(t *testing.T) {
	f := newFixture(t)
	f.create(t, orders())
	users := orders()
	users.Name, users.PathPrefix = "users", "/users"
	f.create(t, users)
	_, err := f.svc.Update(t.Context(), "users", func(r *auth.Route) error {
		r.PathPrefix = "/Orders"
		return nil
	}, "key_admin")
	wantCode(t, "Update", err, auth.ECONFLICT)
	// The route's own prefix, in another case, is a change of spelling.
	if _, err := f.svc.Update(t.Context(), "orders", func(r *auth.Route) error {
		r.PathPrefix = "/Orders"
		return nil
	}, "key_admin"); err != nil {
		t.Fatalf("respelling a route's own prefix: %v", err)
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	f.create(t, orders())
	f.clock.Add(time.Minute)
	got, err := f.svc.Update(t.Context(), "orders", func(r *auth.Route) error {
		r.Methods = append(r.Methods, "delete")
		r.Policy = auth.PolicyAny
		return nil
	}, "key_other")
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if !reflect.DeepEqual(got.Methods, []string{"DELETE", "GET", "POST"}) || got.Policy != auth.PolicyAny {
		t.Fatalf("Update did not apply and normalize the change: %+v", got)
	}
	if !got.CreatedAt.Equal(start) || !got.UpdatedAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("times = %v, %v; want created %v, updated a minute later", got.CreatedAt, got.UpdatedAt, start)
	}
	stored, _ := f.svc.Get(t.Context(), "orders")
	if !reflect.DeepEqual(stored, got) {
		t.Fatalf("stored %+v, returned %+v", stored, got)
	}
	evs := f.events(t)
	if len(evs) != 2 || evs[1].Type != auth.EventRouteUpdated || evs[1].Actor != "key_other" || evs[1].Details["policy"] != "any" {
		t.Fatalf("events = %+v, want a route.updated by key_other", evs)
	}
	if f.changed != 2 {
		t.Fatalf("Changed called %d times, want 2", f.changed)
	}
}

func TestUpdateMovesUpdatedAtWithAStoppedClock(t *testing.T) {
	f := newFixture(t)
	f.create(t, orders())
	got, err := f.svc.Update(t.Context(), "orders", func(*auth.Route) error { return nil }, "key_admin")
	if err != nil {
		t.Fatal(err)
	}
	// The same instant again would let a writer holding the old version
	// overwrite this update.
	if !got.UpdatedAt.After(start) {
		t.Fatalf("UpdatedAt = %v, want after %v", got.UpdatedAt, start)
	}
	stale := orders()
	stale.CreatedAt, stale.UpdatedAt = start, start.Add(time.Hour)
	if err := f.db.UpdateRoute(t.Context(), &stale, start); auth.ErrorCode(err) != auth.ECONFLICT {
		t.Fatalf("a write with the version before the update: %v, want a conflict", err)
	}
}

func TestUpdateRefuses(t *testing.T) {
	errOwn := errors.New("the change's own error")
	for _, tc := range []struct {
		name   string
		change func(*auth.Route) error
		code   string
	}{
		{"a rename", func(r *auth.Route) error { r.Name = "other"; return nil }, auth.EINVALID},
		{"a result that breaks a rule", func(r *auth.Route) error { r.Policy = "nobody"; return nil }, auth.EINVALID},
		{"the change's error", func(*auth.Route) error { return errOwn }, auth.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			want := f.create(t, orders())
			_, err := f.svc.Update(t.Context(), "orders", tc.change, "key_admin")
			wantCode(t, "Update", err, tc.code)
			if tc.code == auth.EINTERNAL && !errors.Is(err, errOwn) {
				t.Fatalf("Update returned %v, want the change's error", err)
			}
			got, _ := f.svc.Get(t.Context(), "orders")
			if !reflect.DeepEqual(got, want) || len(f.events(t)) != 1 || f.changed != 1 {
				t.Fatalf("a refused update wrote something")
			}
		})
	}
}

func TestUpdateRetriesAfterAConcurrentChange(t *testing.T) {
	f := newFixture(t)
	f.create(t, orders())
	calls := 0
	got, err := f.svc.Update(t.Context(), "orders", func(r *auth.Route) error {
		calls++
		if calls == 1 {
			// Another writer gets in between this read and its write.
			if _, err := f.svc.Update(t.Context(), "orders", func(r *auth.Route) error {
				r.Scopes = []string{"other"}
				return nil
			}, "key_other"); err != nil {
				t.Fatalf("concurrent update: %v", err)
			}
		}
		r.Audience = "https://api.example"
		return nil
	}, "key_admin")
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if calls != 2 {
		t.Fatalf("change called %d times, want 2 (one retry)", calls)
	}
	if !reflect.DeepEqual(got.Scopes, []string{"other"}) || got.Audience != "https://api.example" {
		t.Fatalf("the retry lost a change: %+v", got)
	}
}

func TestUpdateGivesUpAfterRepeatedConflicts(t *testing.T) {
	f := newFixture(t)
	f.create(t, orders())
	calls := 0
	_, err := f.svc.Update(t.Context(), "orders", func(r *auth.Route) error {
		calls++
		if _, err := f.svc.Update(t.Context(), "orders", func(*auth.Route) error { return nil }, "key_other"); err != nil {
			t.Fatalf("concurrent update: %v", err)
		}
		return nil
	}, "key_admin")
	wantCode(t, "Update", err, auth.ECONFLICT)
	if calls != updateAttempts {
		t.Fatalf("change called %d times, want %d", calls, updateAttempts)
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	f.create(t, orders())
	if err := f.svc.Delete(t.Context(), "orders", "key_admin"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := f.svc.Get(t.Context(), "orders")
	wantCode(t, "Get after Delete", err, auth.ENOTFOUND)
	evs := f.events(t)
	if len(evs) != 2 || evs[1].Type != auth.EventRouteDeleted || evs[1].Details["name"] != "orders" {
		t.Fatalf("events = %+v, want a route.deleted", evs)
	}
	if f.changed != 2 {
		t.Fatalf("Changed called %d times, want 2", f.changed)
	}
	wantCode(t, "second Delete", f.svc.Delete(t.Context(), "orders", "key_admin"), auth.ENOTFOUND)
	if f.changed != 2 {
		t.Fatalf("a failed delete called Changed")
	}
}
