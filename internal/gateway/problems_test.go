package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// TestOwnRefusalsAnswerTheirKind: each of the gateway's own refusals is
// answered with the type and status of its row (documented in
// docs/problems.md, held to Problems by docs/problems_test.go), and the
// reason recorded for metrics is the kind's name.
func TestOwnRefusalsAnswerTheirKind(t *testing.T) {
	t.Parallel()
	want := map[string]int{
		"bad_path": 400, "method_not_allowed": 405, "no_route": 404, "route_held": 503, "wrong_key_environment": 403,
		"untrusted_caller": 403, "no_original_request": 400,
	}
	if len(Problems()) != len(want) {
		t.Fatalf("%d kinds, this test knows %d: add the new one here", len(Problems()), len(want))
	}
	g := &Gateway{}
	for _, k := range Problems() {
		rec := httptest.NewRecorder()
		x := &exchange{}
		g.refuseProblem(rec, x, k, "detail")
		var d problem.Details
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("%s: %q: %v", k.Name, rec.Body, err)
		}
		if status, ok := want[k.Name]; !ok || rec.Code != status || d.Status != status ||
			d.Type != "urn:gatehouse:problem:"+k.Name || d.Title != k.Title || d.Title == "" || x.reason != k.Name {
			t.Errorf("%s: %d %+v, reason %q", k.Name, rec.Code, d, x.reason)
		}
	}

	// The same answers through the gateway.
	e := newTestEnv(t)
	r := e.route("ro", "/ro", auth.PolicyPublic)
	r.Methods = []string{"GET"}
	e.setRoutes(r)
	for _, tc := range []struct {
		name, kind string
		status     int
		resp       func() *http.Response
	}{
		{"no route", "no_route", 404, func() *http.Response { return e.do("GET", "/nowhere") }},
		{"method not allowed", "method_not_allowed", 405, func() *http.Response { return e.do("DELETE", "/ro/1") }},
		{"path parameters in the prefix", "bad_path", 400, func() *http.Response { return e.rawGet(t, "/ro;x/1") }},
	} {
		resp := tc.resp()
		var d problem.Details
		err := json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || d.Type != problem.TypePrefix+tc.kind {
			t.Errorf("%s: %d %+v %v, want %s %d", tc.name, resp.StatusCode, d, err, tc.kind, tc.status)
		}
	}
}
