package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// usageLifecycle verifies a key at the verify endpoint and through an
// api_key route, gets tokens at the token endpoint and uses one on a jwt
// route, then reads GET /admin/v1/usage through the CLI: by key, owner,
// client, user and route, every verification is there with its outcome.
func usageLifecycle(t *testing.T, cfg config.Config) {
	orders := newUpstream(t, "orders")
	inventory := newUpstream(t, "inventory")
	const api = "https://api.example.test"
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routesFile, fmt.Appendf(nil, `routes:
  - name: orders
    path: /orders
    upstreams: [%s]
    policy: jwt
    scopes: [orders:read]
    audience: %s
  - name: inventory
    path: /inventory
    upstreams: [%s]
    policy: api_key
    scopes: [inventory:read]
`, orders.URL, api, inventory.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Gateway.RoutesFile = routesFile
	cfg.FlushInterval = 100 * time.Millisecond
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)) // x/oauth2 reads the wall clock
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})
	issuer, gw := n.main.URL(), n.main.GatewayURL()

	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	n.cliJSON(&key, "keys", "create", "--owner", "billing-service", "--name", "billing", "--scopes", "inventory:read")
	if v := n.verify(key.Key, "inventory:read"); v.Code != "VALID" {
		t.Fatalf("verify = %+v", v)
	}
	if v := n.verify(key.Key, "admin"); v.Code != "INSUFFICIENT_SCOPE" {
		t.Fatalf("verify = %+v", v)
	}
	for range 2 {
		if r := gwGet(t, gw+"/inventory/items", apiKey(key.Key)); r.status != http.StatusOK {
			t.Fatalf("inventory with the key: %d %s", r.status, r.body)
		}
	}

	const callback = "http://127.0.0.1:9999/callback"
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	n.cliJSON(&client, "clients", "create", "--name", "Shop", "--redirect-uri", callback,
		"--grant-types", "authorization_code,client_credentials", "--scopes", "openid orders:read", "--audience", api)
	const password = "a long and unguessable passphrase"
	var user struct {
		ID string `json:"id"`
	}
	n.cliStdin(password+"\n", &user, "users", "create", "--username", "ada", "--password-stdin")
	conf := &oauth2.Config{
		ClientID: client.ClientID, ClientSecret: client.ClientSecret, RedirectURL: callback,
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token"},
		Scopes:   []string{"openid", "orders:read"},
	}
	ua := newUserAgent(t, http.DefaultTransport)
	code, verifier := ua.authorizationCode(conf, "ada", password, oauth2.SetAuthURLParam("resource", api))
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if status := postForm(t, http.DefaultClient, issuer+"/oauth2/token", client.ClientID, client.ClientSecret,
		url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}, nil); status != http.StatusOK {
		t.Fatalf("client credentials: %d", status)
	}
	if r := gwGet(t, gw+"/orders/1", bearer(tok.AccessToken)); r.status != http.StatusOK {
		t.Fatalf("orders with the user's token: %d %s", r.status, r.body)
	}
	if r := gwGet(t, gw+"/orders/1", bearer(tok.AccessToken+"x")); r.status != http.StatusUnauthorized {
		t.Fatalf("orders with a forged token: %d %s", r.status, r.body)
	}
	// A spent code presented again: invalid_grant, and the tokens it gave
	// are revoked, which the gateway counts as such.
	if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
		t.Fatal("a spent code was exchanged again")
	}
	if r := gwGet(t, gw+"/orders/1", bearer(tok.AccessToken)); r.status != http.StatusUnauthorized {
		t.Fatalf("orders with a revoked token: %d %s", r.status, r.body)
	}

	totals := func(args ...string) map[string]int64 {
		var u admin.Usage
		n.cliJSON(&u, append([]string{"usage", "--since", "1h"}, args...)...)
		return u.Totals
	}
	for _, tc := range []struct {
		args []string
		want map[string]int64
	}{
		{[]string{"--key", key.ID}, map[string]int64{"VALID": 3, "INSUFFICIENT_SCOPE": 1}},
		{[]string{"--owner", "billing-service"}, map[string]int64{"VALID": 3, "INSUFFICIENT_SCOPE": 1}},
		{[]string{"--route", "inventory"}, map[string]int64{"VALID": 2}},
		{[]string{"--route", "orders"}, map[string]int64{"VALID": 1, "INVALID": 1, "REVOKED": 1}},
		{[]string{"--client", client.ClientID}, map[string]int64{"VALID": 3, "invalid_grant": 1}},
		{[]string{"--user", user.ID}, map[string]int64{"VALID": 2}},
	} {
		// The counts arrive with the next flush.
		var got map[string]int64
		waitFor(t, fmt.Sprintf("usage %v = %v", tc.args, tc.want), func() bool {
			got = totals(tc.args...)
			return sameTotals(got, tc.want)
		})
	}
}

func sameTotals(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestUsageLifecycleSQLite(t *testing.T) {
	usageLifecycle(t, testConfig(t, t.TempDir(), ""))
}

func TestUsageLifecyclePostgres(t *testing.T) {
	usageLifecycle(t, testConfig(t, t.TempDir(), pgDSN(t)))
}

// TestSIGTERMFlushesUsage stops a real server process with SIGTERM an
// instant after it verified keys: with an hour between flushes, only the
// final flush can have written the counts.
func TestSIGTERMFlushesUsage(t *testing.T) {
	p := startProcess(t, "GATEHOUSE_FLUSH_INTERVAL=1h")
	c := admin.NewClient(p.url, p.adminKey, http.DefaultClient)
	ck, err := c.CreateKey(context.Background(), admin.CreateKeyRequest{Owner: "term", Name: "t", Scopes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	const verifications = 7
	for range verifications {
		if _, err := c.VerifyKey(context.Background(), admin.VerifyRequest{Key: ck.Secret, Scopes: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	db, err := sqlite.Open(context.Background(), p.cfg.SQLitePath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	pts, err := db.QueryUsage(context.Background(), auth.UsageFilter{
		UsageSubject: auth.UsageSubject{KeyID: ck.ID},
		Granularity:  auth.GranularityDay, From: now.Add(-48 * time.Hour), To: now.Add(48 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	var valid int64
	for _, pt := range pts {
		if pt.Outcome == "VALID" {
			valid += pt.Count
		}
	}
	if valid != verifications {
		t.Errorf("stored %d VALID verifications after SIGTERM, want %d: %v", valid, verifications, pts)
	}
}
