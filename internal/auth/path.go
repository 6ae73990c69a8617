package auth

import "strings"

// PathCheck is what CheckPath found in a request path.
type PathCheck uint8

// What CheckPath finds.
const (
	PathOK     PathCheck = iota // canonical
	PathParams                  // canonical, but a segment carries ";parameters"
	PathBad                     // refused
)

// CheckPath looks at a request path (decoded, so "%3B" is ';' and "%5C"
// is '\') for the spellings that a route table and an upstream could read
// as different resources; the gateway refuses them before any route is
// chosen, and a route's PathPrefix may use none of them:
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
// A ';' is reported (PathParams) rather than refused here: servlet
// containers strip ";parameters" from each segment, so "/private;x/y" is
// /private/y to them, and only a route that says so may take such a path
// (see WithoutParams). An empty last segment (a trailing slash) is
// ordinary.
func CheckPath(path string) PathCheck {
	if !strings.HasPrefix(path, "/") {
		return PathBad
	}
	verdict := PathOK
	start := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) {
			switch c := path[i]; {
			case c == '\\' || c < 0x20 || c == 0x7f:
				return PathBad
			case c == ';':
				verdict = PathParams
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
			return PathBad
		case seg == "" && i < len(path), name == "" && seg != "":
			return PathBad // "//", "/;x/", "/;x"
		case trailingTrimmed(name), trailingTrimmed(seg):
			return PathBad
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

// WithoutParams removes every segment's ";parameters", as a servlet
// container does before it resolves a path: "/private;x/y;z=1" is
// "/private/y". path has passed CheckPath.
func WithoutParams(path string) string {
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

// MatchesPrefix reports whether path is prefix or below it on a segment
// boundary ("/orders" matches "/orders" and "/orders/1", not "/ordersx"),
// ignoring the case of ASCII letters when fold is set.
func MatchesPrefix(prefix, path string, fold bool) bool {
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	if len(path) < len(prefix) || (len(path) > len(prefix) && path[len(prefix)] != '/') {
		return false
	}
	if fold {
		return EqualFoldASCII(path[:len(prefix)], prefix)
	}
	return path[:len(prefix)] == prefix
}

// EqualFoldASCII reports whether a and b are equal when ASCII letters are
// compared without case. Other characters must be equal byte for byte:
// Unicode folding ("K", the Kelvin sign, is "k" to strings.EqualFold) is
// not what case-insensitive HTTP routers do.
func EqualFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// FoldASCII lower-cases the ASCII letters of s, the form in which
// EqualFoldASCII compares.
func FoldASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
