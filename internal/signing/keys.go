package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Signature algorithms a keyring can use (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256: the default; small and fast
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256, for relying parties that know nothing else
	EdDSA = "EdDSA" // Ed25519
)

// RSA key sizes the keyring accepts.
const (
	DefaultRSABits = 2048
	MinRSABits     = 2048
)

// kidBytes is the entropy of a kid. A kid is random rather than
// time-ordered: the store's CreatedAt and ActivatesAt already order keys, so
// the kid need carry nothing, and a random one tells outsiders nothing about
// when keys were made or how many there are. 128 bits make collisions
// between nodes creating keys at the same moment negligible (the store
// would answer ECONFLICT anyway).
const kidBytes = 16

// newKID returns 16 random bytes in unpadded base64url (22 characters), safe
// in JSON, URLs and HTTP headers without escaping.
func newKID() (string, error) {
	var b [kidBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("signing: read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// SupportedAlgorithms lists the algorithms a keyring can sign with. A
// verifier of its tokens allows them all, whatever the keys of the moment:
// each key's own alg fixes which one its tokens may use, and a rotation to
// a key of another algorithm (after a node's configuration changed) must
// not make the new key's tokens fail on nodes started before it.
func SupportedAlgorithms() []string { return []string{ES256, RS256, EdDSA} }

// validAlgorithm reports whether alg is one the keyring can generate.
func validAlgorithm(alg string) bool {
	return alg == ES256 || alg == RS256 || alg == EdDSA
}

func validRSABits(bits int) bool {
	return bits == 2048 || bits == 3072 || bits == 4096
}

// generate makes a new private key for alg.
func generate(alg string, rsaBits int) (crypto.Signer, error) {
	switch alg {
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("signing: unknown algorithm %q", alg)
}

// keyMatches reports whether the key (public or private) is of the kind
// alg signs with, so a row whose algorithm was changed cannot make the
// keyring accept, say, RS256 signatures from an EC key.
func keyMatches(alg string, key any) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case *ecdsa.PrivateKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == RS256 && k.N.BitLen() >= MinRSABits
	case *rsa.PrivateKey:
		return alg == RS256 && k.N.BitLen() >= MinRSABits
	case ed25519.PublicKey:
		return alg == EdDSA
	case ed25519.PrivateKey:
		return alg == EdDSA
	}
	return false
}

// newSigningKey generates a key for alg, seals its private half and returns
// the record to store.
func newSigningKey(sealer *Sealer, alg string, rsaBits int, createdAt, activatesAt time.Time) (*auth.SigningKey, *material, error) {
	kid, err := newKID()
	if err != nil {
		return nil, nil, err
	}
	priv, err := generate(alg, rsaBits)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	return sealKey(sealer, kid, alg, priv, createdAt, activatesAt)
}

// sealKey makes the stored record of priv: the public JWK, and the PKCS#8
// DER of the private key sealed under kid.
func sealKey(sealer *Sealer, kid, alg string, priv crypto.Signer, createdAt, activatesAt time.Time) (*auth.SigningKey, *material, error) {
	if !keyMatches(alg, priv) {
		return nil, nil, fmt.Errorf("signing: the private key is not an %s key", alg)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: encode %s key: %w", alg, err)
	}
	sealed := sealer.Seal(kid, der)
	clear(der)
	pub := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("signing: encode %s public key: %w", alg, err)
	}
	rec := &auth.SigningKey{
		ID:          kid,
		Algorithm:   alg,
		PublicJWK:   pubJSON,
		PrivateKey:  sealed,
		CreatedAt:   createdAt,
		ActivatesAt: activatesAt,
	}
	return rec, &material{kid: kid, alg: alg, public: pub.Key, jwk: pubJSON, private: priv}, nil
}

// material is the usable form of a stored key. It never changes once made,
// so snapshots share it across reloads; the private half is opened only for
// keys that may still sign.
type material struct {
	kid     string
	alg     string
	public  any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	jwk     []byte // the public JWK as published
	private crypto.Signer
	// signers caches one go-jose signer per typ header value: building one
	// costs more than the header it saves us writing.
	signers sync.Map // string -> jose.Signer
	cached  atomic.Int32
}

// maxCachedSigners bounds the signers cached per key: callers use a couple
// of typ values, and an unexpected variety must not grow memory.
const maxCachedSigners = 8

// loadMaterial parses a stored key. withPrivate opens the sealed private
// key too, which must match the public one.
func loadMaterial(sealer *Sealer, k *auth.SigningKey, withPrivate bool) (*material, error) {
	if !validAlgorithm(k.Algorithm) {
		return nil, fmt.Errorf("signing: key %s: unknown algorithm %q", k.ID, k.Algorithm)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
		return nil, fmt.Errorf("signing: key %s: parse public JWK: %w", k.ID, err)
	}
	if !jwk.IsPublic() || !keyMatches(k.Algorithm, jwk.Key) || jwk.KeyID != k.ID {
		return nil, fmt.Errorf("signing: key %s: the public JWK does not match the record", k.ID)
	}
	// Publish exactly what we verify with: rebuild the JWK from the parsed
	// key rather than echoing stored JSON that might carry other members.
	pubJSON, err := jose.JSONWebKey{Key: jwk.Key, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: encode public JWK: %w", k.ID, err)
	}
	m := &material{kid: k.ID, alg: k.Algorithm, public: jwk.Key, jwk: pubJSON}
	if !withPrivate {
		return m, nil
	}
	der, err := sealer.Open(k.ID, k.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: %w", k.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: parse private key: %w", k.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !keyMatches(k.Algorithm, priv) {
		return nil, fmt.Errorf("signing: key %s: the private key is not an %s key", k.ID, k.Algorithm)
	}
	if !publicEqual(priv.Public(), jwk.Key) {
		return nil, fmt.Errorf("signing: key %s: the private key does not match the published public key", k.ID)
	}
	m.private = priv
	return m, nil
}

func publicEqual(a, b any) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// signer returns the cached go-jose signer for typ, making it on first use.
func (m *material) signer(typ string) (jose.Signer, error) {
	if s, ok := m.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	if m.private == nil {
		return nil, fmt.Errorf("signing: key %s has no private key loaded", m.kid)
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(m.alg),
		Key:       jose.JSONWebKey{Key: m.private, KeyID: m.kid, Algorithm: m.alg},
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("signing: key %s: make signer: %w", m.kid, err)
	}
	if m.cached.Add(1) > maxCachedSigners {
		m.cached.Add(-1)
		return s, nil
	}
	// Racing callers may both build one; either is fine to keep.
	actual, loaded := m.signers.LoadOrStore(typ, s)
	if loaded {
		m.cached.Add(-1)
	}
	return actual.(jose.Signer), nil
}
