package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

// fakeIdP is an OpenID provider written for the tests: discovery, a token
// endpoint that checks the client's secret and the PKCE verifier, a JWKS,
// and a userinfo endpoint. Each test shapes the ID token it issues.
type fakeIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	secret string
	// issParam makes discovery promise the RFC 9207 iss parameter.
	issParam bool

	mu    sync.Mutex
	codes map[string]issuedCode
}

// issuedCode is what the fake remembers of a code: the PKCE challenge it
// was issued against and the claims of its ID token.
type issuedCode struct {
	challenge string
	claims    map[string]any
}

const fakeClientID = "gatehouse-downstream"

func newFakeIdP(t *testing.T) *fakeIdP {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIdP{t: t, key: key, secret: "upstream-secret", codes: map[string]issuedCode{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/authorize", "token_endpoint": f.srv.URL + "/token",
			"jwks_uri": f.srv.URL + "/jwks", "userinfo_endpoint": f.srv.URL + "/userinfo",
			"authorization_response_iss_parameter_supported": f.issParam,
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", f.token)
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"sub": "other"})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeIdP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != fakeClientID || secret != f.secret {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	f.mu.Lock()
	c, ok := f.codes[r.PostFormValue("code")]
	delete(f.codes, r.PostFormValue("code"))
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "invalid_grant"})
		return
	}
	writeJSON(w, map[string]any{"access_token": "at-" + randomValue(), "token_type": "Bearer", "id_token": f.sign(c.claims)})
}

func (f *fakeIdP) sign(claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// issue makes a code for the flow of authURL (its PKCE challenge) whose ID
// token has the standard claims for that flow, changed by shape.
func (f *fakeIdP) issue(authURL string, shape func(claims map[string]any)) string {
	u, err := url.Parse(authURL)
	if err != nil {
		f.t.Fatal(err)
	}
	q := u.Query()
	now := time.Now()
	claims := map[string]any{
		"iss": f.srv.URL, "sub": "up-123", "aud": fakeClientID, "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "nonce": q.Get("nonce"), "preferred_username": "ada",
		"email": "ada@example.test", "email_verified": true, "name": "Ada Lovelace",
	}
	if shape != nil {
		shape(claims)
	}
	code := "code-" + randomValue()
	f.mu.Lock()
	f.codes[code] = issuedCode{challenge: q.Get("code_challenge"), claims: claims}
	f.mu.Unlock()
	return code
}

// env is a federation service on a real SQLite store.
type env struct {
	t     *testing.T
	store *sqlite.DB
	svc   *Service
}

func newEnv(t *testing.T, linkVerifiedEmail bool) *env {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := signing.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Store: db, Sealer: sealer, Issuer: "https://gatehouse.example", LinkVerifiedEmail: linkVerifiedEmail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &env{t: t, store: db, svc: svc}
}

func ptr[T any](v T) *T { return &v }

// addOIDC configures the fake as provider "idp".
func (e *env) addOIDC(f *fakeIdP, mutate func(in *Input)) *auth.Provider {
	e.t.Helper()
	in := Input{Name: "idp", Issuer: ptr(f.srv.URL), ClientID: ptr(fakeClientID), ClientSecret: ptr(f.secret)}
	if mutate != nil {
		mutate(&in)
	}
	p, err := e.svc.Create(e.t.Context(), "key_admin", in)
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return p
}

// start begins a flow for provider name and returns the upstream URL and
// the flow cookie.
func (e *env) start(name string, p Pending) (string, *http.Cookie) {
	e.t.Helper()
	w := httptest.NewRecorder()
	authURL, err := e.svc.Start(e.t.Context(), w, name, p)
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Value == "" || !cs[0].HttpOnly || !cs[0].Secure || cs[0].SameSite != http.SameSiteLaxMode {
		e.t.Fatalf("flow cookie %+v", cs)
	}
	return authURL, cs[0]
}

// callback runs the callback of provider name with query and cookie.
func (e *env) callback(name string, query url.Values, cookie *http.Cookie) (*Result, error) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://gatehouse.example/oauth2/providers/"+name+"/callback?"+query.Encode(), nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	res, err := e.svc.Finish(e.t.Context(), w, r, name)
	// The flow cookie is dropped whatever the outcome: a flow ends once.
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		e.t.Fatalf("the callback did not drop the flow cookie: %+v", cs)
	}
	return res, err
}

func stateOf(t *testing.T, authURL string) string {
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if got := ReasonOf(err); got != reason {
		t.Fatalf("error %v: reason %q, want %q", err, got, reason)
	}
}

func mustUser(t *testing.T, db *sqlite.DB, id, username, email string, verified bool) *auth.User {
	t.Helper()
	now := auth.SystemNow()
	u := &auth.User{ID: id, Username: username, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Email: email,
		EmailVerified: verified, Role: auth.RoleDeveloper, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

var _ = strings.TrimSpace
