package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

const testHTU = "https://api.example.com/orders"

func newTestDPoP(t testing.TB, clk *testClock, edit func(*DPoPConfig)) *DPoP {
	t.Helper()
	cfg := DPoPConfig{Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	d, err := NewDPoP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func client(t testing.TB, clk *testClock, alg jose.SignatureAlgorithm) *dpoptest.Client {
	t.Helper()
	c := dpoptest.MustNew(alg)
	c.Now = clk.Now
	return c
}

func wantReason(t *testing.T, err error, want Reason) {
	t.Helper()
	if got := ReasonOf(err); got != want {
		t.Fatalf("reason = %q (%v), want %q", got, err, want)
	}
}

func TestDPoPCheckAcceptsEachAlgorithmAndReturnsTheThumbprint(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, nil)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		c := client(t, clk, alg)
		p, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if p.JKT != c.JKT() {
			t.Errorf("%s: jkt = %q, want %q", alg, p.JKT, c.JKT())
		}
	}
}

func TestDPoPCheckRefuses(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, nil)
	c := client(t, clk, jose.ES256)
	other := client(t, clk, jose.ES256)
	ecPriv := c.Key.(*ecdsa.PrivateKey)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakClient := &dpoptest.Client{Alg: jose.RS256, Key: weak, Now: clk.Now}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	es384 := &dpoptest.Client{Alg: jose.ES384, Key: p384, Now: clk.Now}
	now := clk.Now()
	for _, tc := range []struct {
		name  string
		proof string
		req   ProofRequest
		want  Reason
	}{
		{"empty", "", ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"not a JWS", "a.b", ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"typ JWT", c.Proof("POST", testHTU, dpoptest.Options{Typ: "JWT"}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"no jwk", c.Proof("POST", testHTU, dpoptest.Options{NoJWK: true}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"private key in jwk", c.Proof("POST", testHTU, dpoptest.Options{JWK: ecPriv}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"signed by another key than the jwk", c.Proof("POST", testHTU, dpoptest.Options{JWK: other.Key.Public()}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"ES384 not allowed", es384.Proof("POST", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"RSA under 2048 bits", weakClient.Proof("POST", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"wrong htm", c.Proof("GET", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"htm in lower case", c.Proof("post", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"wrong htu path", c.Proof("POST", "https://api.example.com/admin", dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"wrong htu host", c.Proof("POST", "https://evil.example.com/orders", dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"wrong htu scheme", c.Proof("POST", "http://api.example.com/orders", dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"relative htu", c.Proof("POST", "/orders", dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"no jti", c.Proof("POST", testHTU, dpoptest.Options{Claims: map[string]any{"jti": nil}}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"no iat", c.Proof("POST", testHTU, dpoptest.Options{Claims: map[string]any{"iat": nil}}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"iat as a string", c.Proof("POST", testHTU, dpoptest.Options{Claims: map[string]any{"iat": "now"}}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"expired iat", c.Proof("POST", testHTU, dpoptest.Options{IssuedAt: now.Add(-61 * time.Second)}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"iat in the future", c.Proof("POST", testHTU, dpoptest.Options{IssuedAt: now.Add(61 * time.Second)}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"ath of another token", c.Proof("GET", testHTU, dpoptest.Options{AccessToken: "token-a"}), ProofRequest{Method: "GET", URL: testHTU, AccessToken: "token-b"}, ReasonInvalidDPoPProof},
		{"no ath with a token", c.Proof("GET", testHTU, dpoptest.Options{}), ProofRequest{Method: "GET", URL: testHTU, AccessToken: "token-a"}, ReasonInvalidDPoPProof},
		{"ath at the token endpoint", c.Proof("POST", testHTU, dpoptest.Options{AccessToken: "token-a"}), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
		{"too long", strings.Repeat("a", MaxProofSize+1), ProofRequest{Method: "POST", URL: testHTU}, ReasonInvalidDPoPProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.Check(context.Background(), tc.proof, tc.req)
			wantReason(t, err, tc.want)
		})
	}
}

func TestDPoPCheckWindowEdges(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, func(c *DPoPConfig) { c.Window = 10 * time.Second })
	c := client(t, clk, jose.ES256)
	for _, off := range []time.Duration{-10 * time.Second, 10 * time.Second, 0} {
		if _, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{IssuedAt: clk.Now().Add(off)}), ProofRequest{Method: "POST", URL: testHTU}); err != nil {
			t.Errorf("iat %v from now: %v", off, err)
		}
	}
	for _, off := range []time.Duration{-11 * time.Second, 11 * time.Second} {
		_, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{IssuedAt: clk.Now().Add(off)}), ProofRequest{Method: "POST", URL: testHTU})
		wantReason(t, err, ReasonInvalidDPoPProof)
	}
}

func TestDPoPProofReplayIsRefused(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, nil)
	c := client(t, clk, jose.ES256)
	proof := c.Proof("POST", testHTU, dpoptest.Options{})
	req := ProofRequest{Method: "POST", URL: testHTU}
	if _, err := d.Check(context.Background(), proof, req); err != nil {
		t.Fatal(err)
	}
	_, err := d.Check(context.Background(), proof, req)
	wantReason(t, err, ReasonDPoPReplayed)
	// The same jti under another key is another proof.
	if _, err := d.Check(context.Background(), client(t, clk, jose.ES256).Proof("POST", testHTU, dpoptest.Options{JTI: "same"}), req); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{JTI: "same"}), req); err != nil {
		t.Fatal(err)
	}
	// Past the window the proof is refused for its age, whatever the cache.
	clk.Advance(DefaultProofWindow + time.Second)
	_, err = d.Check(context.Background(), proof, req)
	wantReason(t, err, ReasonInvalidDPoPProof)
}

type failingReplay struct{}

func (failingReplay) Use(context.Context, [32]byte, time.Time, time.Time) (bool, error) {
	return false, errors.New("down")
}

func TestDPoPReplayCacheFailureFailsClosed(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, func(c *DPoPConfig) { c.Replay = failingReplay{} })
	_, err := d.Check(context.Background(), client(t, clk, jose.ES256).Proof("POST", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU})
	wantReason(t, err, ReasonKeysUnavailable)
}

func TestDPoPForgedProofDoesNotBurnTheJTI(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, nil)
	c := client(t, clk, jose.ES256)
	req := ProofRequest{Method: "POST", URL: testHTU}
	// An attacker sends the victim's next jti on a proof for another URL.
	if _, err := d.Check(context.Background(), c.Proof("POST", "https://evil.example/", dpoptest.Options{JTI: "next"}), req); err == nil {
		t.Fatal("accepted")
	}
	if _, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{JTI: "next"}), req); err != nil {
		t.Fatalf("the valid proof was refused: %v", err)
	}
}

func TestDPoPNonces(t *testing.T) {
	t.Parallel()
	clk := newClock()
	key := []byte(strings.Repeat("k", 32))
	nonces, err := NewHMACNonces(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDPoP(t, clk, func(c *DPoPConfig) { c.Nonces = nonces; c.Window = 5 * time.Minute })
	c := client(t, clk, jose.ES256)
	req := ProofRequest{Method: "POST", URL: testHTU}
	_, err = d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{}), req)
	wantReason(t, err, ReasonUseDPoPNonce)
	_, err = d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{Nonce: "made-up"}), req)
	wantReason(t, err, ReasonUseDPoPNonce)
	n := d.Nonce()
	if _, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{Nonce: n}), req); err != nil {
		t.Fatal(err)
	}
	// Another node with the same key accepts it: no shared state.
	other, _ := NewHMACNonces(key, time.Minute)
	if !other.Valid(n, clk.Now()) {
		t.Error("a node with the same key refused the nonce")
	}
	otherKey, _ := NewHMACNonces([]byte(strings.Repeat("x", 32)), time.Minute)
	if otherKey.Valid(n, clk.Now()) {
		t.Error("a node with another key accepted the nonce")
	}
	clk.Advance(time.Minute)
	if !nonces.Valid(n, clk.Now()) {
		t.Error("the nonce of the previous period was refused")
	}
	clk.Advance(time.Minute)
	if nonces.Valid(n, clk.Now()) {
		t.Error("a nonce two periods old was accepted")
	}
	_, err = d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{Nonce: n}), req)
	wantReason(t, err, ReasonUseDPoPNonce)
	if d.Nonce() == n {
		t.Error("the nonce did not rotate")
	}
}

