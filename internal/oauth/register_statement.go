package oauth

import (
	"encoding/json"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// maxSoftwareStatementBytes bounds a software statement.
const maxSoftwareStatementBytes = 16 << 10

// statementTimes are the JWT claims of a software statement that are
// checked rather than merged.
type statementTimes struct {
	Issuer    string           `json:"iss"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
}

// notMetadata are the claims of a software statement that are no client
// metadata: the JWT's own claims, and the members only the server sets.
var notMetadata = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
	"software_statement", "client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at",
	"registration_access_token", "registration_client_uri",
}

// softwareStatement verifies a software statement (RFC 7591 2.3): a JWS
// signed (RS256, ES256 or EdDSA) by one of the keys the operator trusts
// (RegistrationPolicy.SoftwareStatementKeys), with an iss, not expired
// and not issued in the future. It returns the client metadata it
// asserts, which take precedence over the same members sent in the clear
// (RFC 7591 3.1.1). invalid_software_statement for a statement that does
// not verify; unapproved_software_statement when no key is trusted.
func (s *Server) softwareStatement(raw string, now time.Time) (map[string]json.RawMessage, error) {
	keys := s.cfg.Registration.SoftwareStatementKeys
	if len(keys) == 0 {
		return nil, newError(CodeUnapprovedSoftwareStatement, "This server trusts no software statement issuer.")
	}
	if len(raw) > maxSoftwareStatementBytes {
		return nil, errInvalidSoftwareStatement("The software statement is too large.")
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, errInvalidSoftwareStatement("The software statement is not a JWS signed with RS256, ES256 or EdDSA.")
	}
	var claims map[string]json.RawMessage
	if !verifyWithClientKeys(tok, keys, &claims) || claims == nil {
		return nil, errInvalidSoftwareStatement("The software statement is not signed by a trusted key.")
	}
	var times statementTimes
	b, _ := json.Marshal(claims)
	if err := json.Unmarshal(b, &times); err != nil {
		return nil, errInvalidSoftwareStatement("The software statement's iss, exp, nbf or iat claim has the wrong type.")
	}
	switch {
	case times.Issuer == "":
		return nil, errInvalidSoftwareStatement("The software statement has no iss claim.")
	case times.Expiry != nil && !now.Before(times.Expiry.Time().Add(assertionLeeway)):
		return nil, errInvalidSoftwareStatement("The software statement has expired.")
	case times.NotBefore != nil && times.NotBefore.Time().After(now.Add(assertionLeeway)):
		return nil, errInvalidSoftwareStatement("The software statement is not valid yet.")
	case times.IssuedAt != nil && times.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return nil, errInvalidSoftwareStatement("The software statement was issued in the future.")
	}
	for _, name := range notMetadata {
		delete(claims, name)
	}
	return claims, nil
}
