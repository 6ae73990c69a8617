package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// runningClock is the wall clock moved forward by a skew: the device flow
// polls in real time (x/oauth2 sleeps its interval), while the test makes
// tokens expire on the server without waiting.
type runningClock struct{ skew atomic.Int64 }

func (c *runningClock) Now() time.Time      { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *runningClock) Add(d time.Duration) { c.skew.Add(int64(d)) }

// loginEnv is a person's shell: the server, a configuration folder of its
// own, and no admin key.
type loginEnv struct {
	t      *testing.T
	server string
	env    map[string]string
	dir    string // XDG_CONFIG_HOME
}

func newLoginEnv(t *testing.T, server string) *loginEnv {
	dir := t.TempDir()
	return &loginEnv{t: t, server: server, dir: dir, env: map[string]string{
		"GATEHOUSE_SERVER": server,
		"XDG_CONFIG_HOME":  dir,
		"HOME":             t.TempDir(),
		"AppData":          dir, // Windows
	}}
}

func (l *loginEnv) credentialsFile() string {
	p, err := credentialsPath(func(k string) string { return l.env[k] })
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

// run runs a gatehouse command in-process in the person's shell and
// returns its output and exit status.
func (l *loginEnv) run(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut, func(k string) string { return l.env[k] })
	root.SetContext(context.Background())
	code = execute(root, args, &errOut)
	return out.String(), errOut.String(), code
}

var verificationURL = regexp.MustCompile(`(http\S+/device\?user_code=\S+)`)

