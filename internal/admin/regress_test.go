package admin

import (
	"net/http"
	"strings"
	"testing"
)

// Found in review: each of these once committed a record and answered 500,
// or reached PostgreSQL with a NUL and answered 500.
func TestInputThatOnceGave500(t *testing.T) {
	e := newTestEnv(t)
	before := e.allKeyIDs(t)
	resp, body := e.do(t, http.MethodPost, "/admin/v1/keys", "application/json",
		strings.NewReader(`{"owner":"o","expires_at":"9999-12-31T23:59:59-23:59"}`), e.adminHeader())
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("expiry past the year 9999: status %d: %s", resp.StatusCode, body)
	}
	if after := e.allKeyIDs(t); len(after) != len(before) {
		t.Fatalf("a refused create stored a key: %v", after)
	}
	for _, path := range []string{
		"/admin/v1/keys?cursor=%00",
		"/admin/v1/keys?owner=a%00b",
		"/admin/v1/audit-events?key_id=%00",
		"/admin/v1/audit-events?type=%0a",
		"/admin/v1/keys/key_%00",
	} {
		resp, body := e.do(t, http.MethodGet, path, "", nil, e.adminHeader())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400: %s", path, resp.StatusCode, body)
		}
	}
	resp, body = e.do(t, http.MethodPost, "/admin/v1/keys/key_%00/rotate", "", nil, e.adminHeader())
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("rotate with a NUL in the ID: status %d: %s", resp.StatusCode, body)
	}
}
