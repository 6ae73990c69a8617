package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func TestSealerRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	s := testSealer(t, testSecret)
	plain := []byte("a PKCS#8 private key, in DER")
	sealed := s.Seal("kid-1", plain)
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed bytes contain the plaintext")
	}
	if len(sealed) != 12+len(plain)+16 {
		t.Fatalf("sealed length %d, want nonce+plaintext+tag = %d", len(sealed), 12+len(plain)+16)
	}
	got, err := s.Open("kid-1", sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if again := s.Seal("kid-1", plain); bytes.Equal(again[:12], sealed[:12]) {
		t.Fatal("two seals used the same nonce")
	}

	other := testSealer(t, "another server secret, also thirty-two bytes long")
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"wrong master key":   func() ([]byte, error) { return other.Open("kid-1", sealed) },
		"sealed for another": func() ([]byte, error) { return s.Open("kid-2", sealed) },
		"a flipped bit":      func() ([]byte, error) { return s.Open("kid-1", tampered) },
		"truncated":          func() ([]byte, error) { return s.Open("kid-1", sealed[:20]) },
		"empty":              func() ([]byte, error) { return s.Open("kid-1", nil) },
	} {
		if got, err := open(); err == nil || got != nil {
			t.Errorf("%s: Open = %q, %v; want an error", name, got, err)
		}
	}
}

func TestNewSealerNeeds32Bytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", n)
		}
	}
	if _, err := NewSealer(nil); err == nil {
		t.Error("NewSealer accepted nil (what DeriveMasterKey returns on failure)")
	}
}

func TestDeriveMasterKeyIsDomainSeparated(t *testing.T) {
	t.Parallel()
	secret := []byte(testSecret)
	a, b := DeriveMasterKey(secret), DeriveMasterKey(secret)
	if len(a) != MasterKeySize || !bytes.Equal(a, b) {
		t.Fatalf("DeriveMasterKey is not a deterministic 32-byte key: %x %x", a, b)
	}
	if bytes.Equal(a, DeriveMasterKey([]byte(testSecret+"x"))) {
		t.Fatal("two secrets derive the same key")
	}
	if bytes.Contains(a, secret[:16]) || bytes.Equal(a, secret[:32]) {
		t.Fatal("the derived key is the secret itself")
	}
	// Not what the API-key hasher computes with the same secret.
	mac := hmac.New(sha256.New, secret)
	if bytes.Equal(a, mac.Sum(nil)) {
		t.Fatal("the derived key equals HMAC(secret, \"\")")
	}
}
