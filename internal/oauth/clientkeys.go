package oauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// verifyWithClientKeys checks the signature of tok with the keys of a
// client's registered JWK Set (auth.Client.JWKS) and, if one verifies it,
// decodes the claims into out. The key is the one named by kid, or else any
// key; a key with an alg of its own is used only for that alg, and a key
// only for the algorithms of its type (keyFitsAlgorithm). The algorithms a
// token may use at all are the caller's to fix when parsing it. Client
// assertions (clientauth.go) and request objects (request_object.go) go
// through here.
func verifyWithClientKeys(tok *jwt.JSONWebToken, rawJWKS []byte, out any) bool {
	if len(tok.Headers) != 1 {
		return false
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rawJWKS, &set); err != nil {
		return false
	}
	h := tok.Headers[0]
	for i := range set.Keys {
		k := &set.Keys[i]
		if (h.KeyID != "" && k.KeyID != h.KeyID) || !k.IsPublic() || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if !keyFitsAlgorithm(k, h.Algorithm) {
			continue
		}
		if err := tok.Claims(k.Key, out); err == nil {
			return true
		}
	}
	return false
}

// keyFitsAlgorithm reports whether a client key may verify alg: RSA for
// RS256 and PS256, P-256 for ES256, Ed25519 for EdDSA.
func keyFitsAlgorithm(k *jose.JSONWebKey, alg string) bool {
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256) || alg == string(jose.PS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && key.Curve.Params().Name == "P-256"
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}
