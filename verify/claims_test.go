package verify

import (
	"context"
	"encoding/json"
	"reflect"
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