// login runs `gatehouse login` and approves it on the /device page as
// username, in a browser of its own; it returns login's output.
func (l *loginEnv) login(username, password string) string {
	l.t.Helper()
	stderr := &testenv.SyncBuffer{}
	var stdout bytes.Buffer
	root := newRootCommand(&stdout, stderr, func(k string) string { return l.env[k] })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root.SetContext(ctx)
	done := make(chan int, 1)
	go func() { done <- execute(root, []string{"login", "--server", l.server}, stderr) }()

	var link string
	for deadline := time.Now().Add(30 * time.Second); link == "" && time.Now().Before(deadline); {
		if m := verificationURL.FindStringSubmatch(stderr.String()); m != nil {
			link = m[1]
			break
		}
		select {
		case code := <-done:
			l.t.Fatalf("login ended (%d) before showing a link:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if link == "" {
		l.t.Fatalf("login showed no verification link:\n%s", stderr.String())
	}
	u, _ := url.Parse(link)
	userCode := u.Query().Get("user_code")
	if !strings.Contains(stderr.String(), "shows the code "+userCode) {
		l.t.Errorf("login does not tell the code to check:\n%s", stderr.String())
	}

	ua := newUserAgent(l.t, nil)
	page := ua.follow(link, "\x00")
	if page.status != http.StatusOK || !strings.Contains(page.body, `name="user_code"`) {
		l.t.Fatalf("the verification page: %d\n%s", page.status, page.body)
	}
	page = ua.submit(page, url.Values{"user_code": {userCode}}, "\x00")
	if !strings.Contains(page.body, `name="password"`) {
		l.t.Fatalf("expected the sign-in form, got %d\n%s", page.status, page.body)
	}
	page = ua.submit(page, url.Values{"username": {username}, "password": {password}}, "\x00")
	if !strings.Contains(page.body, `name="decision"`) || !strings.Contains(page.body, admin.CLIClientName) {
		l.t.Fatalf("expected the consent form naming the CLI, got %d\n%s", page.status, page.body)
	}
	page = ua.submit(page, url.Values{"decision": {"allow"}}, "\x00")
	if page.status != http.StatusOK {
		l.t.Fatalf("approving: %d\n%s", page.status, page.body)
	}
	select {
	case code := <-done:
		if code != exitOK {
			l.t.Fatalf("login exited %d:\n%s%s", code, stdout.String(), stderr.String())
		}
	case <-ctx.Done():
		l.t.Fatalf("login did not finish after the approval:\n%s", stderr.String())
	}
	return stdout.String()
}

func (l *loginEnv) credentials() *credentials {
	l.t.Helper()
	c, err := loadCredentials(l.credentialsFile())
	if err != nil || c == nil {
		l.t.Fatalf("credentials: %+v, %v", c, err)
	}
	return c
}

func TestLoginDogfoodsTheDeviceFlowSQLite(t *testing.T) { loginDogfood(t, "") }

func TestLoginDogfoodsTheDeviceFlowPostgres(t *testing.T) { loginDogfood(t, pgDSN(t)) }

// loginDogfood is `gatehouse login` from end to end, on a real server with
// the store db ("" for SQLite): the device flow approved on /device over
// HTTP, the admin commands with the sign-in, refreshes, logout, and the
// users the admin API refuses.
func loginDogfood(t *testing.T, db string) {
	cfg := testConfig(t, t.TempDir(), db)
	cfg.OAuth.Device.Interval = time.Second
	clk := &runningClock{}
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	initArgs := []string{"init", "--data", cfg.DataDir}
	if db != "" {
		initArgs = append(initArgs, "--db", db)
	}
	(&node{t: t, env: map[string]string{}}).cliJSON(&initOut, initArgs...)
	logs := &testenv.SyncBuffer{}
	m := &Main{Config: cfg, Logger: NewLogger(cfg, logs), Now: clk.Now}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	server := m.URL()
	op := &node{t: t, main: m, logs: logs, env: map[string]string{"GATEHOUSE_SERVER": server, "GATEHOUSE_ADMIN_KEY": initOut.AdminKey}}
	const password = "a long and unguessable passphrase"
	users := map[string]string{}
	for _, u := range []struct{ name, role string }{{"ada", "admin"}, {"dev", "developer"}, {"bob", "admin"}} {
		var created struct {
			ID string `json:"id"`
		}
		op.cliStdin(password+"\n", &created, "users", "create", "--username", u.name, "--role", u.role, "--owners", "billing", "--password-stdin")
		users[u.name] = created.ID
	}

	// The CLI's client is there, as the interface says.
	var cliClient struct {
		GrantTypes   []string `json:"grant_types"`
		RedirectURIs []string `json:"redirect_uris"`
		Public       bool     `json:"public"`
		Audiences    []string `json:"audiences"`
	}
	op.cliJSON(&cliClient, "clients", "get", admin.CLIClientID)
	if !cliClient.Public || len(cliClient.RedirectURIs) != 0 || !slices.Equal(cliClient.GrantTypes, []string{auth.GrantRefreshToken, auth.GrantDeviceCode}) ||
		strings.Join(cliClient.Audiences, ",") != server+"/admin" {
		t.Fatalf("the CLI's client: %+v", cliClient)
	}

	ada := newLoginEnv(t, server)
	out := ada.login("ada", password)
	path := ada.credentialsFile()
	if !strings.Contains(out, "Signed in to "+server) || !strings.Contains(out, path) {
		t.Errorf("login printed %q", out)
	}
	if want := filepath.Join(ada.dir, "gatehouse", "credentials.json"); path != want {
		t.Errorf("credentials at %s, want %s", path, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v", err, st.Mode())
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("credentials folder: %v, mode %v", err, st.Mode())
	}
	first := ada.credentials()
	if first.Server != server || first.RefreshToken == "" || first.AccessToken == "" || first.Expiry.IsZero() ||
		first.ClientID != admin.CLIClientID || !strings.HasSuffix(first.RevocationEndpoint, "/oauth2/revoke") {
		t.Fatalf("credentials %+v", first)
	}

	// The admin commands work with the sign-in, and the audit log names
	// the user.
	stdout, stderr, code := ada.run("clients", "list", "--json")
	if code != exitOK || !strings.Contains(stdout, admin.CLIClientID) {
		t.Fatalf("clients list with the sign-in: %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = ada.run("keys", "create", "--owner", "billing", "--name", "ada's key", "--json")
	var key struct {
		ID string `json:"id"`
	}
	if code != exitOK || json.Unmarshal([]byte(stdout), &key) != nil {
		t.Fatalf("keys create with the sign-in: %d\n%s%s", code, stdout, stderr)
	}
	events, _, err := m.Store.ListAuditEvents(context.Background(), auth.AuditFilter{KeyID: key.ID, Limit: 5})
	if err != nil || len(events) != 1 || events[0].Actor != users["ada"] {
		t.Fatalf("audit of the key: %+v, %v; want the actor %s", events, err, users["ada"])
	}

	t.Run("an explicit admin key wins over the sign-in", func(t *testing.T) {
		ada.env["GATEHOUSE_ADMIN_KEY"] = "sk_live_not_a_key"
		defer delete(ada.env, "GATEHOUSE_ADMIN_KEY")
		if _, stderr, code := ada.run("clients", "list"); code != exitAuth {
			t.Fatalf("with a bad admin key: %d %s", code, stderr)
		}
	})

	t.Run("the sign-in is never sent to another server", func(t *testing.T) {
		var seen atomic.Value
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Store(r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusUnauthorized)
		}))
		defer other.Close()
		ada.run("clients", "list", "--server", other.URL)
		if got, _ := seen.Load().(string); strings.Contains(got, first.AccessToken[:20]) || strings.TrimSpace(got) != "Bearer" {
			t.Fatalf("another server got Authorization %q", got)
		}
	})

	t.Run("an access token past its expiry is refreshed and the rotated refresh token saved", func(t *testing.T) {
		c := ada.credentials()
		c.Expiry = time.Now().Add(-time.Minute)
		if err := c.save(path); err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := ada.run("clients", "list"); code != exitOK {
			t.Fatalf("after expiry: %d %s", code, stderr)
		}
		got := ada.credentials()
		if got.AccessToken == c.AccessToken || got.RefreshToken == c.RefreshToken || !got.Expiry.After(time.Now()) {
			t.Fatalf("not refreshed: %+v", got)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("after the refresh: %v, mode %v", err, st.Mode())
		}
	})

	t.Run("a token the server finds expired before the CLI does is refreshed too", func(t *testing.T) {
		before := ada.credentials()
		clk.Add(11 * time.Minute) // past the access token's 10 minutes, on the server only
		resp := rawAdmin(t, server, before.AccessToken)
		if resp != http.StatusUnauthorized {
			t.Fatalf("the old token on the server: %d", resp)
		}
		if _, stderr, code := ada.run("clients", "list"); code != exitOK {
			t.Fatalf("with a token the server finds expired: %d %s", code, stderr)
		}
		if got := ada.credentials(); got.AccessToken == before.AccessToken || got.RefreshToken == before.RefreshToken {
			t.Fatal("not refreshed")
		}
	})

	t.Run("parallel commands refresh once and keep the sign-in", func(t *testing.T) {
		c := ada.credentials()
		c.Expiry = time.Now().Add(-time.Minute)
		if err := c.save(path); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		codes := make([]int, 4)
		for i := range codes {
			wg.Go(func() { _, _, codes[i] = ada.run("clients", "list") })
		}
		wg.Wait()
		for i, code := range codes {
			if code != exitOK {
				t.Errorf("command %d: exit %d", i, code)
			}
		}
		if _, stderr, code := ada.run("clients", "list"); code != exitOK {
			t.Fatalf("after the parallel refresh: %d %s", code, stderr)
		}
	})

	t.Run("a file others may read is not used", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(path, 0o600)
		if _, stderr, code := ada.run("clients", "list"); code == exitOK || !strings.Contains(stderr, "open to other users") {
			t.Fatalf("with a readable file: %d %s", code, stderr)
		}
	})

	// logout revokes the sign-in: its tokens stop working at once.
	last := ada.credentials()
	stdout, stderr, code = ada.run("logout")
	if code != exitOK || !strings.Contains(stdout, "Signed out of "+server) {
		t.Fatalf("logout: %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the credentials file after logout: %v", err)
	}
	if status := rawAdmin(t, server, last.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("the access token after logout: %d", status)
	}
	conf := oauth2.Config{ClientID: admin.CLIClientID, Endpoint: oauth2.Endpoint{TokenURL: last.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: last.RefreshToken}).Token(); err == nil {
		t.Fatal("the refresh token still works after logout")
	}
	stdout, _, code = ada.run("logout")
	if code != exitOK || !strings.Contains(stdout, "Not signed in") {
		t.Fatalf("second logout: %d %s", code, stdout)
	}
	if _, stderr, code := ada.run("clients", "list"); code != exitAuth || !strings.Contains(stderr, "gatehouse login") {
		t.Fatalf("after logout: %d %s", code, stderr)
	}

	t.Run("a new sign-in revokes the one it replaces", func(t *testing.T) {
		again := newLoginEnv(t, server)
		again.login("ada", password)
		old := again.credentials()
		again.login("ada", password)
		if status := rawAdmin(t, server, old.AccessToken); status != http.StatusUnauthorized {
			t.Fatalf("the replaced sign-in's access token: %d", status)
		}
		if _, stderr, code := again.run("clients", "list"); code != exitOK {
			t.Fatalf("with the new sign-in: %d %s", code, stderr)
		}
	})

	t.Run("a developer's sign-in is refused by the admin API", func(t *testing.T) {
		dev := newLoginEnv(t, server)
		dev.login("dev", password)
		_, stderr, code := dev.run("keys", "list")
		if code != exitAuth || !strings.Contains(stderr, "403") || !strings.Contains(stderr, "for administrators") {
			t.Fatalf("a developer's keys list: %d %s", code, stderr)
		}
	})

	t.Run("a user disabled after signing in is refused, and the refresh too", func(t *testing.T) {
		bob := newLoginEnv(t, server)
		bob.login("bob", password)
		if _, stderr, code := bob.run("clients", "list"); code != exitOK {
			t.Fatalf("before: %d %s", code, stderr)
		}
		op.cli("users", "disable", users["bob"])
		_, stderr, code := bob.run("clients", "list")
		if code != exitAuth || !strings.Contains(stderr, "sign-in to "+server+" has ended") {
			t.Fatalf("a disabled user's clients list: %d %s", code, stderr)
		}
	})

	// Nothing secret in the logs.
	m.Close()
	for _, s := range []string{first.AccessToken, first.RefreshToken, last.RefreshToken, password} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs hold a secret (%.12s...)", s)
		}
	}
}

// rawAdmin sends GET /admin/v1/clients with a bearer token and returns the
// status.
func rawAdmin(t *testing.T, server, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, server+"/admin/v1/clients", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
