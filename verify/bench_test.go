package verify

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func benchVerifier(b *testing.B, cacheSize int) (*Verifier, string) {
	clk := newClock()
	k := newECKey(b, "k1")
	doc := []byte(mustJSON(b, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.jwk()}}))
	const iss = "https://gatehouse.example"
	v, err := New(Config{AnyAudience: true, Issuer: iss, Now: clk.Now, CacheSize: cacheSize,
		JWKS: func() ([]byte, string) { return doc, "1" }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	// A typical access token: about 700 bytes.
	tok := mint(b, k, map[string]any{
		"iss": iss, "sub": "user-0192c3f4-5e6a-7b8c-9d0e-1f2a3b4c5d6e", "aud": []string{"https://api.example"},
		"exp": clk.Now().Unix() + 300, "iat": clk.Now().Unix(), "jti": "0192c3f4-5e6a-7b8c-9d0e-1f2a3b4c5d6e",
		"client_id": "client-0192c3f4-5e6a-7b8c", "scope": "orders:read orders:write profile email",
	})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return v, tok
}

func BenchmarkVerifyCached(b *testing.B) {
	v, tok := benchVerifier(b, 0)
	ctx := context.Background()
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	v, tok := benchVerifier(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkVerifyUncached(b *testing.B) {
	v, tok := benchVerifier(b, -1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
