package verify

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// AccessToken returns the token of the request's one Authorization header
// in the Bearer scheme (RFC 6750 2.1) or the DPoP scheme (RFC 9449 7.1),
// and whether it was DPoP. Schemes are case-insensitive (RFC 9110 11.1).
// ok is false as for BearerToken: no such header, several Authorization
// headers, or a value that is not a token68.
func AccessToken(r *http.Request) (token string, dpop bool, ok bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false, false
	}
	return parseAccessToken(vals[0])
}

func parseAccessToken(v string) (string, bool, bool) {
	const scheme = "dpop "
	if len(v) > len(scheme) && strings.EqualFold(v[:len(scheme)], scheme) {
		tok := strings.TrimLeft(v[len(scheme):], " ")
		if tok == "" || !isToken68(tok) {
			return "", true, false
		}
		return tok, true, true
	}
	tok, ok := parseBearer(v)
	return tok, false, ok
}

// CheckRequest applies RFC 9449 7.1 to a request whose access token (tok,
// in the DPoP scheme if dpop) verified with claims c. A bearer token (no
// cnf.jkt) in the Bearer scheme passes untouched. Otherwise the token must
// be DPoP-bound and presented in the DPoP scheme (ReasonDPoPBinding: a
// bound token as Bearer, the downgrade RFC 9449 7.2 forbids, or an unbound
// token as DPoP), with exactly one DPoP header holding a proof that Check
// accepts for the request's method and URL (DPoPConfig.RequestURL) and
// this token (ath), made with the key the token is bound to
// (ReasonDPoPBinding otherwise). A nil *DPoP refuses every bound token.
func (d *DPoP) CheckRequest(r *http.Request, tok string, dpop bool, c *Claims) error {
	if c.JKT == "" && !dpop {
		return nil
	}
	if c.JKT == "" {
		return refuse(ReasonDPoPBinding, "a token in the DPoP scheme that is not bound to a key")
	}
	if !dpop {
		return refuse(ReasonDPoPBinding, "a DPoP-bound token presented as Bearer")
	}
	if d == nil {
		return refuse(ReasonDPoPBinding, "DPoP proofs are not checked here")
	}
	proof, ok := proofHeader(r.Header)
	if !ok || proof == "" {
		return refuse(ReasonInvalidDPoPProof, "no DPoP proof, or several")
	}
	p, err := d.Check(r.Context(), proof, ProofRequest{Method: r.Method, URL: d.cfg.RequestURL(r), AccessToken: tok})
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(c.JKT)) != 1 {
		return refuse(ReasonDPoPBinding, "the proof's key is not the token's")
	}
	return nil
}
