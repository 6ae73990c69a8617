package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// A table the check phase refuses builds nothing: the old table stays in
// force, the very same one, and no metric series of the refused routes
// appear.
func TestRefusedTableBuildsNothing(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("a", "/a", auth.PolicyPublic))
	old := e.gw.table.Load()
	before := series(e.gw.metrics.duration)

	for _, tc := range []struct {
		name   string
		routes []auth.Route
		code   string
	}{
		{"a route that breaks a rule", []auth.Route{e.route("a", "/a", auth.PolicyPublic), e.route("new", "/new/", auth.PolicyPublic)}, auth.EINVALID},
		{"a name twice", []auth.Route{e.route("a", "/a", auth.PolicyPublic), e.route("new", "/new", auth.PolicyPublic), e.route("new", "/other", auth.PolicyPublic)}, auth.ECONFLICT},
		{"a case clash", []auth.Route{e.route("new", "/new", auth.PolicyPublic), e.route("a", "/A", auth.PolicyPublic), e.route("b", "/a", auth.PolicyPublic)}, auth.ECONFLICT},
		{"keys over http to another host", []auth.Route{func() auth.Route {
			r := e.route("new", "/new", auth.PolicyJWT)
			r.Issuer, r.Audience, r.AnyAudience = "http://idp.example.com", "api", false
			return r
		}()}, auth.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.gw.SetRoutes(tc.routes)
			var bad *auth.RouteTableError
			if !errors.As(err, &bad) || auth.ErrorCode(err) != tc.code {
				t.Fatalf("SetRoutes = %v, want a %s *auth.RouteTableError", err, tc.code)
			}
			if e.gw.table.Load() != old {
				t.Fatal("the table changed")
			}
			if n := series(e.gw.metrics.duration); n != before {
				t.Fatalf("%d series, %d before the refused table", n, before)
			}
		})
	}
}

// A change provisions only what changed: an unchanged route keeps its
// proxy (and its round-robin position), a route with other upstreams gets
// a new one, and the table holds the proxies of its own routes only.
func TestProvisionReusesWhatIsUnchanged(t *testing.T) {
	e := newTestEnv(t)
	other := newEchoUpstream(t)
	e.setRoutes(e.route("kept", "/kept", auth.PolicyPublic), e.route("moved", "/moved", auth.PolicyPublic), e.route("gone", "/gone", auth.PolicyPublic))
	proxies := func() map[string]any {
		out := map[string]any{}
		for _, rt := range e.gw.table.Load().routes {
			out[rt.name] = rt.proxy
		}
		return out
	}
	before := proxies()
	moved := e.route("moved", "/moved", auth.PolicyPublic)
	moved.Upstreams = []string{other.URL}
	e.setRoutes(e.route("kept", "/kept", auth.PolicyPublic), moved)
	after := proxies()
	if after["kept"] != before["kept"] {
		t.Error("an unchanged route got a new proxy")
	}
	if after["moved"] == before["moved"] {
		t.Error("a route with other upstreams kept its proxy")
	}
	if n := len(e.gw.table.Load().proxies); n != 2 {
		t.Errorf("the table holds %d proxies, want its 2 routes'", n)
	}
	echoOf(t, e.do("GET", "/moved/x"))
	if other.count() != 1 {
		t.Error("the moved route's request did not reach its new upstream")
	}
	wantStatus(t, e.do("GET", "/gone"), 404)
}

// A held route keeps its metric series (it still answers, with 503), a
// route removed from the table loses them.
func TestRetireForgetsOnlyRemovedRoutes(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("held", "/held", auth.PolicyPublic), e.route("gone", "/gone", auth.PolicyPublic))
	e.do("GET", "/held")
	e.do("GET", "/gone")
	if err := e.gw.SetRoutesHolding(nil, []auth.Route{e.route("held", "/held", auth.PolicyPublic)}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rt := range e.gw.table.Load().routes {
		names = append(names, rt.name)
	}
	if strings.Join(names, ",") != "held" {
		t.Fatalf("routes %v, want the held one", names)
	}
	if !hasSeries(e, "held") || hasSeries(e, "gone") {
		t.Fatalf("series of held: %v, of gone: %v; want true, false", hasSeries(e, "held"), hasSeries(e, "gone"))
	}
}

func hasSeries(e *testEnv, route string) bool {
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					return true
				}
			}
		}
	}
	return false
}
