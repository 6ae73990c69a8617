package routefile

import (
	"strings"
	"testing"
)

// A provider whose keys the gateway would not fetch (http off loopback) is
// refused by the parser, with the route and field named, rather than by
// the gateway's table later with a less precise error (and, at start, a
// server that does not come up for a reason the file check missed).
func TestParseRefusesAProviderTheGatewayWouldNotFetch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"issuer over http", "    issuer: http://idp.example.com\n", []string{`routes[0] "bad"`, "issuer", "https"}},
		{"jwks_uri over http", "    issuer: https://idp.example.com\n    jwks_uri: http://idp.example.com/keys\n", []string{`routes[0] "bad"`, "jwks_uri", "https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "routes:\n  - name: bad\n    upstreams: [http://h]\n    policy: jwt\n    audience: api\n" + tc.extra
			routes, err := Parse([]byte(doc))
			if err == nil {
				t.Fatalf("accepted: %+v", routes)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	ok := "routes:\n  - name: ok\n    upstreams: [http://h]\n    policy: jwt\n    audience: api\n    issuer: http://127.0.0.1:8080\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("a loopback issuer over http: %v", err)
	}
}
