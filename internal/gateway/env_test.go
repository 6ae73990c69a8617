package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// testPrefix is the prefix of every API key in the tests.
const testPrefix = "sk_test_"

// testIssuer is Gatehouse's issuer in the tests.
const testIssuer = "https://auth.example.test"

// testEnv is a gateway over real components: SQLite, the API key service,
// an ES256 keyring, and an httptest upstream that echoes what it got.
type testEnv struct {
	t        testing.TB
	db       *sqlite.DB
	clock    *testenv.Clock
	logs     *testenv.SyncBuffer
	keys     *apikey.Service
	keyUsage *usage.Counter // what e.keys counted
	keyring  *signing.Keyring
	reg      *prometheus.Registry
	gw       *Gateway
	srv      *httptest.Server // the gateway, over loopback
	upstream *echoUpstream

	mu        sync.Mutex
	revoked   map[string]bool
	inactive  map[string]bool
	clientErr error
}

// echoUpstream records every request it gets and answers with a JSON echo.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []echo
}

// echo is what an upstream saw of a request.
type echo struct {
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawQuery string      `json:"query"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
}

func newEchoUpstream(t testing.TB) *echoUpstream {
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e := echo{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)}
		u.mu.Lock()
		u.seen = append(u.seen, e)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) last(t testing.TB) echo {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.seen[len(u.seen)-1]
}

func (u *echoUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

func newTestEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e := &testEnv{
		t:        t,
		db:       db,
		clock:    testenv.NewClock(time.Now().UTC().Truncate(time.Second)),
		logs:     &testenv.SyncBuffer{},
		reg:      prometheus.NewRegistry(),
		revoked:  map[string]bool{},
		inactive: map[string]bool{},
		keyUsage: usage.NewCounter(),
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.keys, err = apikey.NewService(apikey.Config{
		Store: db, Audit: db, Secret: bytes.Repeat([]byte("s"), apikey.MinSecretLength),
		Prefix: testPrefix, Now: e.clock.Now, Logger: logger, Registerer: e.reg,
		Usage: e.keyUsage,
	})
	if err != nil {
		t.Fatalf("apikey.NewService: %v", err)
	}
	sealer, err := signing.NewSealer(signing.DeriveMasterKey([]byte(rand.Text() + rand.Text())))
	if err != nil {
		t.Fatal(err)
	}
	e.keyring, err = signing.New(ctx, db, sealer, signing.Options{Now: e.clock.Now, Logger: logger})
	if err != nil {
		t.Fatalf("signing.New: %v", err)
	}
	e.upstream = newEchoUpstream(t)

	cfg := Config{
		Issuer:     testIssuer,
		JWKS:       e.keyring.JWKS,
		Algorithms: e.keyring.Algorithms(),
		Keys:       e.keys,
		Signer:     e.keyring,
		Revoked: func(jti string) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.revoked[jti]
		},
		ClientActive: func(_ context.Context, id string) (bool, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return !e.inactive[id], e.clientErr
		},
		Logger:     logger,
		AccessLog:  true,
		Registerer: e.reg,
		Now:        e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.gw, err = New(cfg)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = e.gw.Close() })
	e.srv = httptest.NewServer(e.gw)
	t.Cleanup(e.srv.Close)
	return e
}

// route returns a route to the echo upstream with the given policy.
// route is a route to the test upstream; a jwt or any route accepts
// tokens of any audience until the test sets one (with AnyAudience false).
func (e *testEnv) route(name, path, policy string) auth.Route {
	return auth.Route{Name: name, PathPrefix: path, Policy: policy, Upstreams: []string{e.upstream.URL},
		AnyAudience: policy == auth.PolicyJWT || policy == auth.PolicyAny}
}

func (e *testEnv) setRoutes(routes ...auth.Route) {
	e.t.Helper()
	if err := e.gw.SetRoutes(routes); err != nil {
		e.t.Fatalf("SetRoutes: %v", err)
	}
}

// createKey creates an API key and returns its record and plaintext.
func (e *testEnv) createKey(owner string, scopes []string, limit auth.RateLimit) (*auth.APIKey, string) {
	e.t.Helper()
	k, plain, err := e.keys.Create(context.Background(), apikey.CreateParams{
		Owner: owner, Name: "test", Scopes: scopes, RateLimit: limit, Actor: auth.ActorSystem,
	})
	if err != nil {
		e.t.Fatalf("create key: %v", err)
	}
	return k, plain
}

// tokenClaims are the claims of a test access token.
type tokenClaims struct {
	Sub, ClientID, Scope, JTI string
	Aud                       []string
	TTL                       time.Duration
	Issuer                    string
	AMR                       []string // the sign-in's methods (amr)
	ACR                       string
}

// token mints a Gatehouse access token with the keyring.
func (e *testEnv) token(c tokenClaims) string {
	e.t.Helper()
	now := e.clock.Now()
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	if c.JTI == "" {
		c.JTI = rand.Text()
	}
	if c.Issuer == "" {
		c.Issuer = testIssuer
	}
	tok, err := e.keyring.Sign("at+jwt", verify.Claims{
		Issuer: c.Issuer, Subject: c.Sub, Audience: c.Aud, ClientID: c.ClientID, Scopes: strings.Fields(c.Scope), ID: c.JTI,
		IssuedAt: now, ExpiresAt: now.Add(c.TTL), AMR: c.AMR, ACR: c.ACR,
	})
	if err != nil {
		e.t.Fatalf("sign: %v", err)
	}
	return tok
}

// do sends a request to the gateway; headers are name, value pairs.
func (e *testEnv) do(method, path string, headers ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// body reads the response body.
func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantStatus checks the status and, for refusals, a problem+json body.
func wantStatus(t testing.TB, resp *http.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %s", resp.Request.URL.Path, resp.StatusCode, status, body(t, resp))
	}
	if status >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("status %d with Content-Type %q, want problem+json", status, resp.Header.Get("Content-Type"))
	}
}

// echoOf decodes the echo upstream's answer.
func echoOf(t testing.TB, resp *http.Response) echo {
	t.Helper()
	wantStatus(t, resp, http.StatusOK)
	var e echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decode echo: %v", err)
	}
	return e
}

// value reads a counter child (prometheus/testutil would need a module
// this repository does not require).
func value(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// series counts the children a collector exports.
func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
