package gateway

import (
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// canonicalPrefix rewrites the start of the path of a case-insensitive
// route's request to the route's own spelling of its prefix
// ("/PRIVATE/x" to "/private/x"): the upstream then sees the path the
// route was chosen for, and StripPrefix finds its prefix. path and
// rawPath are the request URL's Path and RawPath; a RawPath whose prefix
// is spelled with escapes is dropped for the default encoding of the new
// path.
func canonicalPrefix(prefix, path, rawPath string) (string, string) {
	if prefix == "/" || len(path) < len(prefix) || path[:len(prefix)] == prefix ||
		!auth.EqualFoldASCII(path[:len(prefix)], prefix) ||
		(len(path) > len(prefix) && path[len(prefix)] != '/') {
		return path, rawPath
	}
	newPath := prefix + path[len(prefix):]
	if rawPath == "" {
		return newPath, ""
	}
	if len(rawPath) >= len(prefix) && auth.EqualFoldASCII(rawPath[:len(prefix)], prefix) {
		return newPath, prefix + rawPath[len(prefix):]
	}
	return newPath, ""
}
