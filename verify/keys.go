package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// The algorithms Verify can check (RFC 7518 §3, RFC 8037 §3.1). HMAC and
// "none" are deliberately absent: with a public key set, an HS256 token
// "signed" with the public key would otherwise verify.
var supportedAlgs = []string{
	"ES256", "ES384", "ES512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"EdDSA",
}

// minRSABits refuses RSA keys too short to be trusted (RFC 7518 §3.3).
const minRSABits = 2048

// publicKey is one usable key of a set.
type publicKey struct {
	kid string
	alg string // the key's own "alg" member; "" if absent
	key crypto.PublicKey
}

// keySet is an immutable, parsed JWK Set. Verify reads it without locks.
type keySet struct {
	version string // what it was parsed from: the JWKS func's tag, or a fetch counter
	byKID   map[string]*publicKey
	only    *publicKey // the set's one key, when it has exactly one: a token may omit kid
}

// lookup returns the key for a token's kid. A kid is required when the set
// has more than one key.
func (s *keySet) lookup(kid string) *publicKey {
	if kid == "" {
		return s.only
	}
	return s.byKID[kid]
}

var errNoKeys = errors.New("the JWK Set holds no usable signing key")

// parseKeySet parses a JWK Set document. Keys whose use is not "sig", whose
// type fits none of the allowed algorithms, and RSA keys under 2048 bits
// are skipped; a private key is reduced to its public part. Keys equal to
// one of prev's, under the same kid, keep prev's *publicKey, so cache
// entries verified under them stay valid across refreshes while a removed
// or replaced key invalidates its entries.
func parseKeySet(doc []byte, version string, allowed []string, prev *keySet) (*keySet, error) {
	// Members are parsed one by one: a key this package (or go-jose) does
	// not understand — an unknown kty, another curve, missing members — is
	// ignored rather than failing the whole set (RFC 7517 §5), so that an
	// identity provider publishing, say, an encryption or post-quantum key
	// beside its signing keys stays usable.
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("parse JWK Set: %w", err)
	}
	if raw.Keys == nil {
		return nil, errors.New("parse JWK Set: no keys array")
	}
	s := &keySet{version: version, byKID: make(map[string]*publicKey, len(raw.Keys))}
	var usable []*publicKey
	for _, m := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(m); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.Key
		if !k.IsPublic() {
			pub = k.Public().Key
		}
		if !keyUsable(pub, k.Algorithm, allowed) {
			continue
		}
		if _, dup := s.byKID[k.KeyID]; dup && k.KeyID != "" {
			// Two keys under one kid: which one a token means is ambiguous.
			return nil, fmt.Errorf("parse JWK Set: two keys share a kid")
		}
		pk := &publicKey{kid: k.KeyID, alg: k.Algorithm, key: pub}
		if prev != nil {
			if old := prev.byKID[k.KeyID]; old != nil && old.alg == pk.alg && sameKey(old.key, pub) {
				pk = old
			}
		}
		if k.KeyID != "" {
			s.byKID[k.KeyID] = pk
		}
		usable = append(usable, pk)
	}
	if len(usable) == 0 {
		return nil, errNoKeys
	}
	if len(usable) == 1 {
		s.only = usable[0]
	}
	return s, nil
}

func sameKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// keyUsable reports whether some allowed algorithm fits the key.
func keyUsable(pub crypto.PublicKey, keyAlg string, allowed []string) bool {
	for _, alg := range allowed {
		if algFits(alg, pub, keyAlg) {
			return true
		}
	}
	return false
}

// algFits reports whether a token with header alg may be checked with pub:
// the key type and curve fix the algorithm family (an RS256 header on an EC
// key fails here), and a key's own "alg" member, if present, fixes it
// exactly (RFC 7517 §4.4).
func algFits(alg string, pub crypto.PublicKey, keyAlg string) bool {
	if keyAlg != "" && keyAlg != alg {
		return false
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return false
		}
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// checkSignature verifies sig over the JWS signing input (RFC 7515 §5.2
// step 8) with the standard library. The caller has checked algFits.
func checkSignature(alg string, pub crypto.PublicKey, input string, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// R and S, fixed length, big-endian (RFC 7518 §3.4); DER or any
		// other length is refused.
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		h, _ := hashFor(alg)
		if h == nil {
			return false
		}
		h.Write([]byte(input))
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, h.Sum(nil), r, s)
	case *rsa.PublicKey:
		h, id := hashFor(alg)
		if h == nil {
			return false
		}
		h.Write([]byte(input))
		if alg[0] == 'P' {
			return rsa.VerifyPSS(k, id, h.Sum(nil), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, id, h.Sum(nil), sig) == nil
	case ed25519.PublicKey:
		return alg == "EdDSA" && ed25519.Verify(k, []byte(input), sig)
	}
	return false
}

func hashFor(alg string) (hash.Hash, crypto.Hash) {
	switch alg[len(alg)-3:] {
	case "256":
		return sha256.New(), crypto.SHA256
	case "384":
		return sha512.New384(), crypto.SHA384
	case "512":
		return sha512.New(), crypto.SHA512
	}
	return nil, 0
}

func validAlgorithms(algs []string) error {
	if len(algs) == 0 {
		return errors.New("no algorithm allowed")
	}
	for _, a := range algs {
		if !slices.Contains(supportedAlgs, a) {
			// HS256, none and anything unknown: see supportedAlgs.
			return fmt.Errorf("algorithm %q is not allowed (supported: %v)", a, supportedAlgs)
		}
	}
	return nil
}
