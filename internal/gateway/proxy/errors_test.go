package proxy

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/problem"
)

// TestRepliesAnswerTheirKind: each failure's reply writes the type and
// status of its row of the proxy's table (documented in docs/problems.md,
// held to Problems by docs/problems_test.go); 499 writes no body.
func TestRepliesAnswerTheirKind(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reply reply
		kind  string
		code  int
	}{
		{"no upstream reachable", upstreamProblems[KindUnavailable], "upstream_unavailable", 502},
		{"upstream too slow", upstreamProblems[KindTimeout], "upstream_timeout", 504},
		{"upstream failed", upstreamProblems[KindError], "upstream_error", 502},
		{"body too slow", problemBodyTimeout, "request_body_timeout", 408},
		{"body malformed", problemBodyMalformed, "request_body_malformed", 400},
		{"body too large", problemBodyTooLarge, "request_body_too_large", 413},
	}
	if len(cases) != len(Problems()) {
		t.Fatalf("%d cases for %d kinds: add the new kind here", len(cases), len(Problems()))
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		tc.reply.write(rec)
		var d problem.Details
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatalf("%s: %q: %v", tc.name, rec.Body, err)
		}
		if rec.Code != tc.code || d.Status != tc.code || d.Type != problem.TypePrefix+tc.kind || d.Detail == "" ||
			rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %+v, want %s %d", tc.name, rec.Code, d, tc.kind, tc.code)
		}
	}
	rec := httptest.NewRecorder()
	reply{status: statusClientClosedRequest}.write(rec)
	if rec.Code != statusClientClosedRequest || rec.Body.Len() != 0 {
		t.Errorf("499: %d %q", rec.Code, rec.Body)
	}
}
