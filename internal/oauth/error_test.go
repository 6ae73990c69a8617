package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestWriteTokenError(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name      string
		err       error
		basic     bool
		status    int
		body      string
		challenge bool
	}{
		{"protocol error", errInvalidGrant("The code has expired."), false, 400, `{"error":"invalid_grant","error_description":"The code has expired."}`, false},
		{"invalid_client after Basic", errInvalidClient(), true, 401, `{"error":"invalid_client","error_description":"Client authentication failed."}`, true},
		// RFC 9110 15.5.2: a 401 always carries a challenge, also when the
		// client authenticated in the body.
		{"invalid_client without Basic", errInvalidClient(), false, 401, `{"error":"invalid_client","error_description":"Client authentication failed."}`, true},
		{"internal detail is not sent", errors.New("sqlite: disk I/O error at /var/lib/secret"), false, 500, `{"error":"server_error","error_description":"The server could not complete the request."}`, false},
		{"store down", auth.Errorf(auth.EUNAVAILABLE, "db down"), false, 503, `{"error":"temporarily_unavailable","error_description":"The server is temporarily unavailable; try again later."}`, false},
		{"description characters outside RFC 6749", errInvalidRequest("bad \"quote\" and \\ and \n"), false, 400, `{"error":"invalid_request","error_description":"bad 'quote' and ' and ?"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, PathToken, nil)
			if tc.basic {
				r.SetBasicAuth("cli_x", "y")
			}
			ts.writeTokenError(rec, r, tc.err)
			if rec.Code != tc.status || strings.TrimSpace(rec.Body.String()) != tc.body {
				t.Errorf("got %d %s", rec.Code, rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", rec.Header())
			}
			if got := rec.Header().Get("WWW-Authenticate") != ""; got != tc.challenge {
				t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	if !strings.Contains(ts.Logs.String(), "disk I/O error") {
		t.Error("the cause of a server error is not logged")
	}
}

func TestRedirectError(t *testing.T) {
	ts := newTestServer(t)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, PathAuthorize, nil)
	ts.redirectError(rec, r, "https://app.example.com/cb?keep=1", "xyz", errAccessDenied("The user denied access."))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d", rec.Code)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "app.example.com" || q.Get("keep") != "1" || q.Get("error") != "access_denied" ||
		q.Get("error_description") != "The user denied access." || q.Get("state") != "xyz" || q.Get("iss") != ts.URL {
		t.Errorf("Location %s", u)
	}
	rec = httptest.NewRecorder()
	ts.redirectError(rec, r, "https://app.example.com/cb", "", errors.New("boom"))
	u, _ = url.Parse(rec.Header().Get("Location"))
	if u.Query().Get("error") != "server_error" || u.Query().Has("state") || strings.Contains(u.String(), "boom") {
		t.Errorf("Location %s", u)
	}
}
