package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MasterKeySize is the length of the key that seals private keys: AES-256.
const MasterKeySize = 32

// masterKeyInfo is the HKDF info string. The server secret also keys the
// HMAC that hashes API keys and client secrets; deriving the sealing key
// under its own label keeps the two uses independent (domain separation).
const masterKeyInfo = "gatehouse signing-key encryption v1"

// sealLabel prefixes the additional data of every sealed key, so a
// ciphertext made for another purpose under the same key never opens here.
const sealLabel = "gatehouse signing key\x00"

// errOpen is returned for every failure to open a sealed key. It says
// nothing about which part was wrong: a wrong master key, another kid and a
// damaged ciphertext look the same.
var errOpen = errors.New("signing: cannot open the sealed private key (wrong master key, another key's row, or damaged data)")

// DeriveMasterKey derives the 32-byte key that seals private keys from the
// server secret with HKDF-SHA-256 (RFC 5869) under a fixed info string.
// The result never enters the store. It returns nil only if HKDF refuses the
// input (possible in FIPS 140-only mode with a secret under 112 bits), which
// NewSealer then rejects.
func DeriveMasterKey(serverSecret []byte) []byte {
	key, err := hkdf.Key(sha256.New, serverSecret, nil, masterKeyInfo, MasterKeySize)
	if err != nil {
		return nil
	}
	return key
}

// Sealer encrypts private keys at rest with AES-256-GCM. A sealed key is
// nonce (12 random bytes) || ciphertext || tag, and its kid is bound as
// additional data, so a sealed key copied onto another row does not open.
// A Sealer is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer keyed with masterKey, which must have exactly
// MasterKeySize bytes (see DeriveMasterKey).
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("signing: the master key has %d bytes; %d are needed", len(masterKey), MasterKeySize)
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("signing: master key: %w", err)
	}
	// A random 96-bit nonce per seal: keys are sealed a few times a month,
	// far below the 2^32 messages a random nonce is safe for.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("signing: master key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext (a PKCS#8 DER private key) for the key kid.
func (s *Sealer) Seal(kid string, plaintext []byte) []byte {
	return s.aead.Seal(nil, nil, plaintext, additionalData(kid))
}

// Open decrypts a key sealed for kid. It fails if the master key is not the
// one that sealed it, if it was sealed for another kid, or if a byte changed.
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	if len(sealed) < s.aead.Overhead() { // nonce and tag
		return nil, errOpen
	}
	plain, err := s.aead.Open(nil, nil, sealed, additionalData(kid))
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}

func additionalData(kid string) []byte {
	return append([]byte(sealLabel), kid...)
}
