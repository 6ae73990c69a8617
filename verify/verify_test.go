package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"
)

func TestVerifyValidToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)

	c, err := v.Verify(context.Background(), mint(t, k, claimsAt(is, clk)))
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	if c.Issuer != is.srv.URL || c.Subject != "user-1" || c.ClientID != "client-1" || c.ID != "jti-1" || c.KeyID != "k1" {
		t.Errorf("claims = %+v", c)
	}
	if !c.ExpiresAt.Equal(now.Add(300*time.Second)) || !c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now) {
		t.Errorf("dates = %v %v %v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
	}
	if !c.HasScope("orders:read") || !c.HasScopes([]string{"orders:read", "orders:write"}) || c.HasScope("orders") {
		t.Errorf("scopes = %q", c.Scopes)
	}
	if !c.HasScopes(nil) || c.HasScopes([]string{"orders:read", "admin"}) {
		t.Error("HasScopes is wrong on an empty or partly held list")
	}
	if !c.HasAudience("https://api.example") || c.HasAudience("https://other.example") {
		t.Errorf("aud = %q", c.Audience)
	}
}

func TestVerifyRSAKey(t *testing.T) {
	t.Parallel()
	clk := newClock()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := signingKey{kid: "rsa", alg: "RS256", priv: priv}
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	if _, err := v.Verify(context.Background(), mint(t, k, claimsAt(is, clk))); err != nil {
		t.Fatal(err)
	}
	// The same key, an allowed algorithm, but not the key's "alg" member.
	ps := signingKey{kid: "rsa", alg: "PS256", priv: priv}
	v2 := newVerifier(t, is, clk, func(c *Config) { c.Algorithms = []string{"RS256", "PS256"} })
	if _, err := v2.Verify(context.Background(), mint(t, ps, claimsAt(is, clk))); ReasonOf(err) != ReasonBadSignature {
		t.Fatalf("PS256 on an RS256 key: %v", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	priv := k.priv.(*ecdsa.PrivateKey)
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, func(c *Config) { c.CacheSize = -1 })
	now := clk.Now().Unix()
	good := claimsAt(is, clk)
	with := func(edit map[string]any) string {
		c := maps.Clone(good)
		for name, val := range edit {
			if val == nil {
				delete(c, name)
			} else {
				c[name] = val
			}
		}
		return mustJSON(t, c)
	}
	okHeader := `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	hs256 := func(secret []byte) string {
		input := b64url(`{"alg":"HS256","kid":"k1","typ":"at+jwt"}`) + "." + b64url(with(nil))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	valid := craft(t, priv, okHeader, with(nil))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name  string
		token string
		want  Reason
	}{
		{"a crafted valid token verifies", valid, ""},
		{"empty token", "", ReasonMissing},
		{"oversized token", valid + strings.Repeat("A", MaxTokenSize), ReasonMalformed},
		{"not three parts", parts[0] + "." + parts[1], ReasonMalformed},
		{"four parts", valid + ".AAAA", ReasonMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], ReasonMalformed},
		{"expired", craft(t, priv, okHeader, with(map[string]any{"exp": now - 31})), ReasonExpired},
		{"expired within leeway is accepted", craft(t, priv, okHeader, with(map[string]any{"exp": now - 20})), ""},
		{"nbf in the future", craft(t, priv, okHeader, with(map[string]any{"nbf": now + 31})), ReasonNotYetValid},
		{"nbf within leeway is accepted", craft(t, priv, okHeader, with(map[string]any{"nbf": now + 20})), ""},
		{"iat in the future", craft(t, priv, okHeader, with(map[string]any{"iat": now + 31})), ReasonNotYetValid},
		{"no exp", craft(t, priv, okHeader, with(map[string]any{"exp": nil})), ReasonMalformed},
		{"exp a string", craft(t, priv, okHeader, with(map[string]any{"exp": "soon"})), ReasonMalformed},
		{"exp out of range", craft(t, priv, okHeader, with(map[string]any{"exp": 1e300})), ReasonMalformed},
		{"fractional exp", craft(t, priv, okHeader, with(map[string]any{"exp": float64(now) + 300.5})), ""},
		{"wrong issuer", craft(t, priv, okHeader, with(map[string]any{"iss": "https://evil.example"})), ReasonWrongIssuer},
		{"issuer with a trailing slash", craft(t, priv, okHeader, with(map[string]any{"iss": is.srv.URL + "/"})), ReasonWrongIssuer},
		{"ISS in capitals is not iss", craft(t, priv, okHeader, with(map[string]any{"iss": nil, "ISS": is.srv.URL})), ReasonWrongIssuer},
		{"wrong audience", craft(t, priv, okHeader, with(map[string]any{"aud": "https://other.example"})), ReasonWrongAudience},
		{"audience in an array", craft(t, priv, okHeader, with(map[string]any{"aud": []string{"x", "https://api.example"}})), ""},
		{"audience of another type", craft(t, priv, okHeader, with(map[string]any{"aud": 7})), ReasonMalformed},
		{"duplicate claim", craft(t, priv, okHeader, strings.Replace(with(nil), `{`, `{"iss":"https://evil.example",`, 1)), ReasonMalformed},
		{"claims not an object", craft(t, priv, okHeader, `[1]`), ReasonMalformed},
		{"wrong typ", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"JWT"}`, with(nil)), ReasonWrongType},
		{"no typ", craft(t, priv, `{"alg":"ES256","kid":"k1"}`, with(nil)), ReasonWrongType},
		{"typ with application/ and capitals", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"Application/AT+JWT"}`, with(nil)), ""},
		{"alg none", b64url(`{"alg":"none","kid":"k1","typ":"at+jwt"}`) + "." + b64url(with(nil)) + ".", ReasonMalformed},
		{"alg none with a signature", b64url(`{"alg":"none","kid":"k1","typ":"at+jwt"}`) + "." + b64url(with(nil)) + ".AAAA", ReasonMalformed},
		{"HS256 with the public key as secret", hs256(pubDER), ReasonMalformed},
		{"alg not allowed", craft(t, priv, `{"alg":"ES384","kid":"k1","typ":"at+jwt"}`, with(nil)), ReasonMalformed},
		{"RS256 header on an EC key", craft(t, priv, `{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, with(nil)), ReasonBadSignature},
		{"jwk header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","jwk":{"kty":"EC"}}`, with(nil)), ReasonMalformed},
		{"jku header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","jku":"https://evil.example/jwks"}`, with(nil)), ReasonMalformed},
		{"x5u header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","x5u":"https://evil.example/c"}`, with(nil)), ReasonMalformed},
		{"x5c header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","x5c":["MIIB"]}`, with(nil)), ReasonMalformed},
		{"crit header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","crit":["exp"],"exp":1}`, with(nil)), ReasonMalformed},
		{"null jku header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","jku":null}`, with(nil)), ReasonMalformed},
		{"nonce header", craft(t, priv, `{"alg":"ES256","kid":"k1","typ":"at+jwt","nonce":"n"}`, with(nil)), ReasonMalformed},
		{"duplicate alg", craft(t, priv, `{"alg":"ES256","alg":"ES256","kid":"k1","typ":"at+jwt"}`, with(nil)), ReasonMalformed},
		{"ALG in capitals", craft(t, priv, `{"ALG":"ES256","kid":"k1","typ":"at+jwt"}`, with(nil)), ReasonMalformed},
		{"header not JSON", b64url("{") + "." + parts[1] + "." + parts[2], ReasonMalformed},
		{"tampered payload", parts[0] + "." + b64url(with(map[string]any{"sub": "admin"})) + "." + parts[2], ReasonBadSignature},
		{"signature of another key", craft(t, newECKey(t, "x").priv.(*ecdsa.PrivateKey), okHeader, with(nil)), ReasonBadSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:40], ReasonBadSignature},
		{"kid of no key", craft(t, priv, `{"alg":"ES256","kid":"nope","typ":"at+jwt"}`, with(nil)), ReasonUnknownKID},
		{"no kid with a one-key set", craft(t, priv, `{"alg":"ES256","typ":"at+jwt"}`, with(nil)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.token)
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err %v)", got, tt.want, err)
			}
			if tt.want == "" && c == nil {
				t.Fatal("no claims")
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%T is not an *Error", err)
				}
				if tt.token != "" && (strings.Contains(err.Error(), tt.token) || strings.Contains(err.Error(), parts[2])) {
					t.Fatal("the error quotes the token")
				}
			}
		})
	}
}

