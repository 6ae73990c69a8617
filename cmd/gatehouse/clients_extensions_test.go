package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestClientsCreateTakesTheExtensionFlags registers clients with the flags
// the modern OAuth extensions added, and checks that an update given other
// flags keeps them.
func TestClientsCreateTakesTheExtensionFlags(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	clk := testenv.NewClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

	type client struct {
		ClientID           string   `json:"client_id"`
		Name               string   `json:"name"`
		GrantTypes         []string `json:"grant_types"`
		RedirectURIs       []string `json:"redirect_uris"`
		Public             bool     `json:"public"`
		RequireDPoP        bool     `json:"dpop_bound_access_tokens"`
		RequirePAR         bool     `json:"require_pushed_authorization_requests"`
		LogoutURI          string   `json:"backchannel_logout_uri"`
		ApplicationType    string   `json:"application_type"`
		ExchangeIssuers    []string `json:"exchange_issuers"`
		AllowImpersonation bool     `json:"allow_impersonation"`
	}
	var web client
	n.cliJSON(&web, "clients", "create", "--name", "Bank", "--redirect-uri", "https://bank.example.test/cb",
		"--require-dpop", "--require-par", "--backchannel-logout-uri", "https://bank.example.test/logout")
	if !web.RequireDPoP || !web.RequirePAR || web.LogoutURI != "https://bank.example.test/logout" || web.ApplicationType != "web" {
		t.Fatalf("clients create = %+v", web)
	}
	var renamed client
	n.cliJSON(&renamed, "clients", "update", web.ClientID, "--name", "Bank v2")
	if renamed.Name != "Bank v2" || !renamed.RequireDPoP || !renamed.RequirePAR || renamed.LogoutURI != web.LogoutURI {
		t.Fatalf("clients update dropped the extension settings: %+v", renamed)
	}
	var relaxed client
	n.cliJSON(&relaxed, "clients", "update", web.ClientID, "--require-dpop=false", "--backchannel-logout-uri", "")
	if relaxed.RequireDPoP || !relaxed.RequirePAR || relaxed.LogoutURI != "" {
		t.Fatalf("clients update --require-dpop=false = %+v", relaxed)
	}
	if out := n.cli("clients", "get", web.ClientID); !strings.Contains(out, "pushed requests") {
		t.Fatalf("clients get does not show the PAR requirement:\n%s", out)
	}

	var device client
	n.cliJSON(&device, "clients", "create", "--name", "TV", "--public",
		"--grant-types", "urn:ietf:params:oauth:grant-type:device_code,refresh_token", "--application-type", "native")
	if !device.Public || len(device.RedirectURIs) != 0 || len(device.GrantTypes) != 2 || device.ApplicationType != "native" {
		t.Fatalf("device client = %+v", device)
	}

	var svc client
	n.cliJSON(&svc, "clients", "create", "--name", "Orders", "--grant-types", "urn:ietf:params:oauth:grant-type:token-exchange,client_credentials",
		"--audience", "https://inventory.example.test", "--exchange-issuer", "https://idp.example.test", "--allow-impersonation")
	if len(svc.ExchangeIssuers) != 1 || !svc.AllowImpersonation {
		t.Fatalf("exchange client = %+v", svc)
	}

	// Extension settings follow the registry's rules.
	if _, err := n.tryCLI("clients", "create", "--name", "Bad", "--grant-types", "client_credentials", "--require-par"); err == nil {
		t.Fatal("a client without the code grant was allowed --require-par")
	}
	if _, err := n.tryCLI("clients", "create", "--name", "Bad", "--redirect-uri", "https://x.example.test/cb",
		"--backchannel-logout-uri", "http://x.example.test/logout"); err == nil {
		t.Fatal("an http back-channel logout URI off loopback was accepted")
	}
}
