package verify

import (
	"encoding/json"
	"testing"
)

// RFC 7517 §5: a JWK Set member whose kty is not understood, that lacks
// required members or whose values are out of range is ignored, not a
// reason to refuse the whole set. Identity providers publish such keys
// (post-quantum "AKP" keys, secp256k1, X25519 encryption keys), and a
// route naming such a provider must still verify the tokens signed with
// the keys it does understand.
func TestKeySetIgnoresKeysItDoesNotUnderstand(t *testing.T) {
	t.Parallel()
	good := newECKey(t, "good")
	goodJSON, err := json.Marshal(good.jwk())
	if err != nil {
		t.Fatal(err)
	}
	others := map[string]string{
		"unknown kty":     `{"kty":"AKP","alg":"ML-DSA-44","kid":"pq","pub":"AAAA"}`,
		"secp256k1":       `{"kty":"EC","crv":"secp256k1","kid":"k1","x":"AAAA","y":"AAAA"}`,
		"X25519 enc":      `{"kty":"OKP","crv":"X25519","use":"enc","kid":"x","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`,
		"point off curve": `{"kty":"EC","crv":"P-256","kid":"off","x":"AQ","y":"AQ"}`,
		"missing members": `{"kty":"RSA","kid":"nomod"}`,
		"not an object":   `"key"`,
	}
	for name, other := range others {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc := `{"keys":[` + other + `,` + string(goodJSON) + `]}`
			set, err := parseKeySet([]byte(doc), "1", []string{"ES256", "RS256"}, nil)
			if err != nil {
				t.Fatalf("the set is refused: %v", err)
			}
			if set.lookup("good") == nil {
				t.Fatal("the understood key is missing")
			}
		})
	}
	// A set that is not a JSON object with a keys array is still refused.
	for _, doc := range []string{`[]`, `{"keys":{}}`, `{"keys":null}`, `not json`, `{"keys":[` + others["unknown kty"] + `]}`} {
		if _, err := parseKeySet([]byte(doc), "1", []string{"ES256"}, nil); err == nil {
			t.Errorf("%s parses", doc)
		}
	}
}