func TestVerifyKidRequiredWithSeveralKeys(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1, k2)
	v := newVerifier(t, is, clk, nil)
	tok := craft(t, k1.priv.(*ecdsa.PrivateKey), `{"alg":"ES256","typ":"at+jwt"}`, mustJSON(t, claimsAt(is, clk)))
	if _, err := v.Verify(context.Background(), tok); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("no kid among two keys: %v", err)
	}
	if _, err := v.Verify(context.Background(), mint(t, k2, claimsAt(is, clk))); err != nil {
		t.Fatal(err)
	}
}

func TestKeySetSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	ec := newECKey(t, "enc")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	encJWK := ec.jwk()
	encJWK.Use = "enc"
	smallJWK := signingKey{kid: "small", alg: "RS256", priv: small}.jwk()
	sig := newECKey(t, "sig")
	privJWK := sig.jwk()
	privJWK.Key = sig.priv // a private key published by mistake: only its public part is used
	doc := mustJSON(t, map[string]any{"keys": []any{encJWK, smallJWK, privJWK}})
	set, err := parseKeySet([]byte(doc), "1", []string{"ES256", "RS256"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set.lookup("enc") != nil || set.lookup("small") != nil {
		t.Error("a key with use enc or an RSA key under 2048 bits is usable")
	}
	if k := set.lookup("sig"); k == nil {
		t.Fatal("the signing key is missing")
	} else if _, ok := k.key.(*ecdsa.PublicKey); !ok {
		t.Fatalf("key is %T, want the public part", k.key)
	}
	if _, err := parseKeySet([]byte(`{"keys":[]}`), "1", []string{"ES256"}, nil); err == nil {
		t.Error("an empty set parses")
	}
	if _, err := parseKeySet([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), "1", []string{"ES256"}, nil); err == nil {
		t.Error("a set of only a symmetric key parses")
	}
	dup := mustJSON(t, map[string]any{"keys": []any{sig.jwk(), sig.jwk()}})
	if _, err := parseKeySet([]byte(dup), "1", []string{"ES256"}, nil); err == nil {
		t.Error("two keys under one kid parse")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{}},
		{"no audience", Config{Issuer: "https://a.example"}},
		{"HS256", Config{AnyAudience: true, Issuer: "https://a.example", Algorithms: []string{"HS256"}}},
		{"none", Config{AnyAudience: true, Issuer: "https://a.example", Algorithms: []string{"ES256", "none"}}},
		{"empty algorithm list", Config{AnyAudience: true, Issuer: "https://a.example", Algorithms: []string{}}},
		{"empty type list", Config{AnyAudience: true, Issuer: "https://a.example", Types: []string{}}},
		{"negative leeway", Config{AnyAudience: true, Issuer: "https://a.example", Leeway: -time.Second}},
		{"http issuer off loopback", Config{AnyAudience: true, Issuer: "http://auth.example"}},
		{"http jwks_uri off loopback", Config{AnyAudience: true, Issuer: "https://a.example", JWKSURI: "http://10.0.0.1/jwks"}},
		{"jwks_uri with credentials", Config{AnyAudience: true, Issuer: "https://a.example", JWKSURI: "https://u:p@a.example/jwks"}},
		{"relative jwks_uri", Config{AnyAudience: true, Issuer: "https://a.example", JWKSURI: "/jwks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if err == nil {
				v.Close()
				t.Fatal("New accepted the config")
			}
		})
	}
	for _, ok := range []string{"https://a.example", "http://127.0.0.1:8080", "http://[::1]:1", "http://localhost"} {
		v, err := New(Config{AnyAudience: true, Issuer: ok, JWKS: func() ([]byte, string) { return nil, "" }})
		if err != nil {
			t.Errorf("%s: %v", ok, err)
			continue
		}
		v.Close()
	}
}

