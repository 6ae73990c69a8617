package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// A jwt or any route without an audience accepted tokens the issuer minted
// for any other API (issue 9, finding 8). The CLI now refuses one, says
// why, and takes --any-audience for the operator who means it; a stored
// route from before the rule is held by the gateway (503, and logged)
// until it is mended, without holding back the other routes, and its
// requests never fall through to a public catch-all.
func TestRoutesNeedAnAudienceOrSayAnyAudience(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	n := startInitialised(t, testConfig(t, t.TempDir(), ""), testenv.NewClock(time.Now().UTC()), logs)
	up := newUpstream(t, "app")
	n.cli("routes", "create", "--name", "root", "--path", "/", "--upstream", up.URL, "--policy", "public")

	out, err := n.tryCLI("routes", "create", "--name", "orders", "--path", "/orders", "--upstream", up.URL, "--policy", "jwt")
	if err == nil || !strings.Contains(err.Error(), "any_audience: true") || !strings.Contains(err.Error(), "another API") {
		t.Fatalf("a jwt route without an audience: %v\n%s", err, out)
	}

	var r struct {
		AnyAudience           bool `json:"any_audience"`
		AllowPathParams       bool `json:"allow_path_params"`
		CaseInsensitive       bool `json:"case_insensitive"`
		ForwardMethodOverride bool `json:"forward_method_override"`
	}
	n.cliJSON(&r, "routes", "create", "--name", "legacy", "--path", "/legacy", "--upstream", up.URL, "--policy", "any",
		"--any-audience", "--allow-path-params", "--case-insensitive", "--forward-method-override")
	if !r.AnyAudience || !r.AllowPathParams || !r.CaseInsensitive || !r.ForwardMethodOverride {
		t.Fatalf("routes create printed %+v", r)
	}
	table := n.cli("routes", "get", "legacy")
	for _, want := range []string{"any audience", "path params", "case insensitive", "forward method override"} {
		if !strings.Contains(table, want) {
			t.Errorf("routes get does not show %q:\n%s", want, table)
		}
	}
	if out, err := n.tryCLI("routes", "create", "--name", "shadow", "--path", "/LEGACY", "--upstream", up.URL, "--policy", "public"); err == nil || !strings.Contains(err.Error(), "only by case") {
		t.Fatalf("a prefix that differs only by case: %v\n%s", err, out)
	}

	// A route stored by an older version, without an audience.
	old := &auth.Route{Name: "old", PathPrefix: "/old", Upstreams: []string{up.URL}, Policy: auth.PolicyJWT,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	if err := n.main.Store.CreateRoute(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if err := n.main.ReloadRoutes(context.Background()); err != nil {
		t.Fatalf("a stored route that breaks the new rule held back the table: %v", err)
	}
	if !strings.Contains(logs.String(), "breaks a rule of this version") {
		t.Fatalf("the left-out route is not logged:\n%s", logs.String())
	}
	gw := n.main.GatewayURL()
	before := len(up.seen)
	if got := gwGet(t, gw+"/old/x", nil); got.status != http.StatusServiceUnavailable {
		t.Fatalf("the route without an audience: %d %s, want 503", got.status, got.body)
	}
	if len(up.seen) != before {
		t.Fatal("the held route's request reached the catch-all's upstream")
	}
	if got := gwGet(t, gw+"/LEGACY/x", nil); got.status != http.StatusUnauthorized {
		t.Fatalf("the other routes are not served: %d %s", got.status, got.body)
	}
	n.cli("routes", "update", "old", "--audience", "https://old.example.test")
	if got := gwGet(t, gw+"/old/x", nil); got.status != http.StatusUnauthorized {
		t.Fatalf("the mended route is not served: %d %s", got.status, got.body)
	}
}
