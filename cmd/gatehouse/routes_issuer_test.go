package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// routes update --issuer "" turns a route for another provider back into
// one for Gatehouse's tokens (its jwks_uri and algorithms go too), and a
// provider over plain http off loopback is refused before it is stored.
func TestRoutesUpdateClearsTheIssuerAndRefusesPlainHTTPProviders(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

	type route struct {
		Issuer     string   `json:"issuer"`
		JWKSURI    string   `json:"jwks_uri"`
		Algorithms []string `json:"algorithms"`
		Scopes     []string `json:"scopes"`
	}
	var r route
	n.cliJSON(&r, "routes", "create", "--name", "partner", "--upstream", "http://127.0.0.1:9001", "--policy", "jwt",
		"--scopes", "a", "--audience", "api", "--issuer", "https://idp.example.test", "--jwks-uri", "https://idp.example.test/keys")
	if want := (route{"https://idp.example.test", "https://idp.example.test/keys", []string{"RS256"}, []string{"a"}}); !reflect.DeepEqual(r, want) {
		t.Fatalf("created %+v, want %+v", r, want)
	}
	n.cliJSON(&r, "routes", "update", "partner", "--issuer", "")
	if want := (route{"", "", []string{}, []string{"a"}}); !reflect.DeepEqual(r, want) {
		t.Fatalf("after --issuer \"\": %+v, want %+v", r, want)
	}
	for _, bad := range [][]string{
		{"routes", "update", "partner", "--issuer", "http://idp.example.test"},
		{"routes", "create", "--name", "x", "--upstream", "http://a", "--policy", "jwt", "--issuer", "http://idp.example.test"},
	} {
		if out, err := n.tryCLI(bad...); err == nil {
			t.Fatalf("%v succeeded:\n%s", bad, out)
		}
	}
}