func TestUnknownKIDBurstCausesOneFetch(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	priv := k.priv.(*ecdsa.PrivateKey)
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	payload := mustJSON(t, claimsAt(is, clk))
	forged := make([]string, 100)
	for i := range forged {
		forged[i] = craft(t, priv, fmt.Sprintf(`{"alg":"ES256","kid":"forged-%d","typ":"at+jwt"}`, i), payload)
	}
	burst := func() {
		errs := make(chan error, len(forged))
		for _, tok := range forged {
			go func() {
				_, err := v.Verify(context.Background(), tok)
				errs <- err
			}()
		}
		for range forged {
			if err := <-errs; ReasonOf(err) != ReasonUnknownKID {
				t.Errorf("forged kid: %v", err)
			}
		}
	}

	before := is.jwksHits.Load()
	burst() // within MinRefetchInterval of the first fetch
	if got := is.jwksHits.Load() - before; got != 0 {
		t.Fatalf("a burst right after a fetch fetched %d times, want 0", got)
	}
	clk.Advance(11 * time.Second)
	burst()
	if got := is.jwksHits.Load() - before; got != 1 {
		t.Fatalf("a burst after MinRefetchInterval fetched %d times, want 1", got)
	}
	burst()
	if got := is.jwksHits.Load() - before; got != 1 {
		t.Fatalf("a second burst fetched again: %d fetches", got)
	}
}

