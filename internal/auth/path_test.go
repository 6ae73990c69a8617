package auth

import (
	pathpkg "path"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	for path, want := range map[string]PathCheck{
		"/":                        PathOK,
		"/a/b/":                    PathOK,
		"/a.b/c":                   PathOK,
		"/...b":                    PathOK,
		"/a;b/c":                   PathParams,
		"/a/b;jsessionid=1":        PathParams,
		"":                         PathBad,
		"a":                        PathBad,
		"//a":                      PathBad,
		"/a/../b":                  PathBad,
		"/a/..;x/b":                PathBad,
		"/a/./b":                   PathBad,
		`/a\b`:                     PathBad,
		"/a./b":                    PathBad,
		"/a /b":                    PathBad,
		"/a/b.":                    PathBad,
		"/a\x00b":                  PathBad,
		"/a\tb":                    PathBad,
		"/a\x7fb":                  PathBad,
		"/;x":                      PathBad,
		"/;x/a":                    PathBad,
		"/a;x./b":                  PathBad,
		"/private;x /y":            PathBad,
		"/\u00e9t\u00e9/caf\u00e9": PathOK,
	} {
		if got := CheckPath(path); got != want {
			t.Errorf("CheckPath(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestWithoutParams(t *testing.T) {
	for path, want := range map[string]string{
		"/a;b/c":                        "/a/c",
		"/private;jsessionid=abc/admin": "/private/admin",
		"/a/b;x=1;y=2":                  "/a/b",
		"/a/b/":                         "/a/b/",
	} {
		if got := WithoutParams(path); got != want {
			t.Errorf("WithoutParams(%q) = %q, want %q", path, got, want)
		}
	}
}

// FuzzCheckPath: a path the gateway does not refuse has no spelling that
// an upstream could resolve to another resource than the one routed: no
// dot segment, no backslash (raw or %5C), no control character, no
// segment ending in '.' or a space; and a ';' (raw or %3B) is always
// reported, for the route to allow or refuse.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "/..", "/a/.", "a", "/a//b", "/.x",
		"/private;x/y", "/private;/y", "/private;jsessionid=abc/admin", "/private./x", "/private%20/x",
		"/private /x", `/private\x`, "/PRIVATE/x", "/a/b.", "/a\x00b", "/a;x", "/;x", "/a/..;/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		verdict := CheckPath(p)
		if verdict == PathBad {
			return
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("%q accepted without a leading slash", p)
		}
		if strings.Contains(p, ";") != (verdict == PathParams) {
			t.Fatalf("%q: verdict %d, but ';' in it is %v", p, verdict, strings.Contains(p, ";"))
		}
		for i := 0; i < len(p); i++ {
			if c := p[i]; c == '\\' || c < 0x20 || c == 0x7f {
				t.Fatalf("%q accepted with byte %#x", p, c)
			}
		}
		for _, seg := range strings.Split(p, "/")[1:] {
			name, _, _ := strings.Cut(seg, ";")
			if name == "." || name == ".." {
				t.Fatalf("%q accepted with a dot segment", p)
			}
			if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") || strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
				t.Fatalf("%q accepted with a segment ending in a dot or a space", p)
			}
		}
		if verdict == PathParams {
			// What a servlet container resolves is what the route is
			// chosen by, and it is canonical too.
			if w := WithoutParams(p); strings.Contains(w, ";") || CheckPath(w) != PathOK {
				t.Fatalf("%q without its parameters is %q, not a clean path", p, w)
			}
		}
	})
}

// FuzzCheckPathCanonical: a path the gateway accepts is canonical —
// resolving its dot segments and merging its slashes changes nothing but
// a trailing slash — and "//", "..;" and "..\" never pass.
func FuzzCheckPathCanonical(f *testing.F) {
	for _, s := range []string{"/", "/a/b/", "//a", "/a/../b", "/a/..;/b", "/a/..\\b", "/a;x/b", "/...", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) == PathBad {
			return
		}
		want := pathpkg.Clean(p)
		if got := strings.TrimSuffix(p, "/"); got != want && p != "/" {
			t.Fatalf("checkPath accepted %q, which resolves to %q", p, want)
		}
		for _, bad := range []string{"/..;", "/.;", "/..\\", "\\..\\", "\\../"} {
			if strings.Contains(p+"/", bad) {
				t.Fatalf("checkPath accepted %q", p)
			}
		}
	})
}
