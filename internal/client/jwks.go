package client

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// privateJWKMembers are the members that only private or symmetric keys
// have (RFC 7518 6.2.2, 6.3.2, 6.4, RFC 8037 2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// validateJWKS checks a client's JWK Set: public signing keys only, of the
// types the client assertions may be signed with, and returns it
// compacted.
func validateJWKS(raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, auth.Errorf(auth.EINVALID, "A client using private_key_jwt needs a JWKS.")
	}
	if len(raw) > maxJWKSBytes {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS is larger than %d bytes.", maxJWKSBytes)
	}
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS is not a JSON JWK Set.")
	}
	if len(doc.Keys) == 0 || len(doc.Keys) > maxJWKSKeys {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS must have 1 to %d keys.", maxJWKSKeys)
	}
	for i, members := range doc.Keys {
		for _, m := range privateJWKMembers {
			if _, ok := members[m]; ok {
				return nil, auth.Errorf(auth.EINVALID, "Key %d of the JWKS is private or symmetric (member %q); register public keys only.", i, m)
			}
		}
		one, _ := json.Marshal(members)
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(one); err != nil {
			return nil, auth.Errorf(auth.EINVALID, "Key %d of the JWKS is not a valid JWK.", i)
		}
		if err := checkClientKey(&k); err != nil {
			return nil, auth.Errorf(auth.EINVALID, "Key %d of the JWKS: %s.", i, err.Error())
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, auth.Errorf(auth.EINVALID, "The JWKS is not valid JSON.")
	}
	return buf.Bytes(), nil
}

// checkClientKey accepts public RSA keys of 2048 bits or more (RS256), EC
// P-256 keys (ES256) and Ed25519 keys (EdDSA), for signing only.
func checkClientKey(k *jose.JSONWebKey) error {
	if !k.Valid() || !k.IsPublic() {
		return errors.New("not a valid public key")
	}
	if k.Use != "" && k.Use != "sig" {
		return errors.New(`its "use" is not "sig"`)
	}
	want := ""
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return errors.New("RSA keys must have at least 2048 bits")
		}
		want = string(jose.RS256)
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return errors.New("EC keys must be on P-256 (ES256)")
		}
		want = string(jose.ES256)
	case ed25519.PublicKey:
		want = string(jose.EdDSA)
	default:
		return errors.New("want an RSA, EC P-256 or Ed25519 public key")
	}
	if k.Algorithm != "" && k.Algorithm != want {
		return fmt.Errorf("its alg must be %s", want)
	}
	return nil
}
