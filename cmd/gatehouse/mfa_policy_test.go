package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestClientsMFAFlag: clients create and update take --mfa; an update
// given other flags keeps it, --mfa "" goes back to the server's policy,
// and a policy the registry does not know is refused.
func TestClientsMFAFlag(t *testing.T) {
	n := startInitialised(t, testConfig(t, t.TempDir(), ""), newClock(), &testenv.SyncBuffer{})
	type client struct {
		ClientID string `json:"client_id"`
		Name     string `json:"name"`
		MFA      string `json:"mfa"`
	}
	var web client
	n.cliJSON(&web, "clients", "create", "--name", "Bank", "--redirect-uri", "https://bank.example.test/cb", "--mfa", "required")
	if web.MFA != "required" {
		t.Fatalf("clients create --mfa required = %+v", web)
	}
	var renamed client
	n.cliJSON(&renamed, "clients", "update", web.ClientID, "--name", "Bank v2")
	if renamed.Name != "Bank v2" || renamed.MFA != "required" {
		t.Fatalf("clients update dropped the policy: %+v", renamed)
	}
	if out := n.cli("clients", "get", web.ClientID); !strings.Contains(out, "second factor") || !strings.Contains(out, "required") {
		t.Fatalf("clients get does not show the policy:\n%s", out)
	}
	var optional client
	n.cliJSON(&optional, "clients", "update", web.ClientID, "--mfa", "optional")
	if optional.MFA != "optional" {
		t.Fatalf("clients update --mfa optional = %+v", optional)
	}
	var server client
	n.cliJSON(&server, "clients", "update", web.ClientID, "--mfa", "")
	if server.MFA != "" {
		t.Fatalf("clients update --mfa \"\" = %+v", server)
	}
	if out, err := n.tryCLI("clients", "create", "--name", "Bad", "--redirect-uri", "https://x.example.test/cb", "--mfa", "always"); err == nil || !strings.Contains(err.Error()+out, "MFA policy") {
		t.Fatalf("--mfa always: %v\n%s", err, out)
	}
	if out, err := n.tryCLI("clients", "create", "--name", "Svc", "--grant-types", "client_credentials", "--mfa", "required"); err == nil || !strings.Contains(err.Error()+out, "sign users in") {
		t.Fatalf("--mfa on a client without users: %v\n%s", err, out)
	}
}

// TestRoutesRequireMFAFlag: routes create and update take --require-mfa,
// and the running gateway answers a one-factor token (here a client's own,
// which has no sign-in at all) and an API key with RFC 9470's challenge
// until the requirement is lifted.
func TestRoutesRequireMFAFlag(t *testing.T) {
	n := startInitialised(t, testConfig(t, t.TempDir(), ""), newClock(), &testenv.SyncBuffer{})
	svc := newUpstream(t, "svc")
	out := n.cli("routes", "create", "--name", "pay", "--path", "/pay", "--upstream", svc.URL, "--policy", "any",
		"--audience", "https://pay.example.test", "--require-mfa")
	if !strings.Contains(out, "second factor") || !strings.Contains(out, "required") {
		t.Errorf("routes create does not show the requirement:\n%s", out)
	}
	var route struct {
		RequireMFA bool `json:"require_mfa"`
	}
	n.cliJSON(&route, "routes", "update", "pay", "--scopes", "pay")
	if !route.RequireMFA {
		t.Fatal("routes update dropped require_mfa")
	}
	var cl clientCredentials
	n.cliJSON(&cl, "clients", "create", "--name", "svc", "--grant-types", "client_credentials", "--scopes", "pay",
		"--audience", "https://pay.example.test")
	status, answer := cl.oauthPost(t, n, "/oauth2/token", map[string][]string{"grant_type": {"client_credentials"}, "scope": {"pay"}})
	tok, _ := answer["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("client credentials: %d %v", status, answer)
	}
	var key struct {
		Key string `json:"key"`
	}
	n.cliJSON(&key, "keys", "create", "--owner", "svc", "--scopes", "pay")
	gw := n.main.GatewayURL()
	const challenge = `Bearer realm="gatehouse", error="insufficient_user_authentication", error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa"`
	for name, h := range map[string]http.Header{"a client's token": bearer(tok), "an API key": apiKey(key.Key)} {
		r := gwGet(t, gw+"/pay/x", h)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != challenge ||
			!strings.Contains(r.body, "insufficient_user_authentication") {
			t.Errorf("%s: %d %q %s", name, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
	}

	if out, err := n.tryCLI("routes", "update", "pay", "--policy", "api_key", "--audience", ""); err == nil || !strings.Contains(err.Error()+out, "require_mfa") {
		t.Errorf("to api_key with require_mfa: %v\n%s", err, out)
	}
	if out, err := n.tryCLI("routes", "create", "--name", "keys", "--path", "/keys", "--upstream", svc.URL, "--policy", "api_key", "--require-mfa"); err == nil || !strings.Contains(err.Error()+out, "require_mfa") {
		t.Errorf("--require-mfa on an api_key route: %v\n%s", err, out)
	}
	n.cli("routes", "update", "pay", "--require-mfa=false")
	for name, h := range map[string]http.Header{"a client's token": bearer(tok), "an API key": apiKey(key.Key)} {
		if r := gwGet(t, gw+"/pay/x", h); r.status != http.StatusOK {
			t.Errorf("%s after the requirement was lifted: %d %s", name, r.status, r.body)
		}
	}
}
