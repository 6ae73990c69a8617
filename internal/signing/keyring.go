// Package signing keeps the asymmetric keys that sign Gatehouse's JWTs.
package signing

// Keyring holds the signing keys. (Being built.)
type Keyring struct{}
