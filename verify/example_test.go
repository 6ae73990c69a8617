package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// A service protects its routes with Middleware. Real services set Issuer
// (and Audience) and let the Verifier fetch the issuer's keys; the example
// supplies a key set locally so that it runs without a network.
func ExampleVerifier_Middleware() {
	const issuer = "https://auth.example.com"
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: priv.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"},
	}})

	v, err := verify.New(verify.Config{
		Issuer:   issuer,
		Audience: "https://orders.example.com",
		JWKS:     func() ([]byte, string) { return jwks, "1" },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verify.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s", claims.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware("orders:read")(orders))

	// What Gatehouse would issue.
	signer, _ := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	payload, _ := json.Marshal(map[string]any{
		"iss": issuer, "sub": "alice", "aud": "https://orders.example.com",
		"exp": time.Now().Add(5 * time.Minute).Unix(), "scope": "orders:read",
	})
	jws, _ := signer.Sign(payload)
	token, _ := jws.CompactSerialize()

	for _, auth := range []string{"Bearer " + token, ""} {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String())
	}
	// Output:
	// 200  orders of alice
	// 401 Bearer realm="api" {"type":"urn:gatehouse:problem:credentials_missing","title":"Unauthorized","status":401,"detail":"Authentication is required."}
}