func TestRotationPickedUpByRefetch(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1)
	v := newVerifier(t, is, clk, nil)
	is.setKeys(k1, k2)
	tok := mint(t, k2, claimsAt(is, clk))
	if _, err := v.Verify(context.Background(), tok); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("new kid before MinRefetchInterval: %v", err)
	}
	clk.Advance(10 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("new kid after MinRefetchInterval: %v", err)
	}
}

func TestKeyRemovalInvalidatesCachedTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k1, k2 := newECKey(t, "k1"), newECKey(t, "k2")
	is := newIssuer(t, k1, k2)
	v := newVerifier(t, is, clk, nil)
	tok1, tok2 := mint(t, k1, claimsAt(is, clk)), mint(t, k2, claimsAt(is, clk))
	for _, tok := range []string{tok1, tok2} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 2 {
		t.Fatalf("cache holds %d tokens, want 2", n)
	}
	// k1 is compromised: the issuer drops it; a refresh (here the
	// refetch a new kid triggers) brings the new set.
	k3 := newECKey(t, "k3")
	is.setKeys(k2, k3)
	clk.Advance(10 * time.Second)
	if _, err := v.Verify(context.Background(), mint(t, k3, claimsAt(is, clk))); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok1); ReasonOf(err) != ReasonUnknownKID {
		t.Fatalf("a cached token of a removed key: %v", err)
	}
	// k2 is unchanged across the refresh: its cached entry still serves.
	c, err := v.Verify(context.Background(), tok2)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := v.Verify(context.Background(), tok2)
	if c != c2 {
		t.Error("the token of a kept key is not served from the cache")
	}
}

func TestCacheHits(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	revoked := map[string]bool{}
	var calls int
	v := newVerifier(t, is, clk, func(c *Config) {
		c.Revoked = func(jti string) bool { calls++; return revoked[jti] }
	})
	revokedClaims := claimsAt(is, clk)
	revokedClaims["jti"] = "jti-revoked"
	revoked["jti-revoked"] = true
	if _, err := v.Verify(context.Background(), mint(t, k, revokedClaims)); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("revoked jti, uncached: %v", err)
	}
	calls = 0
	tok := mint(t, k, claimsAt(is, clk))
	c1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Error("second Verify did not come from the cache")
	}
	if calls != 2 {
		t.Errorf("Revoked called %d times, want 2", calls)
	}
	// The cache is keyed by the hash, never the token.
	h := sha256.Sum256([]byte(tok))
	if _, ok := v.cache.get(h, clk.Now()); !ok {
		t.Error("no entry under the token's SHA-256")
	}

	t.Run("revoked on a cache hit", func(t *testing.T) {
		revoked["jti-1"] = true
		if _, err := v.Verify(context.Background(), tok); ReasonOf(err) != ReasonRevoked {
			t.Fatalf("revoked jti: %v", err)
		}
		revoked["jti-1"] = false
	})
	t.Run("an entry ends at exp", func(t *testing.T) {
		clk.Advance(300 * time.Second)
		if _, ok := v.cache.get(h, clk.Now()); ok {
			t.Error("the entry outlives exp")
		}
		clk.Advance(31 * time.Second)
		if _, err := v.Verify(context.Background(), tok); ReasonOf(err) != ReasonExpired {
			t.Fatalf("after exp and leeway: %v", err)
		}
	})
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	c := newCache[int](64)
	now := time.Unix(1000, 0)
	for i := range 1000 {
		c.put(sha256.Sum256([]byte(fmt.Sprint(i))), i, now.Add(time.Hour), now)
	}
	if n := c.len(); n > 64 {
		t.Fatalf("cache holds %d entries, want at most 64", n)
	}
	// Expired entries go first: a full shard of expired entries makes room
	// without evicting live ones.
	c = newCache[int](cacheShards)
	var live [32]byte
	for i := 0; ; i++ {
		k := sha256.Sum256([]byte(fmt.Sprint(i)))
		if k[0]%cacheShards == 0 {
			live = k
			break
		}
	}
	old := live
	old[31] ^= 1
	c.put(old, 1, now.Add(time.Second), now)
	c.put(live, 2, now.Add(time.Hour), now.Add(2*time.Second))
	if v, ok := c.get(live, now.Add(3*time.Second)); !ok || v != 2 {
		t.Fatal("the live entry is missing")
	}
	if newCache[int](-1) != nil {
		t.Error("a negative size does not disable the cache")
	}
}
