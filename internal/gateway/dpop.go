package gateway

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// DPoP at the gateway (RFC 9449 7): a Gatehouse token bound to a key
// (cnf.jkt) passes only in the DPoP scheme, with a fresh proof of that key
// for this request's method and URL and this token; anything else, a
// bound token presented as Bearer above all, is refused with a DPoP
// challenge. Config.DPoP checks the proofs, with the replay cache the
// node is given (in memory on a single node, the store or Redis for
// many); without it, bound tokens are refused.

// checkDPoP applies the binding to a verified token c, presented as tok
// (in the DPoP scheme if dpop). It marks the request as concerning DPoP,
// so that a refusal is answered with a DPoP challenge.
func (g *Gateway) checkDPoP(r *http.Request, tok string, dpop bool, c *verify.Claims, id *identity) error {
	if !dpop && c.JKT == "" {
		return nil
	}
	id.dpop = true
	return g.cfg.DPoP.CheckRequest(r, tok, dpop, c)
}

// writeDPoPRefusal answers a refusal that concerns DPoP: the DPoP
// challenge with the accepted algorithms, and a fresh nonce when the
// proof lacked one.
func (g *Gateway) writeDPoPRefusal(w http.ResponseWriter, err error, scopes []string) {
	algs := verify.DefaultDPoPAlgorithms
	if g.cfg.DPoP != nil {
		algs = g.cfg.DPoP.Algorithms()
		if verify.ReasonOf(err) == verify.ReasonUseDPoPNonce {
			w.Header().Set(verify.HeaderDPoPNonce, g.cfg.DPoP.Nonce())
		}
	}
	verify.WriteDPoPError(w, Realm, algs, err, scopes)
}

// DPoPRequestURL is the URL a request reached the gateway at, as a DPoP
// proof's htu names it: https when the connection is TLS or the gateway's
// public scheme says so, the Host header and the path as received.
func DPoPRequestURL(publicScheme string) func(r *http.Request) string {
	return func(r *http.Request) string {
		scheme := publicScheme
		if scheme == "" {
			scheme = "http"
			if r.TLS != nil {
				scheme = "https"
			}
		}
		return scheme + "://" + r.Host + r.URL.EscapedPath()
	}
}
