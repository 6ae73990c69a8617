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

// ProofHeader reads a request's DPoP proof (RFC 9449 4.3 check 1):
// exactly one DPoP header. ok is false when there are several or an empty
// one; "" with ok true when there is none (at a token endpoint, a request
// without DPoP).
func ProofHeader(h http.Header) (proof string, ok bool) { return proofHeader(h) }

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
	return d.checkRequest(r, "", false, tok, dpop, c)
}

// CheckRequestAt is CheckRequest for a request whose URL the caller knows
// better than DPoPConfig.RequestURL can: requestURL, the URL the client
// sent the request to (scheme, host and port this server answers at, and
// the path as received), which the proof's htu must name. A server that
// serves several hosts, or rewrites paths, passes it. "" means that URL is
// not known: every bound token is refused (ReasonDPoPBinding), never
// checked against a URL the client could choose.
func (d *DPoP) CheckRequestAt(r *http.Request, requestURL, tok string, dpop bool, c *Claims) error {
	return d.checkRequest(r, requestURL, true, tok, dpop, c)
}

// checkRequest is CheckRequest (given false: the URL is
// DPoPConfig.RequestURL's) and CheckRequestAt.
func (d *DPoP) checkRequest(r *http.Request, requestURL string, given bool, tok string, dpop bool, c *Claims) error {
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
	if !given {
		requestURL = d.cfg.RequestURL(r)
	}
	if requestURL == "" {
		return refuse(ReasonDPoPBinding, "the URL this request was sent to is not known here")
	}
	p, err := d.Check(r.Context(), proof, ProofRequest{Method: r.Method, URL: requestURL, AccessToken: tok})
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(c.JKT)) != 1 {
		return refuse(ReasonDPoPBinding, "the proof's key is not the token's")
	}
	return nil
}
