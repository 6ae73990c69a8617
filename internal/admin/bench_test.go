package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
)

// BenchmarkVerifyEndpoint measures POST /v1/keys/verify in-process (no
// network) with the key's record already in the service's cache: the cost
// of decoding, verifying, encoding and logging one request.
//
//	go test ./internal/admin/ -run '^$' -bench VerifyEndpoint -benchmem
func BenchmarkVerifyEndpoint(b *testing.B) {
	env := newTestEnv(b)
	_, key := env.createKey(b, apikey.CreateParams{Owner: "bench", Scopes: []string{"read"}})
	// A request log line per call, as in production, written nowhere.
	srv, err := NewServer(Config{
		Keys:   env.keys,
		Audit:  env.db,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now:    env.clock.Now,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	body := `{"key":"` + key + `","scopes":["read"]}`
	// One parsed request, its body renewed per call, so that the figures
	// are the handler's and not httptest's request parsing.
	req := httptest.NewRequest(http.MethodPost, "/v1/keys/verify", nil)
	req.Header.Set("Content-Type", "application/json")
	serve := func() *httptest.ResponseRecorder {
		req.Body = io.NopCloser(strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := serve(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"VALID"`) {
		b.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rec := serve(); rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
