package admin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// testEnv is the real stack: the key service over a SQLite file in a
// temporary folder, the admin Server behind an httptest server, and a
// Client holding an admin key.
type testEnv struct {
	db       *sqlite.DB
	keys     *apikey.Service
	server   *Server
	ts       *httptest.Server
	clock    *testenv.Clock
	logs     *testenv.SyncBuffer
	adminKey string
	adminID  string
	client   *Client
	secrets  []string // every plaintext seen, for the log check

	// Of newOAuthEnv only: the keyring that signs tokens, and the users.
	signing  *signing.Keyring
	accounts *account.Service
}

// testStart is the clock's start: fixed, so runs are reproducible.
var testStart = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })

	clock := testenv.NewClock(testStart)
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys := newKeyService(t, db, clock, logger)

	srv, err := NewServer(Config{Keys: keys, Audit: db, Logger: logger, Now: clock.Now})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	env := &testEnv{db: db, keys: keys, server: srv, ts: ts, clock: clock, logs: logs}
	admin, secret := env.createKey(t, apikey.CreateParams{Owner: "ops", Name: "admin", Scopes: []string{ScopeAdmin}})
	env.adminKey, env.adminID = secret, admin.ID
	env.client = NewClient(ts.URL, secret, ts.Client())
	return env
}

// createKey creates a key directly through the service, as the CLI's
// bootstrap does, and remembers its plaintext.
func (e *testEnv) createKey(t testing.TB, p apikey.CreateParams) (*auth.APIKey, string) {
	t.Helper()
	if p.Actor == "" {
		p.Actor = auth.ActorSystem
	}
	k, secret, err := e.keys.Create(context.Background(), p)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	e.secrets = append(e.secrets, secret)
	return k, secret
}

// clientWithKey is a Client authenticating with another key.
func (e *testEnv) clientWithKey(key string) *Client {
	return NewClient(e.ts.URL, key, e.ts.Client())
}

// do sends a raw request, for what the Client cannot express.
func (e *testEnv) do(t testing.TB, method, path, contentType string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, data
}

// adminHeader authenticates a raw request with the admin key.
func (e *testEnv) adminHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + e.adminKey}}
}

// allKeyIDs lists every stored key ID through the service, bypassing HTTP.
func (e *testEnv) allKeyIDs(t testing.TB) []string {
	t.Helper()
	var ids []string
	f := auth.APIKeyFilter{Limit: auth.MaxPageSize}
	for {
		keys, next, err := e.keys.List(context.Background(), f)
		if err != nil {
			t.Fatalf("list keys: %v", err)
		}
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		if next == "" {
			return ids
		}
		f.After = next
	}
}

// assertNoSecretLogged fails if any plaintext key seen so far appears in
// the server's log.
func (e *testEnv) assertNoSecretLogged(t testing.TB) {
	t.Helper()
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("the server logged nothing; the log check would prove nothing")
	}
	for _, s := range e.secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a plaintext key appears in the server log")
		}
	}
}

// testPrefix is the prefix of every key in the tests.
const testPrefix = "sk_test_"

// newKeyService is the real key service over db, on the test clock.
func newKeyService(t testing.TB, db *sqlite.DB, clock *testenv.Clock, logger *slog.Logger) *apikey.Service {
	t.Helper()
	svc, err := apikey.NewService(apikey.Config{
		Store:  db,
		Audit:  db,
		Secret: bytes.Repeat([]byte("s"), apikey.MinSecretLength),
		Prefix: testPrefix,
		Now:    clock.Now,
		Logger: logger,
	})
	if err != nil {
		t.Fatalf("apikey.NewService: %v", err)
	}
	return svc
}
