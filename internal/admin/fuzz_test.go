package admin

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// FuzzDecodeCreateKey sends arbitrary bodies to POST /admin/v1/keys through
// the real handler, key service and SQLite store. Whatever the body, the
// server must not panic and must answer 201 or a 4xx problem, never a 5xx;
// the decoding function alone must return nil or an EINVALID/ETOOLARGE
// *auth.Error.
//
//	go test ./internal/admin/ -run '^$' -fuzz FuzzDecodeCreateKey -fuzztime 20s
func FuzzDecodeCreateKey(f *testing.F) {
	for _, seed := range []string{
		`{"owner":"billing","name":"prod","scopes":["read","write"],"metadata":{"team":"pay"},"expires_in":"720h","rate_limit":{"rate":10,"burst":20},"rotation_period":"2160h"}`,
		`{"owner":"a","expires_at":"2031-01-02T03:04:05Z"}`,
		`{"owner":"a","expires_in":"1h","expires_at":"2031-01-02T03:04:05Z"}`,
		`{"owner":"a","rate_limit":{"rate":1e400,"burst":1}}`,
		`{"owner":"a","rate_limit":{"rate":-1,"burst":-1}}`,
		`{"owner":"a","scopes":[[[[]]]]}`,
		`{"owner":"a","owner":"b"}`,
		`{"Owner":"a"}`,
		`{"owner":"a\u0000\u202e'; DROP TABLE api_keys;--"}`,
		`{"owner":"a"} trailing`,
		`{"owner":`,
		`[]`,
		`null`,
		"{\"owner\":\"\xff\"}",
		`{"owner":"a","metadata":{"":""}}`,
		`{"owner":"a","rotation_period":"-5m"}`,
		`{"owner":"a","expires_in":"9223372036854775807ns"}`,
	} {
		f.Add([]byte(seed))
	}
	env := newTestEnv(f)
	h := env.server.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/admin/v1/keys", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.adminKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
		case rec.Code >= 400 && rec.Code < 500:
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%d with Content-Type %q", rec.Code, ct)
			}
		default:
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}

		var cr CreateKeyRequest
		err := decodeJSONBytes(body, &cr)
		var ae *auth.Error
		if err != nil && (!errors.As(err, &ae) || (ae.Code != auth.EINVALID && ae.Code != auth.ETOOLARGE)) {
			t.Fatalf("decodeJSONBytes(%q) = %v, want an EINVALID *auth.Error", body, err)
		}
	})
}
