package oauth

import (
	"encoding/json"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// The amr and acr claims of the tokens issued to a user say how the user
// signed in: amr the methods (RFC 8176), acr the class they meet
// (auth.ACRMFA with two factors, auth.ACRPassword with one). ID tokens
// carry them (OIDC Core 2), and so do JWT access tokens (RFC 9068 2.2.1),
// for resource servers and the gateway to require a second factor.

// acrOf is the acr claim of a sign-in with the methods amr; "" when they
// are unknown.
func acrOf(amr []string) string {
	if len(amr) == 0 {
		return ""
	}
	return auth.ACR(amr)
}

// signInClaims is an access token's claims with the amr and acr of the
// sign-in behind it.
type signInClaims struct {
	verify.Claims
	amr []string
}

// withSignIn returns what to sign for an access token with claims, issued
// from a sign-in with the methods amr (none: the claims alone).
func withSignIn(claims verify.Claims, amr []string) any {
	if len(amr) == 0 {
		return claims
	}
	return signInClaims{Claims: claims, amr: amr}
}

// MarshalJSON writes verify.Claims' encoding with amr and acr added.
func (c signInClaims) MarshalJSON() ([]byte, error) {
	base, err := c.Claims.MarshalJSON()
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}{c.amr, acrOf(c.amr)})
	if err != nil {
		return nil, err
	}
	// Both are JSON objects, base never empty (iss, sub, exp...): join
	// them into one.
	out := append(base[:len(base)-1:len(base)-1], ',')
	return append(out, extra[1:]...), nil
}
