package auth

import "testing"

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
