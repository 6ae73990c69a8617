package main

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestRegistrationTokenCommands: clients registration-token create --json
// prints exactly {"token": "..."}, the token registers one client at the
// node's /oauth2/register (RFC 7591), and list and revoke follow it.
func TestRegistrationTokenCommands(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	n := startInitialised(t, cfg, clk, &testenv.SyncBuffer{})

	out := n.cli("clients", "registration-token", "create", "--uses", "1", "--expires", "1h", "--json")
	if !regexp.MustCompile(`^\{"token": "gate_iat_[0-9A-Za-z]+"\}\n$`).MatchString(out) {
		t.Fatalf("registration-token create --json printed %q", out)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}

	register := func() *http.Response {
		body := `{"client_name":"CLI app","application_type":"native","token_endpoint_auth_method":"none",
			"redirect_uris":["http://127.0.0.1/cb"],"scope":"openid"}`
		req, _ := http.NewRequest(http.MethodPost, n.main.URL()+"/oauth2/register", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := register()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"registration_access_token":"gate_rat_`) {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	if resp := register(); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a single-use token registered twice: %d", resp.StatusCode)
	}

	table := n.cli("clients", "registration-token", "list")
	if !strings.Contains(table, "used_up") || !strings.Contains(table, "1/1") || strings.Contains(table, tok.Token) {
		t.Fatalf("registration-token list:\n%s", table)
	}
	human := n.cli("clients", "registration-token", "create", "--uses", "3")
	id := regexp.MustCompile(`iat_[0-9a-v]+`).FindString(human)
	if id == "" || !strings.Contains(human, "gate_iat_") {
		t.Fatalf("registration-token create:\n%s", human)
	}
	if out := n.cli("clients", "registration-token", "revoke", id); !strings.Contains(out, "Revoked "+id) {
		t.Fatalf("revoke: %s", out)
	}
	if out, err := n.tryCLI("clients", "registration-token", "create", "--uses", "0"); err == nil {
		t.Fatalf("--uses 0 accepted: %s", out)
	}
}
