package routes

import (
	"net"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// CheckProvider refuses a normalized route whose identity provider the
// gateway would not fetch keys from: the JWKS (jwks_uri, or the issuer's
// discovery document when there is none) must be https, or http to a
// loopback host, as the verify package requires — keys fetched in clear
// text over a network could be replaced, and with them every token
// accepted. auth.Route.Normalize accepts any http URL, so without this a
// route would be stored (or a routes file loaded) and then refused by the
// gateway when it builds its table, holding back every other change.
// The error is EINVALID and names the field.
func CheckProvider(r *auth.Route) error {
	if r.Issuer == "" {
		return nil
	}
	field, uri := "issuer", r.Issuer
	if r.JWKSURI != "" {
		field, uri = "jwks_uri", r.JWKSURI
	}
	if fetchable(uri) {
		return nil
	}
	return auth.Errorf(auth.EINVALID, "route %s: %s %q: keys are fetched only over https, or http to a loopback host", r.Name, field, uri)
}

func fetchable(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		if strings.EqualFold(host, "localhost") {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