func TestNormalizeHTU(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://api.example.com/orders":          "https://api.example.com/orders",
		"HTTPS://API.Example.COM:443/orders":      "https://api.example.com/orders",
		"https://api.example.com/orders?x=1#frag": "https://api.example.com/orders",
		"https://api.example.com":                 "https://api.example.com/",
		"http://api.example.com:80/a":             "http://api.example.com/a",
		"http://api.example.com:8080/a":           "http://api.example.com:8080/a",
		"https://api.example.com/a/%7euser/%2f":   "https://api.example.com/a/~user/%2F",
		"https://api.example.com/a/./b/../c":      "https://api.example.com/a/c",
		"https://[::1]:8443/x":                    "https://[::1]:8443/x",
		"https://api.example.com/a/..":            "https://api.example.com/",
	} {
		got, ok := NormalizeHTU(in)
		if !ok || got != want {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "/orders", "ftp://x/y", "https://user@x/y", "https://x/%zz", "mailto:a@b"} {
		if got, ok := NormalizeHTU(bad); ok {
			t.Errorf("NormalizeHTU(%q) = %q, want refusal", bad, got)
		}
	}
}

func TestMemoryReplayCacheForgetsExpiredEntries(t *testing.T) {
	t.Parallel()
	c := NewMemoryReplayCache()
	now := time.Unix(1000, 0)
	var k [32]byte
	for i := range 100 {
		k[0], k[1] = byte(i), byte(i)
		if ok, _ := c.Use(context.Background(), k, now.Add(time.Second), now); !ok {
			t.Fatal("a new key was refused")
		}
	}
	if ok, _ := c.Use(context.Background(), k, now.Add(time.Second), now); ok {
		t.Fatal("a used key was accepted")
	}
	later := now.Add(replaySweepEvery + time.Second)
	for i := range 100 {
		k[0], k[1] = byte(i), byte(i)
		if ok, _ := c.Use(context.Background(), k, later.Add(time.Second), later); !ok {
			t.Fatal("an expired key was refused")
		}
	}
	if n := c.Len(); n != 100 {
		t.Errorf("Len = %d, want 100 (expired entries swept)", n)
	}
}

