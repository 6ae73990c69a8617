package main

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
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

// A route stored before keys had to be fetched over https (or from a
// loopback host) is held like any other that breaks a rule of this
// version: its requests get 503, the other routes are served. It used to
// pass the node's check and then fail the gateway's table, so that no
// stored route change applied anywhere until it was deleted.
func TestStoredProviderOverPlainHTTPIsHeld(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	n := startInitialised(t, testConfig(t, t.TempDir(), ""), testenv.NewClock(time.Now().UTC()), logs)
	up := newUpstream(t, "app")
	n.cli("routes", "create", "--name", "root", "--path", "/", "--upstream", up.URL, "--policy", "public")

	old := &auth.Route{Name: "partner", PathPrefix: "/partner", Upstreams: []string{up.URL}, Policy: auth.PolicyJWT,
		Audience: "api", Issuer: "http://idp.example.test", Algorithms: []string{"RS256"},
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := n.main.Store.CreateRoute(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if err := n.main.ReloadRoutes(context.Background()); err != nil {
		t.Fatalf("a stored provider over plain http held back the table: %v", err)
	}
	if !strings.Contains(logs.String(), "breaks a rule of this version") {
		t.Fatalf("the held route is not logged:\n%s", logs.String())
	}
	gw := n.main.GatewayURL()
	if got := gwGet(t, gw+"/partner/x", nil); got.status != http.StatusServiceUnavailable {
		t.Fatalf("the held route: %d %s, want 503", got.status, got.body)
	}
	n.cli("routes", "create", "--name", "later", "--path", "/later", "--upstream", up.URL, "--policy", "public")
	if got := gwGet(t, gw+"/later/x", nil); got.status != http.StatusOK {
		t.Fatalf("a route created after it is not served: %d %s", got.status, got.body)
	}
}
