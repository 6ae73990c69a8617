package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// Expect is what verifyWith requires of a token: the configuration of
// the verifier the server builds over its keyring, one per kind of token.
type Expect struct {
	Type     string
	Issuer   string
	Audience string        // "" accepts any
	Leeway   time.Duration // 0: the keyring's
}

// verifyWith checks token as the server does: with package verify over
// k's JWKS, on k's clock, allowing every algorithm a keyring signs with
// (the key fixes which one a token may use).
func verifyWith(k *Keyring, token string, want Expect) (*verify.Claims, error) {
	leeway := want.Leeway
	if leeway == 0 {
		leeway = k.Leeway()
	}
	v, err := verify.New(verify.Config{
		Issuer: want.Issuer, Audience: want.Audience, AnyAudience: want.Audience == "",
		Types: []string{want.Type}, Leeway: leeway, Algorithms: SupportedAlgorithms(),
		JWKS: k.JWKS, Now: k.now, CacheSize: -1,
	})
	if err != nil {
		return nil, err
	}
	return v.Verify(context.Background(), token)
}

const testIssuer = "https://auth.example.test"

var b64 = base64.RawURLEncoding

func accessClaims(now time.Time) *verify.Claims {
	return &verify.Claims{
		Issuer:    testIssuer,
		Subject:   "usr_1",
		Audience:  []string{"https://api.example.test"},
		ExpiresAt: now.Add(10 * time.Minute),
		IssuedAt:  now,
		NotBefore: now,
		ID:        "jti-1",
		ClientID:  "cli_1",
		Scopes:    []string{"read", "write"},
	}
}

var wantAccess = Expect{Type: "at+jwt", Issuer: testIssuer, Audience: "https://api.example.test"}

// craft builds a compact JWS from a header and claims given as JSON
// values, signing the input with sign (nil: an empty signature).
func craft(t *testing.T, header, claims any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64.EncodeToString(sig)
}

// es256 signs like RFC 7518 §3.4: r and s, 32 bytes each.
func es256(priv *ecdsa.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte {
		sum := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

// signWithHeaders signs claims with the keyring's current (ES256) private
// key, adding extra header parameters: a token that is validly signed by
// our own key and must still be refused.
func signWithHeaders(t *testing.T, k *Keyring, claims any, extra map[string]any) string {
	t.Helper()
	cur := k.currentEntry()
	h := map[string]any{"alg": cur.alg, "kid": cur.kid, "typ": "at+jwt"}
	maps.Copy(h, extra)
	return craft(t, h, claims, es256(cur.private.(*ecdsa.PrivateKey)))
}

func TestSignAndVerifyEachAlgorithm(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			opts := testOptions(c)
			opts.Algorithm = alg
			k := newKeyring(t, newStore(t), opts)
			want := accessClaims(c.Now())
			tok, err := k.Sign("at+jwt", want)
			if err != nil {
				t.Fatal(err)
			}
			header := decodeSegment(t, tok, 0)
			cur := k.currentEntry()
			if header["alg"] != alg || header["kid"] != cur.kid || header["typ"] != "at+jwt" || len(header) != 3 {
				t.Fatalf("header %v; want alg %s, kid %s, typ at+jwt and nothing else", header, alg, cur.kid)
			}
			got, err := verifyWith(k, tok, wantAccess)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Subject != want.Subject || got.ClientID != want.ClientID || !got.ExpiresAt.Equal(want.ExpiresAt.Truncate(time.Second)) || !slices.Equal(got.Scopes, want.Scopes) || got.ID != want.ID {
				t.Fatalf("claims %+v, want %+v", got, want)
			}
			if algs := k.Algorithms(); len(algs) != 1 || algs[0] != alg {
				t.Fatalf("Algorithms = %v", algs)
			}
			// An ID token: typ JWT, verified as such and not as an access token.
			idTok, err := k.Sign("JWT", map[string]any{"iss": testIssuer, "sub": "usr_1", "aud": "cli_1",
				"exp": c.Now().Add(time.Hour).Unix(), "nonce": "n-1", "auth_time": c.Now().Unix()})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := verifyWith(k, idTok, Expect{Type: "JWT", Issuer: testIssuer, Audience: "cli_1"}); err != nil || !got.AuthTime.Equal(c.Now()) {
				t.Fatalf("ID token: %+v, %v", got, err)
			}
			if _, err := verifyWith(k, idTok, wantAccess); verify.ReasonOf(err) != verify.ReasonWrongType {
				t.Fatalf("an ID token verified as an access token: %v", err)
			}
		})
	}
}

