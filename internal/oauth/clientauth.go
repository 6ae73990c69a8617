package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionAlgorithms are the only algorithms a client assertion may use:
// fixed here, never taken from the token (RFC 8725 3.1), so none and the
// HMAC algorithms (which would verify with a public key as the secret) are
// refused before any key is looked at.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// Bounds on client assertions.
const (
	maxAssertionLifetime = 5 * time.Minute  // exp at most this far ahead
	assertionLeeway      = 30 * time.Second // clock skew allowed on exp, nbf and iat
	maxAssertionBytes    = 8 << 10
	maxJTILength         = 256
)

// authenticateClient authenticates the client of a token, revocation or
// introspection request with exactly one method (RFC 6749 2.3): HTTP Basic
// (client_secret_basic), client_secret in the body (client_secret_post), a
// signed JWT (private_key_jwt, RFC 7523), or, for public clients, client_id
// alone (none). The client must use the method it registered. Two methods
// at once are invalid_request; every other failure is the same
// invalid_client, so a caller cannot tell an unknown client from a wrong
// secret.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (*auth.Client, error) {
	basicID, basicSecret, basic, basicOK := parseBasicAuth(r.Header.Get("Authorization"))
	_, post := form["client_secret"]
	_, assertion := form["client_assertion"]
	_, assertionType := form["client_assertion_type"]
	jwtAuth := assertion || assertionType
	n := 0
	for _, used := range []bool{basic, post, jwtAuth} {
		if used {
			n++
		}
	}
	if n > 1 {
		return nil, errInvalidRequest("Use exactly one client authentication method.")
	}
	formID := form.Get("client_id")
	switch {
	case basic:
		if !basicOK || (formID != "" && formID != basicID) {
			return nil, errInvalidClient()
		}
		return s.authenticateSecret(ctx, basicID, basicSecret, auth.AuthMethodSecretBasic)
	case post:
		return s.authenticateSecret(ctx, formID, form.Get("client_secret"), auth.AuthMethodSecretPost)
	case jwtAuth:
		if form.Get("client_assertion_type") != ClientAssertionType {
			return nil, errInvalidClient()
		}
		return s.authenticateAssertion(ctx, formID, form.Get("client_assertion"))
	case formID != "":
		c, err := s.clientForAuth(ctx, formID)
		if err != nil {
			return nil, err
		}
		if !c.Public || c.AuthMethod != auth.AuthMethodNone {
			return nil, errInvalidClient()
		}
		return c, nil
	}
	return nil, errInvalidClient()
}

// clientForAuth looks a client up for authentication: an unknown client is
// invalid_client, a store failure stays a server error.
func (s *Server) clientForAuth(ctx context.Context, id string) (*auth.Client, error) {
	c, err := s.clients.Lookup(ctx, id)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, errInvalidClient()
		}
		return nil, err
	}
	return c, nil
}

// authenticateSecret checks a client secret. A malformed secret (wrong
// prefix or checksum) or client ID is refused before the store is asked;
// the registry compares the keyed hashes in constant time.
func (s *Server) authenticateSecret(ctx context.Context, id, presented, method string) (*auth.Client, error) {
	if !client.ValidSecret(presented) || !client.ValidID(id) {
		return nil, errInvalidClient()
	}
	c, err := s.clientForAuth(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Public || c.AuthMethod != method || !s.clients.SecretMatches(c, presented) {
		return nil, errInvalidClient()
	}
	return c, nil
}

// assertionClaims are the claims RFC 7523 3 requires of a client
// assertion.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// authenticateAssertion checks a private_key_jwt client assertion (RFC
// 7523 3, OIDC Core 9): signed with RS256, ES256 or EdDSA by a key of the
// client's registered JWKS; iss and sub the client ID; aud the issuer and
// nothing else; exp present,
// not past and at most five minutes ahead; jti present and never seen
// before (recorded until exp).
func (s *Server) authenticateAssertion(ctx context.Context, formID, assertion string) (*auth.Client, error) {
	if assertion == "" || len(assertion) > maxAssertionBytes {
		return nil, errInvalidClient()
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, errInvalidClient()
	}
	// The issuer names the client whose keys verify the signature; the
	// claims are trusted only once that signature checks out.
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errInvalidClient()
	}
	id := unverified.Issuer
	if !client.ValidID(id) || (formID != "" && formID != id) {
		return nil, errInvalidClient()
	}
	c, err := s.clientForAuth(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.AuthMethod != auth.AuthMethodPrivateKeyJWT || len(c.JWKS) == 0 {
		return nil, errInvalidClient()
	}
	claims, ok := verifyAssertion(tok, c.JWKS)
	if !ok {
		return nil, errInvalidClient()
	}
	now := s.now()
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return nil, errInvalidClient()
	case len(claims.Audience) != 1 || claims.Audience[0] != s.issuer:
		// The issuer alone (RFC 7523bis, and the OpenID Foundation's 2025
		// audience-injection advisory): an assertion addressed to a token
		// endpoint URL can be one a client was tricked into making for
		// another server's metadata, and replayed here.
		return nil, errInvalidClient()
	case claims.Expiry == nil || !now.Before(claims.Expiry.Time().Add(assertionLeeway)):
		return nil, errInvalidClient()
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return nil, errInvalidClient()
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)):
		return nil, errInvalidClient()
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return nil, errInvalidClient()
	case claims.ID == "" || len(claims.ID) > maxJTILength || strings.ContainsFunc(claims.ID, unicode.IsControl):
		// A jti with a control character (NUL above all, which no store
		// keeps) is no identifier a client needs; refused here, it is not
		// a server error in the store.
		return nil, errInvalidClient()
	}
	// Single use (RFC 7523 3.7): the jti is kept until the assertion
	// expires, namespaced by client so one client cannot burn another's.
	if err := s.store.UseJTI(ctx, "assertion:"+c.ID+":"+claims.ID, claims.Expiry.Time().Add(assertionLeeway), now); err != nil {
		if auth.ErrorCode(err) == auth.ECONFLICT {
			return nil, errInvalidClient()
		}
		return nil, err
	}
	return c, nil
}

// verifyAssertion checks the signature of tok with the client's keys and
// returns the verified claims.
func verifyAssertion(tok *jwt.JSONWebToken, rawJWKS []byte) (*assertionClaims, bool) {
	var claims assertionClaims
	if !verifyWithKeys(tok, rawJWKS, &claims) {
		return nil, false
	}
	return &claims, true
}

// verifyWithKeys checks the signature of tok with the keys of a JWK Set:
// the key named by kid, or else every key, and decodes the verified
// claims into claims. A key with an alg of its own is only used for that
// alg.
func verifyWithKeys(tok *jwt.JSONWebToken, rawJWKS []byte, claims any) bool {
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
		if err := tok.Claims(k.Key, claims); err == nil {
			return true
		}
	}
	return false
}

// keyFitsAlgorithm reports whether a client key may verify alg: RSA for
// RS256, P-256 for ES256, Ed25519 for EdDSA.
func keyFitsAlgorithm(k *jose.JSONWebKey, alg string) bool {
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256)
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}
