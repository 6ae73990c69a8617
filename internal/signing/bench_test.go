package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// benchKeyring returns a keyring of alg and an access token it signed.
// Sign and Verify do not touch the store.
func benchKeyring(b *testing.B, alg string) (*Keyring, string) {
	b.Helper()
	c := newClock()
	opts := testOptions(c)
	opts.Algorithm = alg
	k := newKeyring(b, newStore(b), opts)
	tok, err := k.Sign("at+jwt", accessClaims(c.Now()))
	if err != nil {
		b.Fatal(err)
	}
	return k, tok
}

func benchVerify(b *testing.B, alg string) {
	k, tok := benchKeyring(b, alg)
	v, err := verify.New(verify.Config{Issuer: testIssuer, Audience: wantAccess.Audience, Algorithms: []string{alg},
		JWKS: k.JWKS, Now: k.now, CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSign(b *testing.B, alg string) {
	k, _ := benchKeyring(b, alg)
	claims := accessClaims(k.now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign("at+jwt", claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyES256 is the verification of one of the keyring's access
// tokens as the server does it (package verify over the keyring's JWKS),
// with the cache off: parse, header checks, signature, claims. Compare with BenchmarkBareES256.
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, ES256) }

// BenchmarkBareES256 is the floor Verify is measured against: hashing the
// same token's signing input and ecdsa.Verify with the same key, nothing
// else.
func BenchmarkBareES256(b *testing.B) {
	k, tok := benchKeyring(b, ES256)
	pub := k.currentEntry().public.(*ecdsa.PublicKey)
	dot := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:dot])
	sig, err := b64.DecodeString(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(input)
		if !ecdsa.Verify(pub, sum[:], r, s) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkSignES256(b *testing.B)   { benchSign(b, ES256) }
func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, RS256) }

// BenchmarkBareRS256 is rsa.VerifyPKCS1v15 of the token's signing input.
func BenchmarkBareRS256(b *testing.B) {
	k, tok := benchKeyring(b, RS256)
	pub := k.currentEntry().public.(*rsa.PublicKey)
	dot := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:dot])
	sig, _ := b64.DecodeString(tok[dot+1:])
	b.ReportAllocs()
	for b.Loop() {
		sum := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRS256(b *testing.B)   { benchSign(b, RS256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, EdDSA) }

// BenchmarkBareEdDSA is ed25519.Verify of the token's signing input.
func BenchmarkBareEdDSA(b *testing.B) {
	k, tok := benchKeyring(b, EdDSA)
	pub := k.currentEntry().public.(ed25519.PublicKey)
	dot := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:dot])
	sig, _ := b64.DecodeString(tok[dot+1:])
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("bad signature")
		}
	}
}

func BenchmarkSignEdDSA(b *testing.B) { benchSign(b, EdDSA) }
