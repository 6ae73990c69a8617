package main

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// An admin created for production with `gatehouse users create --role
// admin` signs in to the dashboard on the node's main listener, through
// the login page, and lands signed in.
func TestTheDashboardSignsInAnAdminOnTheMainListener(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Dev = true // plain HTTP: cookies without Secure, which a client over http would not send back
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	var u struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	}
	n.cliStdin("a long passphrase for ops\n", &u, "users", "create", "--username", "ops", "--role", "admin", "--password-stdin")
	if u.Role != auth.RoleAdmin {
		t.Fatalf("created role %q", u.Role)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(n.main.URL() + "/dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/oauth2/login" {
		t.Fatalf("the dashboard led to %s, want the login page", resp.Request.URL)
	}
	form := url.Values{"username": {"ops"}, "password": {"a long passphrase for ops"}}
	for _, m := range hiddenRe.FindAllStringSubmatch(string(body), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, resp.Request.URL.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/dashboard/" || !strings.Contains(string(body), "ops") {
		t.Fatalf("after the login page: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
}

func TestATurnedOffDashboardIsNotFoundAndHasNoClient(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Dashboard.Disabled = true
	cfg.Secret = make([]byte, 32) // no init: init runs with its own configuration
	n := startNode(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	resp, err := http.Get(n.main.URL() + "/dashboard/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/dashboard/ with the dashboard off: %d, want 404", resp.StatusCode)
	}
	if _, err := n.main.Clients.Get(context.Background(), dashboard.ClientID); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Errorf("the dashboard's client with the dashboard off: %v, want none", err)
	}
	// Nor is its client first-party then: one left from when the
	// dashboard was on asks consent and can be deleted. The CLI's and the
	// account pages' stay.
	if got := n.main.firstPartyClients(); !slices.Equal(got, []string{admin.CLIClientID, oauth.AccountClientID}) {
		t.Errorf("first-party clients with the dashboard off: %v", got)
	}
}
