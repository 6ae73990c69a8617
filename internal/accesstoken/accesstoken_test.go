package accesstoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/verify"
)

const testIssuer = "https://gatehouse.example"

// joseSigner signs with one ES256 key and publishes it, as the keyring does.
type joseSigner struct {
	key *ecdsa.PrivateKey
}

func (s joseSigner) Sign(typ string, claims any) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: s.key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (s joseSigner) jwks(t *testing.T) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignedTokenVerifies(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := joseSigner{key}
	doc := s.jwks(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	v, err := verify.New(verify.Config{Issuer: testIssuer, Audience: "https://orders.internal", CacheSize: -1,
		Now: func() time.Time { return now }, JWKS: func() ([]byte, string) { return doc, "1" }})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	x := &Exchange{
		Issuer: testIssuer, Subject: "usr_1", ClientID: "cli_b", Audience: []string{"https://orders.internal"},
		Scope: "orders:read", AuthTime: now.Add(-time.Hour), IssuedAt: now, ExpiresAt: now.Add(time.Minute),
		Actor: Delegate(verify.Actor{Subject: "cli_b"}, &verify.Actor{Subject: "cli_a"}), JTIPrefix: "gw.",
	}
	tok, err := Sign(s, x)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok.Value)
	if err != nil {
		t.Fatalf("the exchanged token does not verify: %v", err)
	}
	want := &verify.Actor{Subject: "cli_b", Actor: &verify.Actor{Subject: "cli_a"}}
	if c.Subject != "usr_1" || c.ClientID != "cli_b" || !c.HasScope("orders:read") || !c.AuthTime.Equal(x.AuthTime) ||
		!reflect.DeepEqual(c.Actor, want) || c.ID != tok.ID || !strings.HasPrefix(c.ID, "gw.") || !c.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Errorf("claims %+v, actor %+v; token %+v", c, c.Actor, tok)
	}
	if len(tok.ID) != len("gw.")+26 {
		t.Errorf("jti %q is not the prefix and 128 random bits", tok.ID)
	}

	t.Run("every token has its own jti", func(t *testing.T) {
		again, err := Sign(s, x)
		if err != nil || again.ID == tok.ID {
			t.Errorf("second jti %q, %v", again.ID, err)
		}
	})
	t.Run("amr and acr say how the subject signed in", func(t *testing.T) {
		if c.AMR != nil || c.ACR != "" {
			t.Fatalf("without a sign-in: amr %v acr %q", c.AMR, c.ACR)
		}
		y := *x
		y.AMR, y.ACR = []string{"hwk", "mfa", "user"}, "urn:gatehouse:acr:mfa"
		tok, err := Sign(s, &y)
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(context.Background(), tok.Value)
		if err != nil || !reflect.DeepEqual(c.AMR, y.AMR) || c.ACR != y.ACR || c.CheckMFA() != nil {
			t.Fatalf("claims %+v, %v", c, err)
		}
	})
	t.Run("what Sign refuses", func(t *testing.T) {
		deep := &verify.Actor{Subject: "a"}
		for range verify.MaxActorDepth {
			deep = &verify.Actor{Subject: "a", Actor: deep}
		}
		for name, edit := range map[string]func(*Exchange){
			"no issuer":             func(x *Exchange) { x.Issuer = "" },
			"no audience":           func(x *Exchange) { x.Audience = nil },
			"no lifetime":           func(x *Exchange) { x.ExpiresAt = x.IssuedAt },
			"an act chain too long": func(x *Exchange) { x.Actor = deep },
		} {
			y := *x
			edit(&y)
			if _, err := Sign(s, &y); err == nil {
				t.Errorf("%s: signed", name)
			}
		}
	})
}

func TestDelegate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		actor verify.Actor
		prior *verify.Actor
		want  *verify.Actor
	}{
		{"no prior actor", verify.Actor{Subject: "b"}, nil, &verify.Actor{Subject: "b"}},
		{"the prior chain nests below", verify.Actor{Subject: "b"}, &verify.Actor{Subject: "a", Actor: &verify.Actor{Subject: "z"}},
			&verify.Actor{Subject: "b", Actor: &verify.Actor{Subject: "a", Actor: &verify.Actor{Subject: "z"}}}},
		{"the same actor again does not grow it", verify.Actor{Subject: "a"}, &verify.Actor{Subject: "a", Actor: &verify.Actor{Subject: "z"}},
			&verify.Actor{Subject: "a", Actor: &verify.Actor{Subject: "z"}}},
		{"the same subject of another issuer is another actor", verify.Actor{Subject: "a", Issuer: "https://idp"}, &verify.Actor{Subject: "a"},
			&verify.Actor{Subject: "a", Issuer: "https://idp", Actor: &verify.Actor{Subject: "a"}}},
	} {
		if got := Delegate(tc.actor, tc.prior); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Delegate = %+v", tc.name, got)
		}
	}
}
