package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testClock is an injected clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signingKey is a key the test issuer signs with.
type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func newECKey(t testing.TB, kid string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid: kid, alg: "ES256", priv: priv}
}

func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}

// testIssuer is an httptest server serving OpenID Provider metadata and a
// JWK Set that tests change at will.
type testIssuer struct {
	srv *httptest.Server

	mu         sync.Mutex
	keys       []jose.JSONWebKey
	metaIssuer string // "" serves the server's own URL
	jwksURI    string // "" serves the server's /jwks
	jwksBody   []byte // nil serves keys
	hang       chan struct{}

	jwksHits atomic.Int64
	metaHits atomic.Int64
}

func newIssuer(t testing.TB, keys ...signingKey) *testIssuer {
	t.Helper()
	is := &testIssuer{}
	for _, k := range keys {
		is.keys = append(is.keys, k.jwk())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.metaHits.Add(1)
		is.mu.Lock()
		iss, uri := is.metaIssuer, is.jwksURI
		is.mu.Unlock()
		if iss == "" {
			iss = is.srv.URL
		}
		if uri == "" {
			uri = is.srv.URL + "/jwks"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": uri})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.jwksHits.Add(1)
		is.mu.Lock()
		hang, body := is.hang, is.jwksBody
		if body == nil {
			body, _ = json.Marshal(jose.JSONWebKeySet{Keys: is.keys})
		}
		is.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *testIssuer) setKeys(keys ...signingKey) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = nil
	for _, k := range keys {
		is.keys = append(is.keys, k.jwk())
	}
}

// newVerifier starts a Verifier on the issuer's discovery document and
// waits for its key set.
func newVerifier(t testing.TB, is *testIssuer, clk *testClock, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Issuer: is.srv.URL, Audience: "https://api.example", Now: clk.Now}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

// claimsAt are valid claims for the test issuer at the clock's time.
func claimsAt(is *testIssuer, clk *testClock) map[string]any {
	now := clk.Now().Unix()
	return map[string]any{
		"iss":       is.srv.URL,
		"sub":       "user-1",
		"aud":       "https://api.example",
		"exp":       now + 300,
		"iat":       now,
		"nbf":       now,
		"jti":       "jti-1",
		"client_id": "client-1",
		"scope":     "orders:read orders:write",
	}
}

// mint signs claims with go-jose, with typ at+jwt and the key's kid.
func mint(t testing.TB, k signingKey, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.alg), Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// craft builds a token from a raw header and payload and signs it with an
// ES256 key as given (R||S), so tests can produce headers go-jose would
// refuse to write.
func craft(t testing.TB, priv *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := b64url(header) + "." + b64url(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
