package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// testServer is a whole Server over a temporary SQLite file, served by an
// httptest server whose URL is the issuer.
type testServer struct {
	*Server
	t        testing.TB
	URL      string // the issuer
	HTTP     *httptest.Server
	Store    *sqlite.DB
	Clock    *testenv.Clock
	Keys     *signing.Keyring
	Accounts *account.Service
	Clients  *client.Registry
	Logs     *testenv.SyncBuffer
}

// verifyAccess checks an access token as a relying party would: package
// verify over the keyring's JWKS, aud checked when audience is not "".
func (ts *testServer) verifyAccess(token, audience string) (*verify.Claims, error) {
	v, err := verify.New(verify.Config{Issuer: ts.URL, Audience: audience, AnyAudience: audience == "",
		Algorithms: signing.SupportedAlgorithms(), JWKS: ts.Keys.JWKS, Now: ts.Clock.Now, CacheSize: -1})
	if err != nil {
		return nil, err
	}
	return v.Verify(context.Background(), token)
}

// newTestServer builds a Server with real SQLite, an ES256 keyring, the
// account service and a clock the test moves by hand. opts may change the
// Config before New.
func newTestServer(t *testing.T, opts ...func(*Config)) *testServer {
	t.Helper()
	return buildTestServer(t, opts...)
}

// buildTestServer is newTestServer for tests and benchmarks alike.
func buildTestServer(t testing.TB, opts ...func(*Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	// Wall-clock aligned, so real clients (x/oauth2, go-oidc) that look at
	// exp with the real clock agree with the server's.
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	logs := &testenv.SyncBuffer{}
	logger := slogJSON(logs)

	serverSecret := make([]byte, 32)
	rand.Read(serverSecret)
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.NewSealer(signing.DeriveMasterKey(serverSecret))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.New(ctx, db, sealer, signing.Options{Now: clock.Now, Logger: logger})
	if err != nil {
		t.Fatalf("signing.New: %v", err)
	}
	accounts, err := account.New(account.Config{Store: db, Sessions: db, Now: clock.Now, Logger: logger})
	if err != nil {
		t.Fatalf("account.New: %v", err)
	}

	clients, err := client.New(client.Config{Store: db, Hasher: hasher, Now: clock.Now, Registrations: db})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}

	// The issuer is the httptest server's URL, known only once it runs:
	// start it with a handler that is set after New.
	var handler http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)

	cfg := Config{
		Issuer: hs.URL, Store: db, Audit: db, Clients: clients, Hasher: hasher, Keys: keys, Accounts: accounts,
		Now: clock.Now, Logger: logger,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("oauth.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	handler = withTestRemoteAddr(s.Handler())
	return &testServer{Server: s, t: t, URL: hs.URL, HTTP: hs, Store: db, Clock: clock, Keys: keys, Accounts: accounts, Clients: clients, Logs: logs}
}

// testRemoteAddrHeader lets a test pose as a client at another address:
// the test server takes the request's RemoteAddr from it, as a trusted
// proxy's rewrite would, so throttling and sessions see that address.
const testRemoteAddrHeader = "X-Test-Remote-Addr"

func withTestRemoteAddr(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get(testRemoteAddrHeader); a != "" {
			r.RemoteAddr = a
		}
		h.ServeHTTP(w, r)
	})
}

// mustClient registers a client and returns it with its secret.
func (ts *testServer) mustClient(in client.Input) (*auth.Client, string) {
	ts.t.Helper()
	if in.Name == "" {
		in.Name = "test client"
	}
	c, secret, err := ts.Clients.Create(context.Background(), "test", in)
	if err != nil {
		ts.t.Fatalf("Create client: %v", err)
	}
	return c, secret
}

// confidentialClient registers a confidential client with every grant.
func (ts *testServer) confidentialClient(method string) (*auth.Client, string) {
	return ts.mustClient(client.Input{
		AuthMethod:   method,
		RedirectURIs: []string{"https://app.example.com/cb"},
		GrantTypes:   []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken, auth.GrantClientCredentials},
		Scopes:       []string{"openid", "profile", "email", "offline_access", "read", "write"},
		Audiences:    []string{"https://api.example.com", "https://other.example.com"},
	})
}

// mustUser creates an enabled user.
func (ts *testServer) mustUser(username string) *auth.User {
	ts.t.Helper()
	u, err := ts.Accounts.Create(context.Background(), "test", account.CreateInput{
		Username: username, Password: "correct horse battery staple", Email: username + "@example.com",
		EmailVerified: true, Name: "Test " + username,
	})
	if err != nil {
		ts.t.Fatalf("create user: %v", err)
	}
	return u
}

// codeOpts describes an authorization code the test issues as the
// browser side would.
type codeOpts struct {
	scopes    []string
	audiences []string
	redirect  string
	nonce     string
	challenge string // default: S256 of the returned verifier
	idClaims  []string
}

// issueCode stores an authorization code for the client and user and
// returns it with its PKCE verifier and family.
func (ts *testServer) issueCode(c *auth.Client, u *auth.User, o codeOpts) (code, verifier, family string) {
	ts.t.Helper()
	code, hash, err := ts.hasher.New(PrefixAuthCode)
	if err != nil {
		ts.t.Fatal(err)
	}
	verifier = newVerifier()
	if o.challenge == "" {
		o.challenge = s256(verifier)
	}
	if o.redirect == "" {
		o.redirect = c.RedirectURIs[0]
	}
	if o.audiences == nil {
		o.audiences = []string{c.Audiences[0]}
	}
	family, err = newFamilyID()
	if err != nil {
		ts.t.Fatal(err)
	}
	now := ts.Clock.Now()
	err = ts.Store.CreateAuthCode(context.Background(), &auth.AuthCode{
		Hash: hash, ClientID: c.ID, UserID: u.ID, RedirectURI: o.redirect, Scopes: o.scopes,
		Audiences: o.audiences, CodeChallenge: o.challenge, Nonce: o.nonce, AuthTime: now.Add(-time.Minute),
		FamilyID: family, IDTokenClaims: o.idClaims, CreatedAt: now, ExpiresAt: now.Add(ts.cfg.AuthCodeTTL),
	})
	if err != nil {
		ts.t.Fatalf("CreateAuthCode: %v", err)
	}
	return code, verifier, family
}

func newVerifier() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// post sends a form to an endpoint; basic, when set, is "id:secret" for
// HTTP Basic (form-urlencoded as RFC 6749 2.3.1 wants).
func (ts *testServer) post(path string, form url.Values, basic ...string) *http.Response {
	ts.t.Helper()
	return ts.postWith(path, form, nil, basic...)
}

// postWith is post with more request headers.
func (ts *testServer) postWith(path string, form url.Values, header http.Header, basic ...string) *http.Response {
	ts.t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		ts.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// decode reads a JSON body into a map and checks the status.
func decode(t *testing.T, resp *http.Response, status int) map[string]any {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, body)
		}
	}
	return m
}

// wantError checks an OAuth error response.
func wantError(t *testing.T, resp *http.Response, status int, code string) map[string]any {
	t.Helper()
	m := decode(t, resp, status)
	if m["error"] != code {
		t.Fatalf("error %v, want %s (%v)", m["error"], code, m["error_description"])
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	return m
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
