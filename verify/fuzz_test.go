package verify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// FuzzVerify: no input panics, and none verifies but the two valid tokens.
func FuzzVerify(f *testing.F) {
	clk := newClock()
	// A fixed key: the fuzzing workers are other processes, and the seeds
	// the coordinator made must verify there too.
	fixed, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	k := signingKey{kid: "k1", alg: "ES256", priv: fixed}
	doc := []byte(mustJSON(f, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}}))
	const iss = "https://gatehouse.example"
	v, err := New(Config{AnyAudience: true, Issuer: iss, Now: clk.Now, JWKS: func() ([]byte, string) { return doc, "1" }})
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close()
	claims := map[string]any{"iss": iss, "exp": clk.Now().Unix() + 60, "scope": "a b", "aud": []string{"x"}}
	valid := mint(f, k, claims)
	priv := k.priv.(*ecdsa.PrivateKey)
	validNoKID := craft(f, priv, `{"alg":"ES256","typ":"at+jwt"}`, mustJSON(f, claims))
	f.Add(valid)
	f.Add(validNoKID)
	f.Add(craft(f, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","jku":"x"}`, mustJSON(f, claims)))
	f.Add(craft(f, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"`+iss+`","exp":9999999999,"act":{"sub":"a","act":{"act":{}}}}`))
	f.Add(b64url(`{"alg":"none"}`) + "." + b64url(`{}`) + ".")
	f.Add("a.b.c")
	f.Add("..")
	f.Add(strings.Repeat(".", 10))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		// ECDSA signatures are randomized: a verified token must carry the
		// header and claims of a valid seed, whatever its signature.
		if err == nil && signingInput(token) != signingInput(valid) && signingInput(token) != signingInput(validNoKID) {
			t.Fatalf("a token other than the valid one verified: %+v", c)
		}
		if err != nil && len(token) >= 16 && strings.Contains(err.Error(), token) {
			t.Fatal("the error quotes the token")
		}
	})
}

func signingInput(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return token
	}
	return token[:i]
}

// FuzzBearerToken: what BearerToken returns is a non-empty token68 that
// the header carried after the Bearer scheme.
func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "Bearer  x==", "Basic x", "Bearer", "Bearer a b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		tok, ok := BearerToken(r)
		if !ok {
			if tok != "" {
				t.Fatal("a token with ok false")
			}
			return
		}
		if tok == "" || !isToken68(tok) || !strings.HasSuffix(h, tok) || !strings.EqualFold(h[:7], "bearer ") {
			t.Fatalf("BearerToken(%q) = %q", h, tok)
		}
		if strings.TrimSpace(h[7:len(h)-len(tok)]) != "" {
			t.Fatalf("BearerToken(%q) = %q skips more than spaces", h, tok)
		}
	})
}
