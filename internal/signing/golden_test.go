package signing

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestJWKSGolden pins the JWKS wire format with fixed keys: member names,
// order, encodings, and nothing private.
func TestJWKSGolden(t *testing.T) {
	c := newClock()
	opts := testOptions(c)
	store := newStore(t)
	sealer := testSealer(t, testSecret)
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	for i, k := range []struct {
		kid, alg string
		priv     crypto.Signer
	}{{"golden-es256", ES256, ec}, {"golden-eddsa", EdDSA, ed}} {
		activates := c.Now().Add(time.Duration(i) * opts.RotationPeriod)
		rec, _, err := sealKey(sealer, k.kid, k.alg, k.priv, c.Now(), activates)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateSigningKey(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	kr := newKeyring(t, store, opts)
	body, etag := kr.JWKS()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteString("\nETag: " + etag + "\n")
	path := filepath.Join("testdata", "jwks.golden")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("JWKS changed:\n%s\nwant:\n%s", pretty.Bytes(), want)
	}
}
