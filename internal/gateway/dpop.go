package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/verify"
)

// DPoP at the gateway (RFC 9449 7): a Gatehouse token bound to a key
// (cnf.jkt) passes only in the DPoP scheme, with a fresh proof of that key
// for this request's method and URL and this token; anything else, a
// bound token presented as Bearer above all, is refused with a DPoP
// challenge. Config.DPoP checks the proofs, with the replay cache the
// node is given (in memory on a single node, the store or Redis for
// many); without it, bound tokens are refused.
//
// The URL a proof must name is one the gateway serves, never one the
// client chooses: a token and proof captured at another resource server
// must not pass here with the Host header set to that server's name. Its
// host is the request's on a route with hosts (which matched one of them)
// and Config.PublicURL's on a route without; its scheme and port are
// PublicURL's; its path is the one the client sent, before the route
// folds its prefix (canonicalPrefix).

// publicURL is Config.PublicURL taken apart: scheme ("" for the
// connection's), host ("" when unknown) and port (":8443", "" for the
// scheme's default).
type publicURL struct {
	scheme, host, port string
}

// parsePublicURL checks Config.PublicURL (or, without it, PublicScheme).
func parsePublicURL(s, scheme string) (publicURL, error) {
	if s == "" {
		switch scheme {
		case "", "http", "https":
			return publicURL{scheme: scheme}, nil
		}
		return publicURL{}, fmt.Errorf("gateway: Config.PublicScheme %q is not http or https", scheme)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return publicURL{}, errors.New("gateway: Config.PublicURL must be an http or https URL of a host (and port), without path, query or user")
	}
	p := publicURL{scheme: u.Scheme, host: strings.ToLower(u.Hostname())}
	if strings.Contains(p.host, ":") {
		p.host = "[" + p.host + "]"
	}
	if port := u.Port(); port != "" && !(u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80") {
		p.port = ":" + port
	}
	return p, nil
}

// checkDPoP applies the binding to a verified token c, presented as tok
// (in the DPoP scheme if dpop), on route rt. It marks the request as
// concerning DPoP, so that a refusal is answered with a DPoP challenge.
func (g *Gateway) checkDPoP(r *http.Request, rt *route, tok string, dpop bool, c *verify.Claims, id *identity) error {
	if !dpop && c.JKT == "" {
		return nil
	}
	id.dpop = true
	return g.cfg.DPoP.CheckRequestAt(r, g.dpopURL(r, rt, id), tok, dpop, c)
}

// dpopURL is the URL a DPoP proof for r must name (see above); "" when
// the gateway does not know its own name for rt (no hosts, no PublicURL),
// which refuses every bound token.
func (g *Gateway) dpopURL(r *http.Request, rt *route, id *identity) string {
	host := g.public.host
	if len(rt.cfg.Hosts) > 0 {
		// The route matched it: one of its hosts, or under its *.domain.
		host = hostOf(r)
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	if host == "" {
		return ""
	}
	scheme := g.public.scheme
	if scheme == "" {
		scheme = "http"
		if id.sentScheme != "" {
			scheme = id.sentScheme // a decision: the client's, as the trusted proxy says
		} else if r.TLS != nil {
			scheme = "https"
		}
	}
	sent := url.URL{Path: id.sentPath, RawPath: id.sentRawPath}
	return scheme + "://" + host + g.public.port + sent.EscapedPath()
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