// dpopFixture is a verifier with DPoP and a token bound to a client's key.
type dpopFixture struct {
	clk    *testClock
	is     *testIssuer
	key    signingKey
	client *dpoptest.Client
	token  string // bound to client
	bearer string // unbound
	h      http.Handler
}

func newDPoPFixture(t *testing.T, edit func(*DPoPConfig)) *dpopFixture {
	t.Helper()
	f := &dpopFixture{clk: newClock(), key: newECKey(t, "k1")}
	f.is = newIssuer(t, f.key)
	f.client = client(t, f.clk, jose.ES256)
	d := newTestDPoP(t, f.clk, func(c *DPoPConfig) {
		c.RequestURL = func(r *http.Request) string { return "https://api.example.com" + r.URL.Path }
		if edit != nil {
			edit(c)
		}
	})
	v := newVerifier(t, f.is, f.clk, func(c *Config) { c.DPoP = d })
	claims := claimsAt(f.is, f.clk)
	f.bearer = mint(t, f.key, claims)
	claims["jti"] = "jti-bound"
	claims["cnf"] = map[string]string{"jkt": f.client.JKT()}
	f.token = mint(t, f.key, claims)
	f.h = v.Middleware("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := FromContext(r.Context())
		if c.JKT != "" && c.JKT != f.client.JKT() {
			t.Errorf("claims jkt = %q", c.JKT)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return f
}

func (f *dpopFixture) do(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	return rec
}

func (f *dpopFixture) request(method, path, scheme, tok string) *http.Request {
	r := httptest.NewRequest(method, "http://backend.internal"+path, nil)
	if tok != "" {
		r.Header.Set("Authorization", scheme+" "+tok)
	}
	return r
}

const dpopAlgs = `algs="ES256 EdDSA RS256"`

func TestMiddlewareDPoP(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t, nil)
	htu := "https://api.example.com/orders"
	proof := func(o dpoptest.Options) string {
		if o.AccessToken == "" {
			o.AccessToken = f.token
		}
		return f.client.Proof("GET", htu, o)
	}

	// The bound token with a fresh proof of its key passes, in any case of
	// the scheme.
	for _, scheme := range []string{"DPoP", "dpop"} {
		r := f.request("GET", "/orders?page=2", scheme, f.token)
		r.Header.Set("DPoP", proof(dpoptest.Options{}))
		if rec := f.do(r); rec.Code != http.StatusNoContent {
			t.Fatalf("%s: status %d: %s", scheme, rec.Code, rec.Body)
		}
	}
	// A bearer token still works as Bearer, with or without a DPoP header.
	if rec := f.do(f.request("GET", "/orders", "Bearer", f.bearer)); rec.Code != http.StatusNoContent {
		t.Fatalf("bearer: %d", rec.Code)
	}

	replayed := proof(dpoptest.Options{})
	r := f.request("GET", "/orders", "DPoP", f.token)
	r.Header.Set("DPoP", replayed)
	if rec := f.do(r); rec.Code != http.StatusNoContent {
		t.Fatalf("first use: %d", rec.Code)
	}

	other := client(t, f.clk, jose.ES256)
	for _, tc := range []struct {
		name      string
		req       func() *http.Request
		challenge string
	}{
		{"bound token downgraded to Bearer", func() *http.Request {
			r := f.request("GET", "/orders", "Bearer", f.token)
			r.Header.Set("DPoP", proof(dpoptest.Options{}))
			return r
		}, `DPoP realm="api", error="invalid_token", ` + dpopAlgs},
		{"bound token without a proof", func() *http.Request {
			return f.request("GET", "/orders", "DPoP", f.token)
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"two proofs", func() *http.Request {
			r := f.request("GET", "/orders", "DPoP", f.token)
			r.Header.Add("DPoP", proof(dpoptest.Options{}))
			r.Header.Add("DPoP", proof(dpoptest.Options{}))
			return r
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"proof for another method", func() *http.Request {
			r := f.request("DELETE", "/orders", "DPoP", f.token)
			r.Header.Set("DPoP", proof(dpoptest.Options{}))
			return r
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"proof for another URL", func() *http.Request {
			r := f.request("GET", "/admin", "DPoP", f.token)
			r.Header.Set("DPoP", proof(dpoptest.Options{}))
			return r
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"proof for another token", func() *http.Request {
			r := f.request("GET", "/orders", "DPoP", f.token)
			r.Header.Set("DPoP", proof(dpoptest.Options{AccessToken: f.bearer}))
			return r
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"proof by another key", func() *http.Request {
			r := f.request("GET", "/orders", "DPoP", f.token)
			r.Header.Set("DPoP", other.Proof("GET", htu, dpoptest.Options{AccessToken: f.token}))
			return r
		}, `DPoP realm="api", error="invalid_token", ` + dpopAlgs},
		{"replayed proof", func() *http.Request {
			r := f.request("GET", "/orders", "DPoP", f.token)
			r.Header.Set("DPoP", replayed)
			return r
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"expired proof", func() *http.Request {
			r := f.request("GET", "/orders", "DPoP", f.token)
			r.Header.Set("DPoP", proof(dpoptest.Options{IssuedAt: f.clk.Now().Add(-2 * time.Minute)}))
			return r
		}, `DPoP realm="api", error="invalid_dpop_proof", ` + dpopAlgs},
		{"unbound token in the DPoP scheme", func() *http.Request {
			r := f.request("GET", "/orders", "DPoP", f.bearer)
			r.Header.Set("DPoP", f.client.Proof("GET", htu, dpoptest.Options{AccessToken: f.bearer}))
			return r
		}, `DPoP realm="api", error="invalid_token", ` + dpopAlgs},
		{"no credentials at all", func() *http.Request {
			return f.request("GET", "/orders", "", "")
		}, `Bearer realm="api"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRefusal(t, f.do(tc.req()), http.StatusUnauthorized, tc.challenge, "")
		})
	}
}

func TestMiddlewareRefusesBoundTokensWithoutDPoPConfigured(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	c := client(t, clk, jose.ES256)
	claims := claimsAt(is, clk)
	claims["cnf"] = map[string]string{"jkt": c.JKT()}
	tok := mint(t, k, claims)
	h := v.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for _, scheme := range []string{"Bearer", "DPoP"} {
		r := httptest.NewRequest("GET", "http://api.example.com/orders", nil)
		r.Header.Set("Authorization", scheme+" "+tok)
		r.Header.Set("DPoP", c.Proof("GET", "http://api.example.com/orders", dpoptest.Options{AccessToken: tok}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		checkRefusal(t, rec, http.StatusUnauthorized, `DPoP realm="api", error="invalid_token", `+dpopAlgs, "")
	}
	// A cnf of another method is never a bearer token either.
	claims["cnf"] = map[string]string{"x5t#S256": "abc"}
	tok = mint(t, k, claims)
	r := httptest.NewRequest("GET", "http://api.example.com/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("a token with an mTLS cnf passed as Bearer: %d", rec.Code)
	}
}

func TestMiddlewareDPoPNonce(t *testing.T) {
	t.Parallel()
	nonces, _ := NewHMACNonces([]byte(strings.Repeat("n", 32)), time.Minute)
	f := newDPoPFixture(t, func(c *DPoPConfig) { c.Nonces = nonces })
	r := f.request("GET", "/orders", "DPoP", f.token)
	r.Header.Set("DPoP", f.client.Proof("GET", "https://api.example.com/orders", dpoptest.Options{AccessToken: f.token}))
	rec := f.do(r)
	checkRefusal(t, rec, http.StatusUnauthorized, `DPoP realm="api", error="use_dpop_nonce", `+dpopAlgs, "")
	n := rec.Header().Get("DPoP-Nonce")
	if !nonces.Valid(n, f.clk.Now()) {
		t.Fatalf("DPoP-Nonce = %q, not a valid nonce", n)
	}
	r = f.request("GET", "/orders", "DPoP", f.token)
	r.Header.Set("DPoP", f.client.Proof("GET", "https://api.example.com/orders", dpoptest.Options{AccessToken: f.token, Nonce: n}))
	if rec := f.do(r); rec.Code != http.StatusNoContent {
		t.Fatalf("with the nonce: %d %s", rec.Code, rec.Body)
	}
}

func TestClaimsCarryTheConfirmation(t *testing.T) {
	t.Parallel()
	b, err := Claims{Issuer: "i", JKT: "abc"}.MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"cnf":{"jkt":"abc"}`) {
		t.Fatalf("%s %v", b, err)
	}
	b, _ = Claims{Issuer: "i"}.MarshalJSON()
	if strings.Contains(string(b), "cnf") {
		t.Fatalf("a bearer token has cnf: %s", b)
	}
}

// The parsed-key cache saves decoding a jwk header again, never the
// signature check: a proof naming a cached key but signed by another is
// refused, and so is a crit header.
func TestDPoPKeyCacheStillChecksEverySignature(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, nil)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		c, other := client(t, clk, alg), client(t, clk, alg)
		for i := 0; i < 2; i++ { // the second proof hits the cache
			p, err := d.Check(context.Background(), c.Proof("POST", testHTU, dpoptest.Options{}), ProofRequest{Method: "POST", URL: testHTU})
			if err != nil || p.JKT != c.JKT() {
				t.Fatalf("%s, proof %d: %v, %v", alg, i, p, err)
			}
		}
		forged := other.Proof("POST", testHTU, dpoptest.Options{JWK: c.Key.Public()})
		_, err := d.Check(context.Background(), forged, ProofRequest{Method: "POST", URL: testHTU})
		wantReason(t, err, ReasonInvalidDPoPProof)
	}
}

func TestDPoPKeyCacheIsBounded(t *testing.T) {
	t.Parallel()
	var c proofKeys
	for i := 0; i < cacheShards*proofKeyShardSize*2; i++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := (&jose.JSONWebKey{Key: k.Public()}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if c.get(raw) == nil {
			t.Fatal("a valid jwk was refused")
		}
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > cacheShards*proofKeyShardSize {
		t.Fatalf("%d keys cached, cap %d", n, cacheShards*proofKeyShardSize)
	}
	if c.get([]byte(`{"kty":"oct","k":"AAAA"}`)) != nil {
		t.Fatal("a symmetric jwk was accepted")
	}
}

func TestDPoPRefusesCrit(t *testing.T) {
	t.Parallel()
	clk := newClock()
	d := newTestDPoP(t, clk, nil)
	c := client(t, clk, jose.ES256)
	p := c.Proof("POST", testHTU, dpoptest.Options{})
	h, rest, _ := strings.Cut(p, ".")
	hb, _ := b64.DecodeString(h)
	hb = append([]byte(`{"crit":["exp"],`), hb[1:]...)
	_, err := d.Check(context.Background(), base64.RawURLEncoding.EncodeToString(hb)+"."+rest, ProofRequest{Method: "POST", URL: testHTU})
	wantReason(t, err, ReasonInvalidDPoPProof)
}
