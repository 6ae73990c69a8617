package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// devStart is what one serve --dev start printed.
type devStart struct {
	url, key, dashboard, password string
	lines                         []string
}

// serveDev runs serve --dev on dir until it has printed everything it
// prints at start, and returns that with a function that stops it.
func serveDev(t *testing.T, dir string) (devStart, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCommand(pw, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"serve", "--dev", "--data", dir, "--addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx); pw.Close() }()
	var s devStart
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		s.lines = append(s.lines, line)
		if u, ok := strings.CutPrefix(line, "Gatehouse is running at "); ok {
			s.url = u
		}
		if strings.HasPrefix(line, "sk_test_") {
			s.key = line
		}
		if u, ok := strings.CutPrefix(line, "Dashboard: "); ok {
			s.dashboard, _, _ = strings.Cut(u, " ")
		}
		if rest, ok := strings.CutPrefix(line, "sign in as admin with password "); ok {
			s.password, _, _ = strings.Cut(rest, " ")
		}
		if strings.HasPrefix(line, "Gateway is running at ") {
			break // the last line printed at start
		}
	}
	go io.Copy(io.Discard, pr)
	return s, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after SIGINT", err)
		}
	}
}

// dashboardClient reads the dashboard's client through the admin API.
func dashboardClient(t *testing.T, serverURL, adminKey string) (redirects, postLogout []string) {
	t.Helper()
	n := &node{t: t, env: map[string]string{"GATEHOUSE_SERVER": serverURL, "GATEHOUSE_ADMIN_KEY": adminKey}}
	var c struct {
		Public                 bool     `json:"public"`
		AuthMethod             string   `json:"token_endpoint_auth_method"`
		RedirectURIs           []string `json:"redirect_uris"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
		GrantTypes             []string `json:"grant_types"`
	}
	n.cliJSON(&c, "clients", "get", dashboard.ClientID)
	if !slices.Equal(c.GrantTypes, []string{"authorization_code"}) {
		t.Fatalf("dashboard client: %+v", c)
	}
	return c.RedirectURIs, c.PostLogoutRedirectURIs
}

// signInToDashboard signs in as admin through the login page, for the
// dashboard's client, and returns the last response: a redirect to the
// dashboard's callback with a code (which it redeems), or a page.
func signInToDashboard(t *testing.T, serverURL, password string) response {
	t.Helper()
	callback := serverURL + dashboard.CallbackPath
	conf := oauth2.Config{
		ClientID: dashboard.ClientID, RedirectURL: callback, Scopes: strings.Fields(dashboard.Scopes),
		Endpoint: oauth2.Endpoint{AuthURL: serverURL + "/oauth2/authorize", TokenURL: serverURL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	ua := newUserAgent(t, http.DefaultTransport)
	verifier := oauth2.GenerateVerifier()
	r := ua.follow(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)), callback)
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("expected the login page, got %d:\n%s", r.status, r.body)
	}
	r = ua.submit(r, url.Values{"username": {"admin"}, "password": {password}}, callback)
	if loc := r.header.Get("Location"); strings.HasPrefix(loc, callback+"?") {
		code, _ := url.Parse(loc)
		tok, err := conf.Exchange(context.Background(), code.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil || tok.Extra("id_token") == nil {
			t.Fatalf("exchange: %v", err)
		}
	}
	return r
}

// TestServeDevLeadsToASignedInDashboard is a newcomer's first minute: the
// first start prints the dashboard's URL and a password for admin, and
// that password signs in through the login page, with no consent page,
// back to the dashboard's callback with a code its client can redeem.
func TestServeDevLeadsToASignedInDashboard(t *testing.T) {
	dir := t.TempDir()
	first, stop := serveDev(t, dir)
	if first.url == "" || first.key == "" || first.dashboard != first.url+"/dashboard/" || len(first.password) < 20 {
		t.Fatalf("first start printed:\n%s", strings.Join(first.lines, "\n"))
	}
	callback := first.url + dashboard.CallbackPath
	redirects, postLogout := dashboardClient(t, first.url, first.key)
	if !slices.Equal(redirects, []string{callback}) || !slices.Equal(postLogout, []string{first.url + dashboard.SignedOutPath}) {
		t.Fatalf("dashboard client redirects %v, post-logout %v", redirects, postLogout)
	}

	if r := signInToDashboard(t, first.url, first.password); !strings.HasPrefix(r.header.Get("Location"), callback+"?") {
		t.Fatalf("signing in as admin did not return to the dashboard: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	var users struct {
		Items []struct{ Username, Role string }
	}
	(&node{t: t, env: map[string]string{"GATEHOUSE_SERVER": first.url, "GATEHOUSE_ADMIN_KEY": first.key}}).cliJSON(&users, "users", "list")
	if len(users.Items) != 1 || users.Items[0].Username != "admin" || users.Items[0].Role != "admin" {
		t.Fatalf("users after the first start: %+v", users.Items)
	}
	if r := signInToDashboard(t, first.url, first.password+"x"); r.header.Get("Location") != "" {
		t.Fatalf("a wrong password was let in: %q", r.header.Get("Location"))
	}
	stop()

	// A later start (on another port) prints the URL only, and moves the
	// client's redirect URI to it.
	second, stop2 := serveDev(t, dir)
	defer stop2()
	all := strings.Join(second.lines, "\n")
	if second.dashboard != second.url+"/dashboard/" || second.password != "" || strings.Contains(all, first.password) || strings.Contains(all, "password") {
		t.Fatalf("second start printed:\n%s", all)
	}
	if redirects, _ := dashboardClient(t, second.url, first.key); !slices.Equal(redirects, []string{second.url + dashboard.CallbackPath}) {
		t.Fatalf("after a restart on %s the redirect URIs are %v", second.url, redirects)
	}
}

// A user admin that exists already is left alone on the first start.
func TestDevAdminLeavesAnExistingAdminAlone(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	var u struct{ ID string }
	n.cliStdin("a long and unguessable passphrase\n", &u, "users", "create", "--username", "admin", "--password-stdin")
	if pw, err := createDevAdmin(context.Background(), n.main.Accounts); err != nil || pw != "" {
		t.Fatalf("createDevAdmin: %q, %v", pw, err)
	}
	if _, err := n.main.Accounts.Authenticate(context.Background(), "admin", "a long and unguessable passphrase", "127.0.0.1", nil); err != nil {
		t.Fatalf("the existing admin's password no longer works: %v", err)
	}
}

func TestInitRegistersTheDashboardClient(t *testing.T) {
	dir := t.TempDir()
	n := &node{t: t, env: map[string]string{"GATEHOUSE_ISSUER": "https://auth.example.test"}}
	var res map[string]string
	n.cliJSON(&res, "init", "--data", dir)
	if res["dashboard_url"] != "https://auth.example.test/dashboard/" {
		t.Fatalf("init printed %v", res)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.GetClient(context.Background(), dashboard.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Public || c.AuthMethod != auth.AuthMethodNone || c.Owner != "" ||
		!slices.Equal(c.RedirectURIs, []string{"https://auth.example.test/dashboard/callback"}) ||
		!slices.Equal(c.PostLogoutRedirectURIs, []string{"https://auth.example.test/dashboard/signed-out"}) ||
		!slices.Equal(c.Scopes, []string{"openid", "profile"}) {
		t.Fatalf("dashboard client %+v", c)
	}

	// The text output says where the dashboard is and how to get an admin.
	out := (&node{t: t, env: map[string]string{}}).cli("init", "--data", t.TempDir())
	for _, want := range []string{"http://127.0.0.1:8080/dashboard/", "gatehouse users create --username U --role admin --password-stdin"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
}

// An issuer the client cannot have (plain HTTP off loopback, which --dev
// allows) leaves the dashboard without sign-in, with a warning, but does
// not stop the node.
func TestDashboardClientOnAnUnfitIssuer(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hasher, err := secret.NewHasher([]byte(strings.Repeat("k", secret.MinServerSecretLength)))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := client.New(client.Config{Store: db, Hasher: hasher})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	if err := ensureDashboardClient(context.Background(), reg, "http://gatehouse.internal:8080", slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "oauth.issuer") {
		t.Fatalf("no warning: %s", logs.String())
	}
}

// A first start that fails (its port taken) still prints the password
// created with the first key, which then signs in on the next start.
func TestServeDevPrintsThePasswordEvenIfThePortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	var out bytes.Buffer
	cmd := newRootCommand(&out, io.Discard, func(string) string { return "" })
	cmd.SetArgs([]string{"serve", "--dev", "--data", dir, "--addr", ln.Addr().String(), "--gateway-addr", "127.0.0.1:0"})
	if err := cmd.ExecuteContext(context.Background()); err == nil {
		t.Fatal("serve started on a port in use")
	}
	_, rest, _ := strings.Cut(out.String(), "The user admin was created with the password ")
	password, _, _ := strings.Cut(rest, " ")
	if password == "" {
		t.Fatalf("no password printed:\n%s", out.String())
	}
	next, stop := serveDev(t, dir)
	defer stop()
	if next.password != "" {
		t.Fatalf("the next start printed a password again:\n%s", strings.Join(next.lines, "\n"))
	}
	if r := signInToDashboard(t, next.url, password); !strings.HasPrefix(r.header.Get("Location"), next.url+dashboard.CallbackPath+"?") {
		t.Fatalf("the printed password does not sign in: %d %q", r.status, r.header.Get("Location"))
	}
}

// TestDashboardClientCannotBeChangedFromTheCLI: the dashboard's client
// skips consent, so the node's registry refuses to change it for anyone
// but its own start; the CLI reports that as refused permission.
func TestDashboardClientCannotBeChangedFromTheCLI(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	redirects, _ := dashboardClient(t, n.main.URL(), n.env["GATEHOUSE_ADMIN_KEY"])
	for _, args := range [][]string{
		{"clients", "delete", dashboard.ClientID},
		{"clients", "update", dashboard.ClientID, "--redirect-uri", "https://evil.example/cb"},
		{"clients", "rotate-secret", dashboard.ClientID},
	} {
		code, _, errOut := runCLI(t, n.env, args...)
		if code != exitAuth || !strings.Contains(errOut, "managed by Gatehouse itself") || strings.Contains(errOut, "lacks the admin scope") {
			t.Errorf("%s: exit %d, stderr %q; want %d saying Gatehouse manages it", strings.Join(args, " "), code, errOut, exitAuth)
		}
	}
	if after, _ := dashboardClient(t, n.main.URL(), n.env["GATEHOUSE_ADMIN_KEY"]); !slices.Equal(after, redirects) {
		t.Errorf("redirect URIs %v, want %v", after, redirects)
	}
}