func TestRSAKeySizes(t *testing.T) {
	t.Parallel()
	c := newClock()
	opts := testOptions(c)
	opts.Algorithm = RS256
	k := newKeyring(t, newStore(t), opts)
	if bits := k.currentEntry().public.(*rsa.PublicKey).N.BitLen(); bits != DefaultRSABits {
		t.Fatalf("RSA key of %d bits, want %d", bits, DefaultRSABits)
	}
	priv, err := generate(RS256, 3072)
	if err != nil || priv.(*rsa.PrivateKey).N.BitLen() != 3072 {
		t.Fatalf("3072 bits: %v", err)
	}
	for _, bits := range []int{1024, 2047, 2049, 8192} {
		opts.RSABits = bits
		if _, err := New(t.Context(), newStore(t), testSealer(t, testSecret), opts); err == nil {
			t.Errorf("New accepted RSABits %d", bits)
		}
	}
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	raw, err := b64.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	c := newClock()
	k := newKeyring(t, newStore(t), testOptions(c))
	now := c.Now()
	cur := k.currentEntry()
	kid := cur.kid
	good := accessClaims(now)
	goodTok, err := k.Sign("at+jwt", good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyWith(k, goodTok, wantAccess); err != nil {
		t.Fatalf("the good token does not verify: %v", err)
	}
	ourSign := es256(cur.private.(*ecdsa.PrivateKey))
	hdr := map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}
	withHdr := func(kv ...any) map[string]any {
		h := map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(h, kv[i].(string))
			} else {
				h[kv[i].(string)] = kv[i+1]
			}
		}
		return h
	}
	with := func(f func(c *verify.Claims)) *verify.Claims {
		c := *good
		f(&c)
		return &c
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWK := jose.JSONWebKey{Key: attacker.Public(), KeyID: kid, Algorithm: "ES256"}
	pubDER, _ := x509.MarshalPKIXPublicKey(cur.public)
	hmacWith := func(secret []byte) func([]byte) []byte {
		return func(input []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(input)
			return m.Sum(nil)
		}
	}
	segs := strings.Split(goodTok, ".")
	flip := func(s string) string {
		b, _ := b64.DecodeString(s)
		b[len(b)/2] ^= 0x01
		return b64.EncodeToString(b)
	}
	otherPayload := b64.EncodeToString(mustJSON(with(func(c *verify.Claims) { c.Subject = "usr_admin" })))

	cases := []struct {
		name  string
		token string
		want  Expect
		err   verify.Reason // "": any refusal
	}{
		{"alg none", craft(t, withHdr("alg", "none"), good, nil), wantAccess, verify.ReasonMalformed},
		{"alg none, capitalised", craft(t, withHdr("alg", "None"), good, nil), wantAccess, verify.ReasonMalformed},
		{"HS256 with the public key (DER) as the HMAC secret", craft(t, withHdr("alg", "HS256"), good, hmacWith(pubDER)), wantAccess, verify.ReasonMalformed},
		{"HS256 with the published JWK as the HMAC secret", craft(t, withHdr("alg", "HS256"), good, hmacWith(cur.jwk)), wantAccess, verify.ReasonMalformed},
		{"RS256 header on an ES256 key", craft(t, withHdr("alg", "RS256"), good, ourSign), wantAccess, verify.ReasonBadSignature},
		{"no alg", craft(t, withHdr("alg", nil), good, ourSign), wantAccess, verify.ReasonMalformed},
		{"unknown kid", craft(t, withHdr("kid", "not-a-key"), good, ourSign), wantAccess, verify.ReasonUnknownKID},
		{"no kid", craft(t, withHdr("kid", nil), good, ourSign), wantAccess, verify.ReasonUnknownKID},
		{"signed by another key under our kid", craft(t, hdr, good, es256(attacker)), wantAccess, verify.ReasonBadSignature},
		{"embedded jwk of the attacker's key", craft(t, withHdr("jwk", attackerJWK), good, es256(attacker)), wantAccess, verify.ReasonMalformed},
		{"jwk header on a token we signed", signWithHeaders(t, k, good, map[string]any{"jwk": attackerJWK}), wantAccess, verify.ReasonMalformed},
		{"jku header", signWithHeaders(t, k, good, map[string]any{"jku": "https://evil.test/jwks.json"}), wantAccess, verify.ReasonMalformed},
		{"x5u header", signWithHeaders(t, k, good, map[string]any{"x5u": "https://evil.test/cert.pem"}), wantAccess, verify.ReasonMalformed},
		{"x5c header", craft(t, withHdr("x5c", []string{b64Std(selfSigned(t, attacker))}), good, ourSign), wantAccess, verify.ReasonMalformed},
		{"crit header", signWithHeaders(t, k, good, map[string]any{"crit": []string{"exp"}, "exp": 1}), wantAccess, verify.ReasonMalformed},
		{"b64 header", signWithHeaders(t, k, good, map[string]any{"b64": true}), wantAccess, verify.ReasonMalformed},
		{"nonce header", craft(t, withHdr("nonce", "n"), good, ourSign), wantAccess, verify.ReasonMalformed},
		{"typ not a string", craft(t, withHdr("typ", 7), good, ourSign), wantAccess, verify.ReasonMalformed},
		{"typ JWT for an access token", craft(t, withHdr("typ", "JWT"), good, ourSign), wantAccess, verify.ReasonWrongType},
		{"no typ", craft(t, withHdr("typ", nil), good, ourSign), wantAccess, verify.ReasonWrongType},
		{"typ at+jwt for an ID token", goodTok, Expect{Type: "JWT", Issuer: testIssuer}, verify.ReasonWrongType},
		{"payload swapped", segs[0] + "." + otherPayload + "." + segs[2], wantAccess, verify.ReasonBadSignature},
		{"payload bit flipped", segs[0] + "." + flip(segs[1]) + "." + segs[2], wantAccess, verify.ReasonBadSignature},
		{"header bit flipped", flip(segs[0]) + "." + segs[1] + "." + segs[2], wantAccess, ""}, // any refusal
		{"signature bit flipped", segs[0] + "." + segs[1] + "." + flip(segs[2]), wantAccess, verify.ReasonBadSignature},
		{"signature removed", segs[0] + "." + segs[1] + ".", wantAccess, verify.ReasonMalformed},
		{"signature of (0, 0)", segs[0] + "." + segs[1] + "." + b64.EncodeToString(make([]byte, 64)), wantAccess, verify.ReasonBadSignature},
		{"signature in DER", segs[0] + "." + segs[1] + "." + b64.EncodeToString(derSig(t, cur.private.(*ecdsa.PrivateKey), segs[0]+"."+segs[1])), wantAccess, verify.ReasonBadSignature},
		{"two segments", segs[0] + "." + segs[1], wantAccess, verify.ReasonMalformed},
		{"four segments", goodTok + ".x", wantAccess, verify.ReasonMalformed},
		{"JSON serialization", `{"payload":"` + segs[1] + `","protected":"` + segs[0] + `","signature":"` + segs[2] + `"}`, wantAccess, verify.ReasonMalformed},
		{"leading space", " " + goodTok, wantAccess, verify.ReasonMalformed},
		{"empty", "", wantAccess, verify.ReasonMissing},
		{"oversized", segs[0] + "." + strings.Repeat("A", verify.MaxTokenSize) + "." + segs[2], wantAccess, verify.ReasonMalformed},
		{"claims not an object", craft(t, hdr, []string{"a"}, ourSign), wantAccess, verify.ReasonMalformed},
		{"exp a string", craft(t, hdr, map[string]any{"iss": testIssuer, "exp": "tomorrow"}, ourSign), Expect{Type: "at+jwt", Issuer: testIssuer}, verify.ReasonMalformed},
		{"aud a number", craft(t, hdr, map[string]any{"iss": testIssuer, "exp": good.ExpiresAt.Unix(), "aud": 5}, ourSign), wantAccess, verify.ReasonMalformed},
		{"no exp", craft(t, hdr, with(func(c *verify.Claims) { c.ExpiresAt = time.Time{} }), ourSign), wantAccess, verify.ReasonMalformed},
		{"expired", craft(t, hdr, with(func(c *verify.Claims) { c.ExpiresAt = now.Add(-31 * time.Second) }), ourSign), wantAccess, verify.ReasonExpired},
		{"expired beyond a tighter leeway", craft(t, hdr, with(func(c *verify.Claims) { c.ExpiresAt = now.Add(-2 * time.Second) }), ourSign),
			Expect{Type: "at+jwt", Issuer: testIssuer, Leeway: time.Second}, verify.ReasonExpired},
		{"nbf in the future", craft(t, hdr, with(func(c *verify.Claims) { c.NotBefore = now.Add(time.Minute) }), ourSign), wantAccess, verify.ReasonNotYetValid},
		{"iat in the future", craft(t, hdr, with(func(c *verify.Claims) { c.IssuedAt = now.Add(time.Minute) }), ourSign), wantAccess, verify.ReasonNotYetValid},
		{"another issuer", craft(t, hdr, with(func(c *verify.Claims) { c.Issuer = "https://evil.test" }), ourSign), wantAccess, verify.ReasonWrongIssuer},
		{"issuer with a trailing slash", craft(t, hdr, with(func(c *verify.Claims) { c.Issuer = testIssuer + "/" }), ourSign), wantAccess, verify.ReasonWrongIssuer},
		{"no issuer", craft(t, hdr, with(func(c *verify.Claims) { c.Issuer = "" }), ourSign), wantAccess, verify.ReasonWrongIssuer},
		{"another audience", craft(t, hdr, with(func(c *verify.Claims) { c.Audience = []string{"https://other.test"} }), ourSign), wantAccess, verify.ReasonWrongAudience},
		{"no audience", craft(t, hdr, with(func(c *verify.Claims) { c.Audience = nil }), ourSign), wantAccess, verify.ReasonWrongAudience},
		{"audience array without ours", craft(t, hdr, with(func(c *verify.Claims) { c.Audience = []string{"a", "b"} }), ourSign), wantAccess, verify.ReasonWrongAudience},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verifyWith(k, tc.token, tc.want)
			if err == nil || got != nil {
				t.Fatalf("Verify = %+v, %v; want an error", got, err)
			}
			if tc.err != "" && verify.ReasonOf(err) != tc.err {
				t.Fatalf("Verify error %q; want %q", err, tc.err)
			}
			for _, seg := range strings.Split(tc.token, ".") {
				if len(seg) >= 8 && strings.Contains(err.Error(), seg) {
					t.Fatalf("the error %q quotes the token", err)
				}
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	c := newClock()
	k := newKeyring(t, newStore(t), testOptions(c))
	now := c.Now()
	sign := es256(k.currentEntry().private.(*ecdsa.PrivateKey))
	kid := k.currentEntry().kid
	good := accessClaims(now)
	with := func(f func(c *verify.Claims)) *verify.Claims {
		c := *good
		f(&c)
		return &c
	}
	cases := []struct {
		name   string
		header map[string]any
		claims any
		want   Expect
	}{
		{"typ in upper case", map[string]any{"alg": "ES256", "kid": kid, "typ": "AT+JWT"}, good, wantAccess},
		{"typ as a full media type", map[string]any{"alg": "ES256", "kid": kid, "typ": "application/at+jwt"}, good, wantAccess},
		{"ID token typ jwt", map[string]any{"alg": "ES256", "kid": kid, "typ": "jwt"}, good, Expect{Type: "JWT", Issuer: testIssuer}},
		{"audience in an array", map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}, with(func(c *verify.Claims) { c.Audience = []string{"x", "https://api.example.test"} }), wantAccess},
		{"audience not checked", map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}, with(func(c *verify.Claims) { c.Audience = nil }), Expect{Type: "at+jwt", Issuer: testIssuer}},
		{"expired within the leeway", map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}, with(func(c *verify.Claims) { c.ExpiresAt = now.Add(-20 * time.Second) }), wantAccess},
		{"nbf within the leeway", map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"}, with(func(c *verify.Claims) { c.NotBefore = now.Add(20 * time.Second) }), wantAccess},
		{"fractional dates", map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"},
			map[string]any{"iss": testIssuer, "aud": "https://api.example.test", "exp": float64(now.Unix()) + 60.5, "iat": float64(now.Unix()) + 0.25}, wantAccess},
		{"unknown claims", map[string]any{"alg": "ES256", "kid": kid, "typ": "at+jwt"},
			map[string]any{"iss": testIssuer, "aud": "https://api.example.test", "exp": now.Unix() + 60, "groups": []string{"a"}}, wantAccess},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := verifyWith(k, craft(t, tc.header, tc.claims, sign), tc.want); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// TestVerifyAlgorithmFollowsTheKey: with ES256 and EdDSA keys both
// published, a token may not claim one key's kid with the other's
// algorithm.
func TestVerifyAlgorithmFollowsTheKey(t *testing.T) {
	t.Parallel()
	c := newClock()
	store := newStore(t)
	k := newKeyring(t, store, testOptions(c))
	rec, m, err := newSigningKey(k.sealer, EdDSA, 0, c.Now(), c.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSigningKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := k.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	es := k.currentEntry()
	edPriv := m.private.(ed25519.PrivateKey)
	claims := accessClaims(c.Now())
	edSign := func(input []byte) []byte { return ed25519.Sign(edPriv, input) }
	// Signed by the Ed25519 key, claiming the ES256 kid.
	tok := craft(t, map[string]any{"alg": "EdDSA", "kid": es.kid, "typ": "at+jwt"}, claims, edSign)
	if _, err := verifyWith(k, tok, wantAccess); verify.ReasonOf(err) != verify.ReasonBadSignature {
		t.Fatalf("EdDSA token under the ES256 kid: %v", err)
	}
	// Signed by the ES256 key, claiming the Ed25519 kid.
	tok = craft(t, map[string]any{"alg": "ES256", "kid": rec.ID, "typ": "at+jwt"}, claims, es256(es.private.(*ecdsa.PrivateKey)))
	if _, err := verifyWith(k, tok, wantAccess); verify.ReasonOf(err) != verify.ReasonBadSignature {
		t.Fatalf("ES256 token under the EdDSA kid: %v", err)
	}
	// Each under its own kid verifies.
	tok = craft(t, map[string]any{"alg": "EdDSA", "kid": rec.ID, "typ": "at+jwt"}, claims, edSign)
	if _, err := verifyWith(k, tok, wantAccess); err != nil {
		t.Fatalf("EdDSA token under its kid: %v", err)
	}
	if algs := k.Algorithms(); strings.Join(algs, ",") != "ES256,EdDSA" {
		t.Fatalf("Algorithms = %v", algs)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func b64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func selfSigned(t *testing.T, priv *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Unix(0, 0), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func derSig(t *testing.T, priv *ecdsa.PrivateKey, input string) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(input))
	sig, err := priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
