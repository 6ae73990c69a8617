package webhook

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as the Standard Webhooks
// specification writes them: "whsec_" and the base64 of the key bytes.
const SecretPrefix = "whsec_"

// secretSize is the number of random bytes of a secret; the specification
// asks for 24 to 64.
const secretSize = 32

// Header names of the specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// newSecret returns fresh key bytes from crypto/rand.
func newSecret() ([]byte, error) {
	b := make([]byte, secretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("webhook: read random bytes: %w", err)
	}
	return b, nil
}

// FormatSecret writes key bytes as a receiver configures them.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the v1 signature of a message: "v1," and the base64 of
// HMAC-SHA256 under key of "id.timestamp.body".
func Sign(key []byte, id string, timestamp time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signatureHeader is the webhook-signature value for a message signed by
// every key in keys (the current secret, and the previous one during a
// rotation's overlap), space-separated as the specification allows.
func signatureHeader(keys [][]byte, id string, timestamp time.Time, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, Sign(k, id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}

// sealingKeyInfo is the HKDF info of the key that seals endpoint secrets:
// its own label, so it is independent of the keys derived from the same
// server secret for other uses (signing keys, hashes).
const sealingKeyInfo = "gatehouse webhook-secret encryption v1"

// DeriveSealingKey derives the 32-byte AES key that seals endpoint secrets
// from the server secret (HKDF-SHA-256, RFC 5869). Endpoint secrets must be
// stored so that the server can sign with them, so they are encrypted at
// rest rather than hashed; a copy of the database alone does not reveal
// them.
func DeriveSealingKey(serverSecret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, serverSecret, nil, sealingKeyInfo, 32)
}

// Sealer encrypts endpoint secrets at rest; *signing.Sealer (AES-256-GCM
// with the kid as additional data) is the one used.
type Sealer interface {
	Seal(kid string, plaintext []byte) []byte
	Open(kid string, sealed []byte) ([]byte, error)
}

// sealID is the additional data a secret is sealed under: bound to its
// endpoint, so a sealed secret copied to another endpoint's row does not
// open.
func sealID(endpointID string) string { return "webhook-secret:" + endpointID }
