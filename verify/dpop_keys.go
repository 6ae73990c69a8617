package verify

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// A client signs all its proofs with one key, so the jwk header of its
// proofs is the same bytes every time. Parsing that JWK (an EC point
// decoded and checked to be on the curve, an RSA modulus, an Ed25519
// point) and hashing its RFC 7638 thumbprint are the same work for each
// proof; proofKeys does it once per distinct header and keeps the result,
// keyed by the header's exact bytes. A proof's signature is still checked
// every time, with the key those bytes name: the cache only saves decoding
// them again.

// maxCachedJWK caps the jwk headers kept: an RSA key of 4096 bits is
// about 750 bytes of JSON. Larger ones are parsed each time.
const maxCachedJWK = 2 << 10

// proofKeyShardSize caps the entries of one shard (cacheShards shards), so
// the cache holds at most cacheShards × proofKeyShardSize keys of at most
// maxCachedJWK bytes each.
const proofKeyShardSize = 64

// proofKey is a jwk header parsed: a public key fit for proofs and its
// thumbprint.
type proofKey struct {
	key crypto.PublicKey
	alg string // the JWK's own alg member, "" if absent
	jkt string // base64url SHA-256 thumbprint (RFC 7638)
}

type proofKeys struct {
	shards [cacheShards]proofKeyShard
}

type proofKeyShard struct {
	mu sync.RWMutex
	m  map[string]*proofKey
}

// get returns the parsed key of a raw jwk header, nil if the header is
// not a public key this package accepts.
func (c *proofKeys) get(raw []byte) *proofKey {
	if len(raw) > maxCachedJWK {
		return parseProofKey(raw)
	}
	sh := &c.shards[shardOf(raw)]
	sh.mu.RLock()
	k, ok := sh.m[string(raw)] // no allocation: the conversion is only for the lookup
	sh.mu.RUnlock()
	if ok {
		return k
	}
	k = parseProofKey(raw)
	if k == nil {
		// Not cached: a malformed header costs its parse every time, as it
		// would without the cache, and cannot crowd out valid keys.
		return nil
	}
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[string]*proofKey, proofKeyShardSize)
	}
	if len(sh.m) >= proofKeyShardSize {
		// Full: drop an arbitrary entry (map order is random). A client
		// whose key was dropped pays one parse on its next proof.
		for old := range sh.m {
			delete(sh.m, old)
			break
		}
	}
	sh.m[string(raw)] = k
	sh.mu.Unlock()
	return k
}

// shardOf spreads headers over the shards by a few of their bytes (FNV-1a
// of the last 16: the key material's end, which differs between keys).
func shardOf(raw []byte) int {
	h := uint32(2166136261)
	start := max(0, len(raw)-16)
	for _, b := range raw[start:] {
		h ^= uint32(b)
		h *= 16777619
	}
	return int(h % cacheShards)
}

// parseProofKey parses a jwk header as go-jose does and keeps it only if
// it is a public key (go-jose refuses an embedded private key already;
// this also catches other key types) of a kind proofs may use.
func parseProofKey(raw []byte) *proofKey {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || !jwk.IsPublic() {
		return nil
	}
	if k, ok := jwk.Key.(ed25519.PublicKey); ok && len(k) != ed25519.PublicKeySize {
		return nil // ed25519.Verify would panic
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil
	}
	return &proofKey{key: jwk.Key, alg: jwk.Algorithm, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}
