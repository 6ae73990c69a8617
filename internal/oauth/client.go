package oauth

import (
	"errors"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// MatchRedirectURI reports whether uri is one of c's registered redirect
// URIs. The comparison is exact (RFC 9700 4.1.3: no normalisation, no
// wildcards, no prefix matching), with one exception for public (native)
// clients, RFC 8252 7.3: a registered http://127.0.0.1/path or
// http://[::1]/path matches the same URI with any port, since the app
// picks a free port at run time. "localhost" gets no exception (RFC 8252
// 8.3 advises against it).
func MatchRedirectURI(c *auth.Client, uri string) bool {
	for _, r := range c.RedirectURIs {
		if r == uri {
			return true
		}
	}
	if !c.Public {
		return false
	}
	got, ok := stripLoopbackPort(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if want, ok := stripLoopbackPort(r); ok && want == got {
			return true
		}
	}
	return false
}

// stripLoopbackPort returns uri without its port when it is an http URI
// of the IPv4 or IPv6 loopback literal, and ok false for anything else.
func stripLoopbackPort(uri string) (string, bool) {
	var host string
	switch {
	case strings.HasPrefix(uri, "http://127.0.0.1"):
		host = "http://127.0.0.1"
	case strings.HasPrefix(uri, "http://[::1]"):
		host = "http://[::1]"
	default:
		return "", false
	}
	rest := uri[len(host):]
	if strings.HasPrefix(rest, ":") {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		port := rest[1:n]
		if len(port) == 0 || len(port) > 5 || port[0] == '0' {
			return "", false
		}
		if v := atoiDigits(port); v > 65535 {
			return "", false
		}
		rest = rest[n:]
	}
	// The host must end here, so that 127.0.0.1.example.com or
	// 127.0.0.1@evil never pass for a loopback address.
	if rest != "" && rest[0] != '/' && rest[0] != '?' {
		return "", false
	}
	return host + rest, true
}

func atoiDigits(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

// parseScope parses a scope parameter with auth.ParseScope (RFC 6749 3.3,
// the one scope grammar): scope tokens separated by single spaces. It
// returns the tokens sorted and deduplicated, nil for "". Anything else is
// invalid_scope.
func parseScope(scope string) ([]string, error) {
	out, err := auth.ParseScope(scope)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, auth.ErrScopeTooLong):
		return nil, errInvalidScope("The scope parameter is too long.")
	case errors.Is(err, auth.ErrScopeSpacing):
		return nil, errInvalidScope("The scope parameter must be scope tokens separated by single spaces.")
	case errors.Is(err, auth.ErrScopeTooMany):
		return nil, errInvalidScope("The scope parameter has too many scopes.")
	default:
		return nil, errInvalidScope("The scope parameter has a character scope tokens may not contain.")
	}
}

// grantScopes parses the requested scope string and checks that the client
// may ask for every scope in it (invalid_scope otherwise). The result is
// sorted and unique; an empty request grants no scope, the safe default of
// RFC 6749 3.3.
func (s *Server) grantScopes(c *auth.Client, requested string) ([]string, error) {
	scopes, err := parseScope(requested)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return nil, errInvalidScope("The client may not request the scope %q.", sc)
		}
	}
	return scopes, nil
}

// maxResources bounds the resource parameters of one request.
const maxResources = 16

// resolveAudiences turns the resource parameters of a request (RFC 8707)
// into the audiences of its tokens. Each must be an absolute URI without a
// fragment and one of the client's audiences (invalid_target otherwise).
// With none, the client's first audience is used; a client with no
// audiences gets the issuer as its only audience.
func (s *Server) resolveAudiences(c *auth.Client, resources []string) ([]string, error) {
	allowed := c.Audiences
	if len(allowed) == 0 {
		allowed = []string{s.issuer}
	}
	if len(resources) == 0 {
		return []string{allowed[0]}, nil
	}
	if len(resources) > maxResources {
		return nil, errInvalidTarget("Too many resource parameters.")
	}
	out := make([]string, 0, len(resources))
	for _, r := range resources {
		if !client.ValidAudience(r) {
			return nil, errInvalidTarget("A resource must be an absolute URI without a fragment.")
		}
		if !slices.Contains(allowed, r) {
			return nil, errInvalidTarget("The client may not request the resource %q.", r)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
