package signing

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	jsonv2 "github.com/go-json-experiment/json"
)

// Errors of Verify, to classify with errors.Is. Their messages never
// contain the token or any part of it.
var (
	ErrMalformed     = errors.New("signing: the token is malformed")
	ErrUnknownKey    = errors.New("signing: the token's key is unknown")
	ErrBadSignature  = errors.New("signing: the token's signature is not valid")
	ErrExpired       = errors.New("signing: the token has expired")
	ErrNotYetValid   = errors.New("signing: the token is not valid yet")
	ErrWrongIssuer   = errors.New("signing: the token is from another issuer")
	ErrWrongAudience = errors.New("signing: the token is for another audience")
	ErrWrongType     = errors.New("signing: the token is of another type")
)

// MaxTokenSize caps the tokens Verify parses. Gatehouse's tokens are well
// under 2 KiB; a larger input is refused before any decoding.
const MaxTokenSize = 8 << 10

// Expect is what Verify requires of a token beyond a valid signature.
type Expect struct {
	// Type is the typ header wanted: "at+jwt" (RFC 9068) or "JWT" (ID
	// tokens). Compared case-insensitively, with or without "application/"
	// (RFC 7515 §4.1.9, RFC 8725 §3.11). Always checked.
	Type string
	// Issuer must equal iss exactly. Always checked.
	Issuer string
	// Audience must be one of aud; "" skips the check.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat; zero takes the
	// keyring's Options.Leeway.
	Leeway time.Duration
}

// typHeader is the only header parameter Verify accepts besides alg and
// kid. Anything else (jwk, jku, x5u, x5c, crit, b64, nonce, ...)
// could make the token name its own key or change how it is processed, and
// Gatehouse never sets it.
const typHeader = "typ"

// Verify checks a token Gatehouse signed and returns its claims. The
// algorithm must be one of the keyring's keys' (never taken from the token
// alone) and the kid's; the signature must verify with that published key;
// the header may hold only alg, kid and typ; typ, iss and aud must match
// want; exp must be present and not passed, nbf and iat not in the future
// (each within the leeway). Errors wrap one of the Err* sentinels.
func (k *Keyring) Verify(token string, want Expect) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenSize)
	}
	s := k.snap.Load()
	jws, err := jose.ParseSignedCompact(token, s.algs)
	if err != nil {
		// go-jose's messages may quote header values: keep them out.
		var unexpected *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &unexpected) {
			return nil, fmt.Errorf("%w: algorithm not allowed", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: not a JWS in compact serialization", ErrMalformed)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not one signature", ErrMalformed)
	}
	h := jws.Signatures[0].Header
	if h.JSONWebKey != nil || h.Nonce != "" || hasX5C(h) {
		return nil, fmt.Errorf("%w: forbidden header parameter", ErrMalformed)
	}
	typ := ""
	for name, v := range h.ExtraHeaders {
		if name != typHeader {
			return nil, fmt.Errorf("%w: forbidden header parameter", ErrMalformed)
		}
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: typ is not a string", ErrMalformed)
		}
		typ = str
	}
	e := s.byKID[h.KeyID]
	now := k.now()
	if e == nil || !e.publishedAt(now) {
		return nil, ErrUnknownKey
	}
	// The key fixes the algorithm: an ES256 kid with an RS256 (or HS256,
	// with the public key as the HMAC secret) header fails here.
	if h.Algorithm != e.alg {
		return nil, fmt.Errorf("%w: algorithm does not match the key", ErrBadSignature)
	}
	// The signature covers the encoded header and payload exactly as
	// received (RFC 7515 §5.2 step 8): everything before the last dot,
	// which go-jose has just split the same way. Checking it here with the
	// standard library spares JSONWebSignature.Verify's re-encoding of both
	// segments and its verifier set-up: a third of the time Verify spent
	// outside ECDSA itself (pprof), which kept it over 1.2x the bare check.
	input := token[:strings.LastIndexByte(token, '.')]
	if !e.verifySignature(input, jws.Signatures[0].Signature) {
		return nil, ErrBadSignature
	}
	payload := jws.UnsafePayloadWithoutVerification() // verified just above
	if !sameType(typ, want.Type) {
		return nil, ErrWrongType
	}
	// One strict decode: names are case-sensitive and duplicates refused,
	// so no claim can be given twice with the second one winning.
	var c Claims
	if err := jsonv2.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object of the expected types", ErrMalformed)
	}
	if err := c.check(now, want, k.opts.Leeway); err != nil {
		return nil, err
	}
	return &c, nil
}

// check applies the time, issuer and audience rules.
func (c *Claims) check(now time.Time, want Expect, defaultLeeway time.Duration) error {
	leeway := want.Leeway
	if leeway == 0 {
		leeway = defaultLeeway
	}
	if c.Expiry == 0 {
		return fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	if !now.Before(c.Expiry.Time().Add(leeway)) {
		return ErrExpired
	}
	if c.NotBefore != 0 && c.NotBefore.Time().After(now.Add(leeway)) {
		return ErrNotYetValid
	}
	if c.IssuedAt != 0 && c.IssuedAt.Time().After(now.Add(leeway)) {
		return fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	}
	if c.Issuer != want.Issuer {
		return ErrWrongIssuer
	}
	if want.Audience != "" && !c.Audience.Contains(want.Audience) {
		return ErrWrongAudience
	}
	return nil
}

// hasX5C reports whether the header carries a certificate chain, which
// go-jose keeps out of ExtraHeaders.
func hasX5C(h jose.Header) bool {
	_, err := h.Certificates(x509.VerifyOptions{})
	return !errors.Is(err, jose.ErrMissingX5cHeader)
}

// sameType compares typ header values as media types: case-insensitively,
// "application/" optional (RFC 7515 §4.1.9), so "application/at+jwt"
// matches "at+jwt".
func sameType(got, want string) bool {
	return strings.EqualFold(trimApplication(got), trimApplication(want))
}

func trimApplication(t string) string {
	const prefix = "application/"
	if len(t) > len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
		return t[len(prefix):]
	}
	return t
}
