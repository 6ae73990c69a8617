package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

func TestErrorCodesMapToOneStatusEach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		detail string
	}{
		{auth.Errorf(auth.EINVALID, "bad owner"), 400, "bad owner"},
		{auth.Errorf(auth.EUNAUTHORIZED, "who are you"), 401, "who are you"},
		{auth.Errorf(auth.EFORBIDDEN, "not you"), 403, "not you"},
		{auth.Errorf(auth.ENOTFOUND, "no such key"), 404, "no such key"},
		{auth.Errorf(auth.ECONFLICT, "already rotated"), 409, "already rotated"},
		{auth.Errorf(auth.ETOOLARGE, "too big"), 413, "too big"},
		{auth.Errorf(auth.ERATELIMITED, "slow down"), 429, "slow down"},
		{auth.Errorf(auth.EUNAVAILABLE, "database restarting"), 503, "database restarting"},
		{fmt.Errorf("apikey: get key: %w", auth.Errorf(auth.ENOTFOUND, "no such key")), 404, "no such key"},
		// Internal details are logged, never returned: not even the
		// message of an EINTERNAL *auth.Error.
		{auth.Errorf(auth.EINTERNAL, "disk /dev/sda1 on fire"), 500, "Internal error"},
		{errors.New("sqlite: SELECT hash FROM api_keys: locked"), 500, "Internal error"},
		{auth.Errorf("no_such_code", "odd"), 500, "Internal error"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, auth.ErrorCode(tt.err)), func(t *testing.T) {
			logs := &testenv.SyncBuffer{}
			s := &Server{logger: slog.New(slog.NewJSONHandler(logs, nil))}
			rec := httptest.NewRecorder()
			s.writeError(rec, httptest.NewRequest("GET", "/x", nil), tt.err)
			resp := rec.Result()
			p := assertProblem(t, resp, rec.Body.Bytes(), tt.status)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.detail)
			}
			if tt.status == 500 {
				if strings.Contains(p.Detail, "sda1") || strings.Contains(p.Detail, "sqlite") || strings.Contains(p.Detail, "odd") {
					t.Errorf("internal detail leaked: %q", p.Detail)
				}
				if !strings.Contains(logs.String(), tt.err.Error()) {
					t.Errorf("internal error not logged: %s", logs)
				}
			}
			// The client maps the problem back to the same code.
			if got := codeOfProblem(&p, tt.status); got != kindOfCode(auth.ErrorCode(tt.err)).Name {
				t.Errorf("client reads code %q back", got)
			}
		})
	}
}

func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		allow  string
	}{
		{"an unknown path", "GET", "/nope", 404, ""},
		{"the root", "GET", "/", 404, ""},
		{"an unknown admin path", "GET", "/admin/v1/users", 404, ""},
		{"a sub-path of a key", "GET", "/admin/v1/keys/k/x/y", 404, ""},
		{"an unknown version", "POST", "/admin/v2/keys", 404, ""},
		{"a path holding a key", "GET", "/sk_test_" + strings.Repeat("A", 38), 404, ""},
		{"DELETE on a key", "DELETE", "/admin/v1/keys/k", 405, "GET, HEAD, PATCH"},
		{"GET on verify", "GET", "/v1/keys/verify", 405, "POST"},
		{"PUT on keys", "PUT", "/admin/v1/keys", 405, "GET, HEAD, POST"},
		{"GET on rotate", "GET", "/admin/v1/keys/k/rotate", 405, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := env.do(t, tt.method, tt.path, "", nil, env.adminHeader())
			assertProblem(t, resp, body, tt.status)
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if strings.Contains(string(body), "sk_test_") {
				t.Errorf("the problem echoes the path: %s", body)
			}
		})
	}
	// Unmatched requests are logged as such, without their path.
	if logs := env.logs.String(); !strings.Contains(logs, `"route":"unmatched"`) || strings.Contains(logs, "sk_test_AAAA") {
		t.Errorf("log of unmatched requests: %s", logs)
	}
}

func TestStoreFailureIsA5xxWithItsDetailLoggedNotReturned(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	// Warm the key service's cache so the admin key still authenticates.
	if _, err := env.client.ListKeys(ctx, ListKeysParams{}); err != nil {
		t.Fatal(err)
	}
	if err := env.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"get", func() error { _, err := env.client.GetKey(ctx, "key_x"); return err }},
		{"list", func() error { _, err := env.client.ListKeys(ctx, ListKeysParams{}); return err }},
		{"create", func() error { _, err := env.client.CreateKey(ctx, CreateKeyRequest{Owner: "a"}); return err }},
		{"audit", func() error { _, err := env.client.ListAuditEvents(ctx, AuditEventsParams{}); return err }},
	} {
		t.Run(call.name, func(t *testing.T) {
			err := call.do()
			var pe *ProblemError
			if !errors.As(err, &pe) || pe.Status < 500 {
				t.Fatalf("err = %v, want a 5xx problem", err)
			}
			if strings.Contains(strings.ToLower(pe.Detail), "sql") || strings.Contains(pe.Detail, "closed") {
				t.Errorf("detail leaks the cause: %q", pe.Detail)
			}
		})
	}
	if logs := env.logs.String(); !strings.Contains(logs, "closed") || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("the cause is not logged: %s", logs)
	}
}

func TestRequestLogLine(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	created, err := env.client.CreateKey(context.Background(), CreateKeyRequest{Owner: "logged"})
	if err != nil {
		t.Fatal(err)
	}
	env.secrets = append(env.secrets, created.Secret)
	if _, err := env.client.VerifyKey(context.Background(), VerifyRequest{Key: created.Secret}); err != nil {
		t.Fatal(err)
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(env.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("request log lines = %v, want 2", lines)
	}
	want := []map[string]any{
		{"method": "POST", "route": "POST /admin/v1/keys", "status": float64(201), "key_id": env.adminID},
		{"method": "POST", "route": "POST /v1/keys/verify", "status": float64(200), "key_id": created.ID},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
		if _, ok := lines[i]["duration"]; !ok {
			t.Errorf("line %d has no duration", i)
		}
	}
	env.assertNoSecretLogged(t)
}

func TestClientTurnsForeignErrorsIntoProblemErrors(t *testing.T) {
	t.Parallel()
	// A proxy in front of Gatehouse answers with its own page.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html>maintenance</html>")
	}))
	defer proxy.Close()
	c := NewClient(proxy.URL+"/", "sk_test_secret", proxy.Client())
	_, err := c.GetKey(context.Background(), "key_1")
	var pe *ProblemError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *ProblemError", err)
	}
	if pe.Status != 503 || pe.Code != auth.EUNAVAILABLE || pe.RetryAfter.Seconds() != 7 || auth.ErrorCode(err) != auth.EUNAVAILABLE {
		t.Errorf("ProblemError = %+v", pe)
	}
	if strings.Contains(err.Error(), "sk_test_secret") {
		t.Errorf("the error shows the admin key: %v", err)
	}
}
