package verify

import (
	"encoding/base64"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
)

// MaxTokenSize caps the tokens Verify parses. Gatehouse's tokens are well
// under 2 KiB; a larger input is refused before any decoding.
const MaxTokenSize = 8 << 10

// header is the JOSE header of a token. Only these three parameters are
// accepted: jwk, jku, x5u and x5c could make a token name its own key,
// crit and b64 change how it is processed, and Gatehouse sets none of them.
type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

var b64 = base64.RawURLEncoding.Strict()

// parsed is a compact JWS split and decoded, not yet verified.
type parsed struct {
	header  header
	input   string // the signing input: the encoded header and payload as received
	payload []byte
	sig     []byte
}

// parseCompact splits a compact JWS (RFC 7515 §7.1) and decodes its parts.
// Three parts exactly, strict unpadded base64url, and a header decoded
// strictly (case-sensitive names, no duplicates, no other members).
func parseCompact(token string, allowed []string) (*parsed, error) {
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 || h == "" || p == "" || s == "" {
		return nil, refuse(ReasonMalformed, "not a JWS in compact serialization")
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, refuse(ReasonMalformed, "header is not base64url")
	}
	var out parsed
	if err := jsonv2.Unmarshal(hb, &out.header, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, refuse(ReasonMalformed, "header is not a JSON object of alg, kid and typ")
	}
	if !slices.Contains(allowed, out.header.Alg) {
		return nil, refuse(ReasonMalformed, "algorithm not allowed")
	}
	if out.payload, err = b64.DecodeString(p); err != nil {
		return nil, refuse(ReasonMalformed, "payload is not base64url")
	}
	if out.sig, err = b64.DecodeString(s); err != nil {
		return nil, refuse(ReasonMalformed, "signature is not base64url")
	}
	out.input = token[:len(h)+1+len(p)]
	return &out, nil
}

// typeAccepted compares typ header values as media types:
// case-insensitively, "application/" optional (RFC 7515 §4.1.9, RFC 8725
// §3.11), so "application/at+jwt" matches "at+jwt".
func typeAccepted(got string, types []string) bool {
	got = trimApplication(got)
	for _, t := range types {
		if strings.EqualFold(got, trimApplication(t)) {
			return true
		}
	}
	return false
}

func trimApplication(t string) string {
	const prefix = "application/"
	if len(t) > len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
		return t[len(prefix):]
	}
	return t
}
