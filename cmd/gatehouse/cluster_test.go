package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// startPostgresPair initialises one PostgreSQL database (the test's own
// schema) and starts two nodes on it with one server secret and one
// issuer, as a cluster behind a load balancer; both CLIs hold the admin
// key.
func startPostgresPair(t *testing.T, shared ...func(*config.Config)) (a, b *node, clk *testenv.Clock) {
	t.Helper()
	var edit func(*config.Config)
	if len(shared) > 0 {
		edit = shared[0]
	}
	cfgA, cfgB, clk := clusterConfigs(t, edit)
	_, adminKey, err := initialize(context.Background(), cfgA, NewLogger(cfgA, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	a = startNode(t, cfgA, clk, &testenv.SyncBuffer{})
	b = startNode(t, cfgB, clk, &testenv.SyncBuffer{}) // started second: it loads A's signing keys
	a.env["GATEHOUSE_ADMIN_KEY"], b.env["GATEHOUSE_ADMIN_KEY"] = adminKey, adminKey
	return a, b, clk
}

// clusterConfigs returns the configurations of two nodes of one cluster
// on a PostgreSQL schema of the test's own: one server secret, one issuer,
// each its own data folder, and the clock they share. shared, when set,
// changes the settings both have before the second is copied.
func clusterConfigs(t *testing.T, shared func(*config.Config)) (a, b config.Config, clk *testenv.Clock) {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	clk = testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	a = testConfig(t, t.TempDir(), pgDSN(t))
	a.Secret = secret
	a.OAuth.Issuer = "http://127.0.0.1:1" // one issuer for the cluster, whatever node answers
	if shared != nil {
		shared(&a)
	}
	b = a
	b.DataDir = t.TempDir()
	return a, b, clk
}

// TestOAuthAcrossNodes runs two nodes on one PostgreSQL database, as a
// cluster does, and checks that the authorization server is one server:
// a token issued by one node is active at the other, a revocation at one
// is seen by the other (its gateway included), a route created through one
// is served by the other's gateway, both publish the same JWKS, and a signing-key
// rotation on one leaves every token verifiable on both.
func TestOAuthAcrossNodes(t *testing.T) {
	a, b, clk := startPostgresPair(t)

	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	a.cliJSON(&client, "clients", "create", "--name", "orders", "--grant-types", "client_credentials",
		"--scopes", "orders:read", "--audience", "https://orders.example.test")
	post := func(n *node, path string, form url.Values) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, n.main.URL()+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(client.ClientID, client.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s on %s: %d %s", path, n.main.URL(), resp.StatusCode, body)
		}
		m := map[string]any{}
		json.Unmarshal(body, &m)
		return m
	}
	token := func(n *node) string {
		return post(n, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}})["access_token"].(string)
	}
	active := func(n *node, tok string) bool {
		return post(n, "/oauth2/introspect", url.Values{"token": {tok}})["active"] == true
	}
	kid := func(tok string) string {
		h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var hdr struct{ Kid string }
		json.Unmarshal(h, &hdr)
		return hdr.Kid
	}

	fromB := token(b)
	if !active(a, fromB) {
		t.Fatal("a token issued by node B is not active at node A")
	}
	// The gateway: a route created through node A is served by node B.
	orders := newUpstream(t, "orders")
	a.cli("routes", "create", "--name", "orders", "--path", "/orders", "--upstream", orders.URL, "--policy", "jwt", "--scopes", "orders:read", "--any-audience")
	waitFor(t, "node B to serve the route created on node A", func() bool {
		return gwGet(t, b.main.GatewayURL()+"/orders", bearer(fromB)).status == http.StatusOK
	})
	post(a, "/oauth2/revoke", url.Values{"token": {fromB}})
	if active(b, fromB) {
		t.Fatal("node B still finds active a token revoked at node A")
	}
	// Node B's gateway hears of it through NOTIFY (and polls every second).
	waitFor(t, "node B's gateway to refuse a token revoked on node A", func() bool {
		return gwGet(t, b.main.GatewayURL()+"/orders", bearer(fromB)).status == http.StatusUnauthorized
	})

	_, jwksA := a.get("/.well-known/jwks.json")
	_, jwksB := b.get("/.well-known/jwks.json")
	if jwksA != jwksB {
		t.Fatalf("the nodes publish different key sets:\n%s\n%s", jwksA, jwksB)
	}

	before := token(b)
	clk.Add(7 * time.Minute) // the next key has been published long enough; "before" lives 10 minutes
	var rotated struct {
		KID string `json:"kid"`
	}
	a.cliJSON(&rotated, "signing-keys", "rotate")
	if err := b.main.Signing.Reload(context.Background()); err != nil { // what B's background loop does every 30s
		t.Fatal(err)
	}
	after := token(b)
	if kid(after) != rotated.KID || kid(before) == rotated.KID {
		t.Fatalf("node B signs with %s after the rotation to %s (before: %s)", kid(after), rotated.KID, kid(before))
	}
	for _, n := range []*node{a, b} {
		if !active(n, before) || !active(n, after) {
			t.Fatalf("after the rotation, node %s refuses a token signed before or after it", n.main.URL())
		}
	}
}
