package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestRoutesCommands runs every routes command against a real node, in
// table and JSON form.
func TestRoutesCommands(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	clk := testenv.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

	type limit struct {
		Rate  float64 `json:"rate"`
		Burst int     `json:"burst"`
	}
	type route struct {
		Name            string   `json:"name"`
		Hosts           []string `json:"hosts"`
		Path            string   `json:"path"`
		Methods         []string `json:"methods"`
		Upstreams       []string `json:"upstreams"`
		StripPrefix     bool     `json:"strip_prefix"`
		Timeout         string   `json:"timeout"`
		Policy          string   `json:"policy"`
		Scopes          []string `json:"scopes"`
		Audience        string   `json:"audience"`
		Issuer          string   `json:"issuer"`
		JWKSURI         string   `json:"jwks_uri"`
		Algorithms      []string `json:"algorithms"`
		RateLimit       limit    `json:"rate_limit"`
		ClientRateLimit limit    `json:"client_rate_limit"`
		InternalJWT     bool     `json:"internal_jwt"`
		StripHeaders    []string `json:"strip_headers"`
	}
	var r route
	n.cliJSON(&r, "routes", "create", "--name", "orders", "--path", "/orders", "--upstream", "http://127.0.0.1:9001",
		"--upstream", "http://127.0.0.1:9002/", "--policy", "jwt", "--scopes", "orders:read,orders:write",
		"--audience", "https://api.example.test", "--strip-prefix", "--host", "API.example.test", "--method", "get",
		"--method", "POST", "--timeout", "10s", "--rate-limit", "100:200", "--client-rate-limit", "0.5:2",
		"--internal-jwt", "--issuer", "https://idp.example.test", "--jwks-uri", "https://idp.example.test/keys",
		"--algorithms", "RS256,ES256", "--strip-header", "cookie")
	want := route{
		Name: "orders", Hosts: []string{"api.example.test"}, Path: "/orders", Methods: []string{"GET", "POST"},
		Upstreams: []string{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}, StripPrefix: true, Timeout: "10s",
		Policy: "jwt", Scopes: []string{"orders:read", "orders:write"}, Audience: "https://api.example.test",
		Issuer: "https://idp.example.test", JWKSURI: "https://idp.example.test/keys", Algorithms: []string{"ES256", "RS256"},
		RateLimit: limit{100, 200}, ClientRateLimit: limit{0.5, 2}, InternalJWT: true, StripHeaders: []string{"Cookie"},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("routes create =\n%+v\nwant\n%+v", r, want)
	}

	table := n.cli("routes", "get", "orders")
	for _, s := range []string{"orders", "http://127.0.0.1:9002", "100/s, burst 200", "api.example.test"} {
		if !strings.Contains(table, s) {
			t.Fatalf("routes get lacks %q:\n%s", s, table)
		}
	}
	if out := n.cli("routes", "list"); !strings.Contains(out, "NAME") || !strings.Contains(out, "orders") || !strings.Contains(out, "/orders") {
		t.Fatalf("routes list:\n%s", out)
	}
	var list struct {
		Items []route `json:"items"`
	}
	n.cliJSON(&list, "routes", "list")
	if len(list.Items) != 1 || !reflect.DeepEqual(list.Items[0], want) {
		t.Fatalf("routes list --json = %+v", list)
	}

	// Only the flags given change.
	var u route
	n.cliJSON(&u, "routes", "update", "orders", "--policy", "any", "--timeout", "0", "--rate-limit", "0:0",
		"--strip-prefix=false", "--host", "*.example.test", "--host", "api.example.test")
	want.Policy, want.Timeout, want.RateLimit, want.StripPrefix = "any", "", limit{}, false
	want.Hosts = []string{"*.example.test", "api.example.test"}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("routes update =\n%+v\nwant\n%+v", u, want)
	}

	for _, bad := range [][]string{
		{"routes", "create", "--name", "x", "--upstream", "ftp://a", "--policy", "jwt"},
		{"routes", "create", "--name", "x", "--upstream", "http://a", "--policy", "nobody"},
		{"routes", "create", "--name", "orders", "--upstream", "http://a", "--policy", "jwt"},
		{"routes", "create", "--name", "x", "--upstream", "http://a", "--policy", "jwt", "--rate-limit", "100"},
		{"routes", "create", "--name", "x", "--upstream", "http://a", "--policy", "jwt", "--client-rate-limit", "1:-1"},
		{"routes", "create", "--name", "x", "--policy", "jwt"},
		{"routes", "update", "orders"},
		{"routes", "update", "orders", "--upstream", "http://a", "--policy", "public"},
		{"routes", "update", "nope", "--policy", "any"},
		{"routes", "get", "nope"},
	} {
		if out, err := n.tryCLI(bad...); err == nil {
			t.Fatalf("%v succeeded:\n%s", bad, out)
		}
	}
	var still route
	n.cliJSON(&still, "routes", "get", "orders")
	if !reflect.DeepEqual(still, want) {
		t.Fatalf("a refused command changed the route: %+v", still)
	}

	n.cli("routes", "delete", "orders")
	if _, err := n.tryCLI("routes", "get", "orders"); err == nil {
		t.Fatal("a deleted route is still there")
	}
	if out := n.cli("routes", "list"); strings.Contains(out, "orders") {
		t.Fatalf("routes list after delete:\n%s", out)
	}
}

func TestParseRateLimit(t *testing.T) {
	for in, ok := range map[string]bool{
		"100:200": true, "0.5:1": true, "0:0": true,
		"100": false, ":": false, "a:1": false, "1:b": false, "-1:1": false, "1:-1": false,
		"NaN:1": false, "Inf:1": false, "1:1.5": false,
	} {
		_, err := parseRateLimit(in)
		if (err == nil) != ok {
			t.Errorf("parseRateLimit(%q) = %v, want ok %v", in, err, ok)
		}
	}
}

// FuzzParseRateLimit checks that parseRateLimit never panics and accepts
// only finite, non-negative limits.
func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"100:200", "0.5:1", "1e308:1", "NaN:1", ":", "1:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseRateLimit(s)
		if err != nil {
			return
		}
		if l.Rate < 0 || l.Burst < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) {
			t.Fatalf("parseRateLimit(%q) = %+v", s, l)
		}
	})
}
