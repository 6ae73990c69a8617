package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

// TestDPoPReplayAcrossNodes runs two nodes on one PostgreSQL schema (no
// Redis: the store is the shared replay cache) behind one issuer and one
// gateway host (gateway.public_url), as a load balancer would present
// them. A DPoP proof accepted by node A — at the token endpoint, and at the gateway — is
// replayed to node B, and refused there; the token it got is DPoP-bound
// and refused as Bearer by both gateways.
func TestDPoPReplayAcrossNodes(t *testing.T) {
	const host = "api.example.test"
	a, b, clk := startPostgresPair(t, func(c *config.Config) { c.Gateway.PublicURL = "https://" + host })
	issuer := a.main.Config.OAuth.Issuer
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	a.cliJSON(&client, "clients", "create", "--name", "orders", "--grant-types", "client_credentials",
		"--scopes", "orders:read", "--audience", "https://orders.example.test")

	dc := dpoptest.MustNew(jose.ES256)
	dc.Now = clk.Now
	tokenURL := issuer + "/oauth2/token"
	postToken := func(n *node, proof string) (int, map[string]any) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}
		req, _ := http.NewRequest(http.MethodPost, n.main.URL()+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		req.SetBasicAuth(client.ClientID, client.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	proof := dc.Proof("POST", tokenURL, dpoptest.Options{})
	status, m := postToken(a, proof)
	if status != http.StatusOK || m["token_type"] != "DPoP" {
		t.Fatalf("node A: %d %v", status, m)
	}
	tok := m["access_token"].(string)
	if status, m := postToken(b, proof); status != http.StatusBadRequest || m["error"] != "invalid_dpop_proof" {
		t.Fatalf("the proof replayed to node B: %d %v", status, m)
	}
	if status, m := postToken(b, dc.Proof("POST", tokenURL, dpoptest.Options{})); status != http.StatusOK {
		t.Fatalf("a fresh proof at node B: %d %v", status, m)
	}

	// The gateways, behind one host name.
	orders := newUpstream(t, "orders")
	a.cli("routes", "create", "--name", "orders", "--path", "/orders", "--upstream", orders.URL, "--policy", "jwt", "--scopes", "orders:read", "--any-audience")
	htu := "https://" + host + "/orders"
	gw := func(n *node, scheme, proof string) gwResponse {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.main.GatewayURL()+"/orders", nil)
		req.Host = host
		req.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return gwResponse{resp.StatusCode, resp.Header, string(body)}
	}
	waitFor(t, "node B to serve the route created on node A", func() bool {
		return gw(b, "DPoP", dc.Proof("GET", htu, dpoptest.Options{AccessToken: tok})).status == http.StatusOK
	})
	used := dc.Proof("GET", htu, dpoptest.Options{AccessToken: tok})
	if r := gw(a, "DPoP", used); r.status != http.StatusOK {
		t.Fatalf("gateway A: %d %s", r.status, r.body)
	}
	r := gw(b, "DPoP", used)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Fatalf("the proof replayed to gateway B: %d %v", r.status, r.header)
	}
	for _, n := range []*node{a, b} {
		r := gw(n, "Bearer", "")
		if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `DPoP `) {
			t.Fatalf("the bound token as Bearer: %d %v", r.status, r.header)
		}
	}
}
