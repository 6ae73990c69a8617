package web

import (
	"net/url"
	"strings"
)

// maxReturn bounds a return path.
const maxReturn = 8 << 10

// SafeReturn returns raw if it is a local path (with its query) at one of
// the allowed paths or below one (prefix "/account" allows "/account" and
// "/account/...", never "/accountX"), and "" otherwise: never another
// site, a scheme-relative or backslash trick, a fragment, control
// characters, or a dot segment ("/account/../x"). The one rule for every
// return path the server redirects to.
func SafeReturn(raw string, allowed ...string) string {
	if raw == "" || len(raw) > maxReturn || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") ||
		strings.ContainsAny(raw, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return ""
	}
	p := u.Path
	if strings.Contains(p, "/..") || strings.Contains(p, "/./") || strings.HasSuffix(p, "/.") ||
		strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return ""
	}
	for _, a := range allowed {
		if p == a || strings.HasPrefix(p, strings.TrimSuffix(a, "/")+"/") {
			return raw
		}
	}
	return ""
}
