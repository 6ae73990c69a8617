package gateway

import (
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// pathCheck is what checkPath found in a request path.
type pathCheck uint8

const (
	pathOK     pathCheck = iota
	pathParams           // acceptable, but a segment carries ";parameters"
	pathBad              // refused
)

// checkPath looks at a request path (decoded, so "%3B" is ';' and "%5C"
// is '\') for the spellings that a route table and an upstream could read
// as different resources, and refuses them before any route is chosen:
//
//   - not starting with '/';
//   - a "." or ".." segment, or an empty one ("//"): the path would match
//     one route here and, once an upstream resolves it, name a resource
//     of another ("/public/../admin"; "//admin", which matches "/" here
//     and which nginx, Spring and others merge into "/admin"). A
//     segment's ";parameters" are ignored for this (Tomcat and Jetty read
//     "..;" as "..");
//   - a backslash anywhere: IIS, some Windows and Node servers read it as
//     '/', and "/private\x" would then be below /private;
//   - a segment ending in '.' or a space ("/private./x", "/private%20/x"):
//     Windows and IIS trim them and serve /private;
//   - an ASCII control character (NUL, tab, CR, LF, ...): C servers stop
//     at NUL, others trim or split at the rest.
//
// A ';' is reported (pathParams) rather than refused here: servlet
// containers strip ";parameters" from each segment, so "/private;x/y" is
// /private/y to them, and only a route that says so may take such a path
// (see withoutParams). An empty last segment (a trailing slash) is
// ordinary.
func checkPath(path string) pathCheck {
	if !strings.HasPrefix(path, "/") {
		return pathBad
	}
	verdict := pathOK
	start := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) {
			switch c := path[i]; {
			case c == '\\' || c < 0x20 || c == 0x7f:
				return pathBad
			case c == ';':
				verdict = pathParams
				continue
			case c != '/':
				continue
			}
		}
		seg := path[start:i]
		start = i + 1
		name := seg
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			name = seg[:j]
		}
		switch {
		case name == "." || name == "..":
			return pathBad
		case seg == "" && i < len(path), name == "" && seg != "":
			return pathBad // "//", "/;x/", "/;x"
		case trailingTrimmed(name), trailingTrimmed(seg):
			return pathBad
		}
	}
	return verdict
}

// trailingTrimmed reports whether a segment ends in a character that
// Windows file systems and IIS drop.
func trailingTrimmed(seg string) bool {
	if seg == "" {
		return false
	}
	c := seg[len(seg)-1]
	return c == '.' || c == ' '
}

// withoutParams removes every segment's ";parameters", as a servlet
// container does before it resolves a path: "/private;x/y;z=1" is
// "/private/y". path has passed checkPath.
func withoutParams(path string) string {
	var b strings.Builder
	b.Grow(len(path))
	skip := false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '/':
			skip = false
		case c == ';':
			skip = true
		}
		if !skip {
			b.WriteByte(path[i])
		}
	}
	return b.String()
}

// canonicalPrefix rewrites the start of the path of a case-insensitive
// route's request to the route's own spelling of its prefix
// ("/PRIVATE/x" to "/private/x"): the upstream then sees the path the
// route was chosen for, and StripPrefix finds its prefix. path and
// rawPath are the request URL's Path and RawPath; a RawPath whose prefix
// is spelled with escapes is dropped for the default encoding of the new
// path.
func canonicalPrefix(prefix, path, rawPath string) (string, string, bool) {
	if prefix == "/" || len(path) < len(prefix) || path[:len(prefix)] == prefix ||
		!auth.EqualFoldASCII(path[:len(prefix)], prefix) ||
		(len(path) > len(prefix) && path[len(prefix)] != '/') {
		return path, rawPath, false
	}
	newPath := prefix + path[len(prefix):]
	if rawPath == "" {
		return newPath, "", true
	}
	if len(rawPath) >= len(prefix) && auth.EqualFoldASCII(rawPath[:len(prefix)], prefix) {
		return newPath, prefix + rawPath[len(prefix):], true
	}
	return newPath, "", true
}
