package oauth

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// CodeInvalidRequestObject is the error of a request object that is not
// valid (RFC 9101 6.3, OIDC Core 3.1.2.6).
const CodeInvalidRequestObject = "invalid_request_object"

func errInvalidRequestObject(format string, args ...any) *Error {
	return newError(CodeInvalidRequestObject, format, args...)
}

// requestObjectAlgorithms are the only algorithms a request object may be
// signed with: fixed here, never taken from the token (RFC 8725 3.1), so
// none, the HMAC algorithms and encrypted objects are refused before any
// key is looked at.
var requestObjectAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256}

// algNames returns the names of algs, for discovery.
func algNames(algs []jose.SignatureAlgorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}

// Bounds on request objects.
const (
	maxRequestObjectLifetime = time.Hour       // exp at most this far ahead (FAPI 2.0 Message Signing 5.3.1)
	requestObjectLeeway      = assertionLeeway // clock skew allowed on exp and nbf
	maxRequestObjectBytes    = maxAuthorizeRequest
)

// requestObjectTypes are the typ headers a request object may carry: none,
// JWT, or the explicit type of RFC 9101 4 (with or without the
// application/ prefix, RFC 7515 4.1.9).
var requestObjectTypes = map[string]bool{"": true, "jwt": true, "oauth-authz-req+jwt": true, "application/oauth-authz-req+jwt": true}

// requestObjectClaims are the claims of a request object that say who
// made it, for whom and when; the rest are the authorization request's
// parameters.
type requestObjectClaims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ClientID  *string          `json:"client_id"`
}

// requestObjectParams verifies a request object (RFC 9101) of client c
// and returns the authorization request it holds. It must be a JWS signed
// with ES256, EdDSA, RS256 or PS256 by a key of the client's registered
// JWK Set; iss is the client ID, aud names the issuer, exp is present, not
// past and at most an hour ahead, nbf (if any) is not in the future, and a
// client_id claim, if any, is the client's. Only the parameters inside the
// object count (RFC 9101 6.3): those outside it are ignored, except the
// client_id, which the returned values always hold.
func (s *Server) requestObjectParams(c *auth.Client, raw string) (url.Values, error) {
	if len(raw) > maxRequestObjectBytes {
		return nil, errInvalidRequestObject("The request object is too large.")
	}
	tok, err := jwt.ParseSigned(raw, requestObjectAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, errInvalidRequestObject("The request object must be a JWS signed with ES256, EdDSA, RS256 or PS256.")
	}
	typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string)
	if !requestObjectTypes[strings.ToLower(typ)] {
		return nil, errInvalidRequestObject("The request object has the wrong typ.")
	}
	if len(c.JWKS) == 0 {
		return nil, errInvalidRequestObject("The client has no registered keys to verify a request object with.")
	}
	var all map[string]json.RawMessage
	if !verifyWithClientKeys(tok, c.JWKS, &all) {
		return nil, errInvalidRequestObject("The request object is not signed by a key of the client.")
	}
	return s.checkRequestObject(c, all)
}

// checkRequestObject checks the verified claims of a request object and
// turns them into authorization request parameters.
func (s *Server) checkRequestObject(c *auth.Client, all map[string]json.RawMessage) (url.Values, error) {
	var claims requestObjectClaims
	if err := remarshal(all, &claims); err != nil {
		return nil, errInvalidRequestObject("The request object's iss, aud, exp, nbf or client_id is malformed.")
	}
	now := s.now()
	switch {
	case claims.Issuer != c.ID:
		return nil, errInvalidRequestObject("The request object's iss must be the client_id.")
	case claims.ClientID != nil && *claims.ClientID != c.ID:
		return nil, errInvalidRequestObject("The request object's client_id is not the client's.")
	case !claims.Audience.Contains(s.issuer):
		return nil, errInvalidRequestObject("The request object's aud must be the issuer.")
	case claims.Expiry == nil:
		return nil, errInvalidRequestObject("The request object has no exp.")
	case !now.Before(claims.Expiry.Time().Add(requestObjectLeeway)):
		return nil, errInvalidRequestObject("The request object has expired.")
	case claims.Expiry.Time().After(now.Add(maxRequestObjectLifetime + requestObjectLeeway)):
		return nil, errInvalidRequestObject("The request object's exp is more than an hour ahead.")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(requestObjectLeeway)):
		return nil, errInvalidRequestObject("The request object is not valid yet (nbf).")
	}
	if _, ok := all["request"]; ok {
		return nil, errInvalidRequestObject("A request object cannot hold a request parameter.")
	}
	if _, ok := all["request_uri"]; ok {
		return nil, errInvalidRequestObject("A request object cannot hold a request_uri parameter.")
	}
	q := url.Values{}
	for _, name := range authorizeParams {
		v, ok := all[name]
		if !ok {
			continue
		}
		vals, ok := claimValues(v)
		if !ok {
			return nil, errInvalidRequestObject("The request object's %s is neither a string, a number nor a list of strings.", name)
		}
		for _, s := range vals {
			if s != "" {
				q[name] = append(q[name], s)
			}
		}
	}
	q.Set("client_id", c.ID)
	return q, nil
}

// claimValues turns the JSON value of a parameter in a request object into
// its values as they would appear in a query: a string as it is, a number
// as its digits (max_age), a list of strings as repeated values
// (resource), an object as its JSON text (as the OIDC claims parameter is
// sent in a query). null counts as absent.
func claimValues(v json.RawMessage) ([]string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var l []string
		if json.Unmarshal(v, &l) != nil {
			return nil, false
		}
		return l, true
	case '{':
		var b bytes.Buffer
		if json.Compact(&b, v) != nil {
			return nil, false
		}
		return []string{b.String()}, true
	case 'n':
		return nil, string(v) == "null"
	}
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		return nil, false
	}
	return []string{n.String()}, true
}

// remarshal decodes the claims in all into out.
func remarshal(all map[string]json.RawMessage, out any) error {
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
