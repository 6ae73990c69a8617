package signing

import "github.com/gatehouse-dev/gatehouse/internal/auth"

// CheckKey reports whether the stored key k can be used with sealer: its
// public JWK parses, and its sealed private key (kept for retired keys too)
// opens and matches it. It is the same load a keyring does, so a key that
// passes here signs and verifies once served. A key sealed under another
// server secret fails: `gatehouse check` uses this to tell whether the
// configured secret is the one a restored database was written with.
func CheckKey(sealer *Sealer, k *auth.SigningKey) error {
	_, err := loadMaterial(sealer, k, true)
	return err
}
