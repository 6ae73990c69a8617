package federation

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// mappingKeys are the attributes a claim mapping may set.
var mappingKeys = []string{auth.ClaimSubject, auth.ClaimEmail, auth.ClaimEmailVerified, auth.ClaimName}

// ParseClaimMapping parses the CLI's form of a claim mapping,
// "key=claim,key=claim" (keys: sub, email, email_verified, name), and
// checks it as CheckClaimMapping does. "" is an empty mapping.
func ParseClaimMapping(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, auth.Errorf(auth.EINVALID, "A claim mapping is a list of key=claim pairs separated by commas.")
		}
		if _, dup := m[k]; dup {
			return nil, auth.Errorf(auth.EINVALID, "The claim mapping names %q twice.", k)
		}
		m[k] = v
	}
	if err := CheckClaimMapping(m); err != nil {
		return nil, err
	}
	return m, nil
}

// CheckClaimMapping refuses (EINVALID) a mapping with an unknown key or a
// value that is not a claim name.
func CheckClaimMapping(m map[string]string) error {
	for k, v := range m {
		known := false
		for _, mk := range mappingKeys {
			known = known || k == mk
		}
		if !known {
			return auth.Errorf(auth.EINVALID, "The claim mapping key %q is unknown (known: %s).", k, strings.Join(mappingKeys, ", "))
		}
		if !validClaimName(v) {
			return auth.Errorf(auth.EINVALID, "The claim mapping of %q is not a valid claim name.", k)
		}
	}
	return nil
}

// validClaimName accepts the names providers use: ASCII letters, digits
// and _ - . : / (URIs as claim names), at most maxClaimLength bytes.
func validClaimName(c string) bool {
	if c == "" || len(c) > maxClaimLength {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			b == '_' || b == '-' || b == '.' || b == ':' || b == '/') {
			return false
		}
	}
	return true
}

// Identity is an upstream account as the provider described it.
type Identity struct {
	Provider      string
	Subject       string // stable, unique at the provider
	Username      string // from the username claim; may be ""
	Email         string
	EmailVerified bool
	Name          string
}

// maxClaimValue bounds the claim values taken over.
const maxClaimValue = 512

// identityFrom maps upstream claims (an ID token's payload or a userinfo
// document, decoded with UseNumber) to an Identity. The subject must be
// a non-empty string or integer (GitHub's id is a number).
func identityFrom(p *auth.Provider, claims map[string]any) (*Identity, error) {
	sub, ok := claimString(claims[p.Mapped(auth.ClaimSubject)])
	if !ok || sub == "" {
		return nil, refused(ReasonInvalidIdentity, "the upstream identity has no subject")
	}
	id := &Identity{Provider: p.Name, Subject: sub}
	id.Username, _ = claimString(claims[p.Username()])
	id.Email, _ = claimString(claims[p.Mapped(auth.ClaimEmail)])
	id.Name, _ = claimString(claims[p.Mapped(auth.ClaimName)])
	if k := p.Mapped(auth.ClaimEmailVerified); k != "" {
		id.EmailVerified = claimTrue(claims[k])
	}
	if id.Email == "" {
		id.EmailVerified = false
	}
	return id, nil
}

// claimString returns a string claim, or an integer one in decimal, if it
// is at most maxClaimValue bytes of valid text.
func claimString(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err != nil {
			return "", false
		}
		s = string(x)
	default:
		return "", false
	}
	if len(s) > maxClaimValue || auth.CheckText("claim", s) != nil {
		return "", false
	}
	return s, true
}

// claimTrue reports whether a boolean claim is true: the JSON literal, or
// the string "true" some providers send.
func claimTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}
