package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestKeysCreditsAndNetworksFromTheCLI: keys create, get, update and
// verify with credits and allowed networks, on a real server.
func TestKeysCreditsAndNetworksFromTheCLI(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	var k admin.CreatedKey
	n.cliJSON(&k, "keys", "create", "--owner", "svc", "--credits", "2", "--refill", "1000/month",
		"--allowed-ips", "203.0.113.0/24,2001:db8::/32")
	if k.Credits == nil || k.Credits.Remaining != 2 || k.Credits.Refill == nil || k.Credits.Refill.Interval != "month" ||
		strings.Join(k.AllowedIPs, " ") != "203.0.113.0/24 2001:db8::/32" {
		t.Fatalf("created key: credits %+v, allowed_ips %v", k.Credits, k.AllowedIPs)
	}
	if out := n.cli("keys", "get", k.ID); !strings.Contains(out, "2 left, refilled to 1000 each month (UTC)") ||
		!strings.Contains(out, "203.0.113.0/24,2001:db8::/32") {
		t.Errorf("keys get does not show credits and networks:\n%s", out)
	}
	var v admin.VerifyResponse
	n.cliJSON(&v, "keys", "verify", k.Secret, "--ip", "203.0.113.4", "--cost", "2")
	if !v.Valid || v.Credits == nil || v.Credits.Remaining != 0 {
		t.Fatalf("verify = %+v, want valid with 0 credits left", v)
	}
	if _, err := n.tryCLI("keys", "verify", k.Secret, "--ip", "203.0.113.4"); err == nil {
		t.Fatal("verify of a spent key succeeded")
	}
	var u admin.Key
	n.cliJSON(&u, "keys", "update", k.ID, "--credits", "5", "--refill", "none", "--allowed-ips", "", "--name", "renamed", "--rate", "10/s")
	if u.Credits == nil || u.Credits.Remaining != 5 || u.Credits.Refill != nil || len(u.AllowedIPs) != 0 || u.Name != "renamed" || u.RateLimit == nil {
		t.Fatalf("updated key %+v", u)
	}
	v = admin.VerifyResponse{}
	n.cliJSON(&v, "keys", "verify", k.Secret)
	if !v.Valid || v.Credits.Remaining != 4 {
		t.Fatalf("verify after the update = %+v, want valid with 4 left", v)
	}
	u = admin.Key{}
	n.cliJSON(&u, "keys", "update", k.ID, "--credits", "none", "--expires", "30d")
	if u.Credits != nil || u.ExpiresAt.IsZero() {
		t.Fatalf("key after removing the credits: %+v", u)
	}
	var events admin.AuditEventList
	n.cliJSON(&events, "audit", "--key", k.ID, "--type", "key.updated")
	if len(events.Items) != 2 {
		t.Fatalf("key.updated events %+v, want 2", events.Items)
	}
	// Bad values: refused by the server, nothing changed.
	for _, args := range [][]string{
		{"keys", "update", k.ID, "--credits", "-5"},
		{"keys", "update", k.ID, "--allowed-ips", "10.0.0.1/8"},
		{"keys", "create", "--owner", "x", "--credits", "1000000000001"},
	} {
		if out, err := n.tryCLI(args...); err == nil {
			t.Errorf("gatehouse %s succeeded:\n%s", strings.Join(args, " "), out)
		}
	}
	var got admin.Key
	n.cliJSON(&got, "keys", "get", k.ID)
	if got.Credits != nil || len(got.AllowedIPs) != 0 {
		t.Errorf("a refused update changed the key: %+v", got)
	}
}

func TestKeysCreditFlagsSpelling(t *testing.T) {
	url, bodies := captureServer(t)
	env := map[string]string{"GATEHOUSE_SERVER": url}
	for _, tc := range []struct {
		args   []string
		member string
		want   string
	}{
		{[]string{"keys", "create", "--owner", "o", "--credits", "1000", "--refill", "1000/month", "--json"}, "credits", `{"refill":{"amount":1000,"interval":"month"},"remaining":1000}`},
		{[]string{"keys", "create", "--owner", "o", "--credits", "7", "--refill", "50/d", "--json"}, "credits", `{"refill":{"amount":50,"interval":"day"},"remaining":7}`},
		{[]string{"keys", "create", "--owner", "o", "--allowed-ips", "203.0.113.0/24, 2001:db8::/32", "--json"}, "allowed_ips", `["203.0.113.0/24","2001:db8::/32"]`},
		{[]string{"keys", "update", "key_1", "--credits", "5", "--json"}, "credits", `{"remaining":5}`},
		{[]string{"keys", "update", "key_1", "--refill", "none", "--json"}, "credits", `{"refill":null}`},
		{[]string{"keys", "update", "key_1", "--credits", "none", "--json"}, "credits", `null`},
		{[]string{"keys", "update", "key_1", "--allowed-ips", "", "--json"}, "allowed_ips", `[]`},
		{[]string{"keys", "update", "key_1", "--expires", "never", "--json"}, "expires_at", `null`},
	} {
		// The capture server answers 201, which keys update does not
		// expect: only the body sent matters here.
		before := len(bodies())
		runCLI(t, env, tc.args...)
		all := bodies()
		if len(all) == before {
			t.Errorf("%s: sent nothing", strings.Join(tc.args, " "))
			continue
		}
		got, _ := json.Marshal(all[len(all)-1][tc.member])
		if string(got) != tc.want {
			t.Errorf("%s: sent %s %s, want %s", strings.Join(tc.args, " "), tc.member, got, tc.want)
		}
	}
	for _, args := range [][]string{
		{"keys", "create", "--owner", "o", "--refill", "10/day"},                     // refill without credits
		{"keys", "create", "--owner", "o", "--credits", "10", "--refill", "10/week"}, // bad interval
		{"keys", "create", "--owner", "o", "--credits", "ten"},
		{"keys", "update", "key_1", "--credits", "none", "--refill", "5/day"},
		{"keys", "update", "key_1", "--expires", "yesterday"},
	} {
		if code, _, _ := runCLI(t, env, args...); code != 64 && code != 2 {
			t.Errorf("%s: exit %d, want a usage error", strings.Join(args, " "), code)
		}
	}
}
