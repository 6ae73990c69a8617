package verify

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// TestClaimsMarshalJSONIsTheWireForm: the claims Gatehouse issues are a
// Claims encoded by MarshalJSON, and what Verify reads back from the signed
// token is the same Claims (dates in whole seconds, the kid added).
func TestClaimsMarshalJSONIsTheWireForm(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		claims Claims
		wire   string
	}{
		{"a user's token, one audience", Claims{
			Issuer: "https://gatehouse.example", Subject: "usr_1", Audience: []string{"https://api.example"},
			ExpiresAt: now.Add(5*time.Minute + 700*time.Millisecond), IssuedAt: now, ID: "jti-1", ClientID: "cli_1",
			Scopes: []string{"orders:read", "profile"}, AuthTime: now.Add(-time.Hour),
		}, `{"iss":"https://gatehouse.example","sub":"usr_1","aud":"https://api.example","exp":1772366700,"iat":1772366400,"jti":"jti-1","client_id":"cli_1","scope":"orders:read profile","auth_time":1772362800}`},
		{"a client's token, two audiences, nbf, no scope", Claims{
			Issuer: "https://gatehouse.example", Subject: "cli_1", Audience: []string{"a", "b"},
			ExpiresAt: now.Add(time.Minute), NotBefore: now, ClientID: "cli_1", Scopes: []string{},
		}, `{"iss":"https://gatehouse.example","sub":"cli_1","aud":["a","b"],"exp":1772366460,"nbf":1772366400,"client_id":"cli_1"}`},
		{"an exchanged token, a chain of two actors", Claims{
			Issuer: "https://gatehouse.example", Subject: "usr_1", Audience: []string{"https://b.example"},
			ExpiresAt: now.Add(time.Minute), ClientID: "cli_b", Scopes: []string{"x"},
			Actor: &Actor{Subject: "cli_b", Actor: &Actor{Subject: "svc", Issuer: "https://idp.example"}},
		}, `{"iss":"https://gatehouse.example","sub":"usr_1","aud":"https://b.example","exp":1772366460,"client_id":"cli_b","scope":"x","act":{"sub":"cli_b","act":{"sub":"svc","iss":"https://idp.example"}}}`},
		{"a user's token of a sign-in with two factors", Claims{
			Issuer: "https://gatehouse.example", Subject: "usr_1", Audience: []string{"https://api.example"},
			ExpiresAt: now.Add(time.Minute), ClientID: "cli_1", Scopes: []string{"x"}, AuthTime: now,
			AMR: []string{"mfa", "otp", "pwd"}, ACR: ACRMFA,
		}, `{"iss":"https://gatehouse.example","sub":"usr_1","aud":"https://api.example","exp":1772366460,"client_id":"cli_1","scope":"x","auth_time":1772366400,"amr":["mfa","otp","pwd"],"acr":"urn:gatehouse:acr:mfa"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tc.claims)
			if err != nil || string(b) != tc.wire {
				t.Fatalf("MarshalJSON = %s, %v\nwant %s", b, err, tc.wire)
			}
			k := newECKey(t, "k1")
			doc := []byte(mustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}}))
			v, err := New(Config{Issuer: tc.claims.Issuer, AnyAudience: true, CacheSize: -1,
				Now: func() time.Time { return now }, JWKS: func() ([]byte, string) { return doc, "1" }})
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), mint(t, k, m))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.claims
			want.ExpiresAt = want.ExpiresAt.Truncate(time.Second)
			want.KeyID = "k1"
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("verified claims %+v\nwant %+v", *got, want)
			}
		})
	}
}

// TestAuthTimeOutOfRangeIsMalformed: auth_time is a date like the others.
func TestAuthTimeOutOfRangeIsMalformed(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	doc := []byte(mustJSON(t, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}}))
	v, err := New(Config{Issuer: "https://gatehouse.example", AnyAudience: true, Now: clk.Now,
		JWKS: func() ([]byte, string) { return doc, "1" }})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, k, map[string]any{"iss": "https://gatehouse.example", "exp": clk.Now().Unix() + 60, "auth_time": -1})
	if _, err := v.Verify(context.Background(), tok); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("negative auth_time: %v", err)
	}
}

// FuzzClaims: no payload panics the claims decoder, and whatever it
// accepts survives MarshalJSON and a second decoding unchanged but for
// dates cut to whole seconds (the issuer's encoding is the verifier's).
func FuzzClaims(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://a","sub":"u","aud":["x","y"],"exp":1772366400,"nbf":1,"iat":2.5,"jti":"j","client_id":"c","scope":"a  b","auth_time":3}`,
		`{"aud":"x","exp":5}`, `{"exp":1e9}`, `{"exp":-1}`, `[]`, `null`, `{"aud":[null],"exp":1}`, `{"exp":1.0e-400}`,
		`{"exp":1,"aud":[]}`, `{"exp":1,"ISS":"x"}`, `{"exp":1,"exp":2}`,
		`{"exp":1,"amr":["pwd","otp","mfa"],"acr":"urn:gatehouse:acr:mfa"}`, `{"exp":1,"amr":"mfa"}`, `{"exp":1,"amr":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := decodeClaims(in, "k")
		if err != nil {
			return
		}
		if c.ExpiresAt.Unix() == 0 {
			return // exp under a second: whole seconds make it absent
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		again, err := decodeClaims(b, "k")
		if err != nil {
			t.Fatalf("%s decodes to %+v, which encodes to %s, which does not decode: %v", in, c, b, err)
		}
		sec := func(x time.Time) int64 {
			if x.IsZero() {
				return 0
			}
			return x.Unix()
		}
		if again.Issuer != c.Issuer || again.Subject != c.Subject || !slices.Equal(again.Audience, c.Audience) ||
			sec(again.ExpiresAt) != sec(c.ExpiresAt) || sec(again.NotBefore) != sec(c.NotBefore) ||
			sec(again.IssuedAt) != sec(c.IssuedAt) || sec(again.AuthTime) != sec(c.AuthTime) ||
			again.ID != c.ID || again.ClientID != c.ClientID || !slices.Equal(again.Scopes, c.Scopes) ||
			again.HasMFA() != c.HasMFA() || again.ACR != c.ACR || len(again.AMR) != len(c.AMR) {
			t.Fatalf("%s: %+v, then %s, then %+v", in, c, b, again)
		}
	})
}

// TestActClaimRefusals: an act claim that names no subject, is not an
// object, or nests past MaxActorDepth makes the token malformed.
func TestActClaimRefusals(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, func(c *Config) { c.AnyAudience = true })
	deep := map[string]any{"sub": "a0"}
	for i := 1; i <= MaxActorDepth; i++ {
		deep = map[string]any{"sub": "a", "act": deep}
	}
	ok := map[string]any{"sub": "a"}
	for i := 1; i < MaxActorDepth; i++ {
		ok = map[string]any{"sub": "a", "act": ok}
	}
	for _, tc := range []struct {
		name string
		act  any
		want Reason
	}{
		{"no sub", map[string]any{"iss": "x"}, ReasonMalformed},
		{"a nested actor without sub", map[string]any{"sub": "a", "act": map[string]any{}}, ReasonMalformed},
		{"a string", "cli_1", ReasonMalformed},
		{"too deep", deep, ReasonMalformed},
		{"as deep as allowed", ok, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := claimsAt(is, clk)
			claims["act"] = tc.act
			c, err := v.Verify(context.Background(), mint(t, k, claims))
			if ReasonOf(err) != tc.want {
				t.Fatalf("Verify = %+v, %v; want %q", c, err, tc.want)
			}
			if err == nil && c.Actor.Depth() != MaxActorDepth {
				t.Errorf("act chain of %d actors", c.Actor.Depth())
			}
		})
	}
}
