package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// runCLI runs a command line the way main does and returns its exit
// status, standard output and standard error.
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut, func(k string) string { return env[k] })
	code = execute(root, args, &errOut)
	return code, out.String(), errOut.String()
}

func TestUnknownSubcommandsFailWithASuggestion(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, nil, "keys", "creat")
	if code != exitUsage {
		t.Errorf("keys creat: exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errOut, `unknown command "creat" for "gatehouse keys"; did you mean create?`) {
		t.Errorf("keys creat: stderr %q lacks the suggestion", errOut)
	}
	if out != "" {
		t.Errorf("keys creat printed %q on stdout (help?)", out)
	}

	// Every group, at every depth, refuses what it does not know.
	var groups []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() {
			groups = append(groups, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand(io.Discard, io.Discard, func(string) string { return "" }))
	if len(groups) < 8 { // root, keys, clients, routes, users, signing-keys, admin-key, completion
		t.Fatalf("found %d command groups; the walk is broken", len(groups))
	}
	for _, g := range groups {
		path := strings.Fields(g.CommandPath())[1:]
		code, _, errOut := runCLI(t, nil, append(path, "no-such-command")...)
		if code != exitUsage || !strings.Contains(errOut, "unknown command") {
			t.Errorf("%s no-such-command: exit %d, stderr %q", g.CommandPath(), code, errOut)
		}
		// Without a subcommand a group still shows its help and succeeds.
		if code, out, _ := runCLI(t, nil, path...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%s: exit %d, output %q", g.CommandPath(), code, out)
		}
	}
}

func TestUsageErrorsHaveTheirOwnExitStatus(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"keys", "create"},                 // a required flag missing
		{"keys", "get"},                    // an argument missing
		{"keys", "list", "--no-such-flag"}, // an unknown flag
		{"keys", "create", "--owner", "a", "--expires", "soon"}, // a bad duration
		{"keys", "create", "--owner", "a", "--burst", "5"},      // burst without a rate
		{"routes", "update", "r", "--rate", "5/s", "--rate-limit", "5:5"},
		{"routes", "create", "--name", "r", "--upstream", "http://a", "--policy", "jwt", "--audience", "a", "--audience", "b"},
	} {
		code, _, errOut := runCLI(t, nil, args...)
		if code != exitUsage {
			t.Errorf("%s: exit %d (%s), want %d", strings.Join(args, " "), code, errOut, exitUsage)
		}
		if strings.Count(errOut, "gatehouse:") != 1 {
			t.Errorf("%s: stderr %q should name the program once", strings.Join(args, " "), errOut)
		}
	}
}

// problemServer answers every request with one problem document.
func problemServer(t *testing.T, status int, detail string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(admin.Problem{Title: http.StatusText(status), Status: status, Detail: detail})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestServerErrorsNameTheProgramOnceWithAHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status   int
		code     int
		hint     string
		wantLine string
	}{
		{401, exitAuth, "GATEHOUSE_ADMIN_KEY", "gatehouse: 401 Unauthorized: A valid admin API key is required."},
		// Both ways the 403 hint names must work: keys create needs --owner
		// (and an admin key), admin-key create the server's data.
		{403, exitAuth, "keys create --owner " + AdminOwner + " --scopes admin`; if none is left, run `gatehouse admin-key create` where the server's data", "gatehouse: 403 Forbidden: A valid admin API key is required."},
		{404, exitNotFound, "", "gatehouse: 404 Not Found: A valid admin API key is required."},
		{409, exitConflict, "", "gatehouse: 409 Conflict:"},
		{422, exitRejected, "", "gatehouse: 422 Unprocessable Entity:"},
		{500, exitFailure, "", "gatehouse: 500 Internal Server Error:"},
	} {
		env := map[string]string{"GATEHOUSE_SERVER": problemServer(t, tc.status, "A valid admin API key is required.")}
		code, out, errOut := runCLI(t, env, "keys", "list")
		if code != tc.code {
			t.Errorf("%d: exit %d, want %d", tc.status, code, tc.code)
		}
		if out != "" || !strings.HasPrefix(errOut, tc.wantLine) || strings.Count(errOut, "gatehouse:") != 1 {
			t.Errorf("%d: stdout %q, stderr %q; want one line starting %q", tc.status, out, errOut, tc.wantLine)
		}
		if !strings.Contains(errOut, tc.hint) {
			t.Errorf("%d: stderr %q lacks the hint %q", tc.status, errOut, tc.hint)
		}

		// With --json the same failure is a JSON object on stderr.
		code, out, errOut = runCLI(t, env, "keys", "list", "--json")
		var doc struct {
			Error struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Detail string `json:"detail"`
				Hint   string `json:"hint"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(errOut), &doc); err != nil {
			t.Fatalf("%d --json: stderr %q is not JSON: %v", tc.status, errOut, err)
		}
		if code != tc.code || out != "" || doc.Error.Status != tc.status || doc.Error.Detail != "A valid admin API key is required." {
			t.Errorf("%d --json: exit %d, stdout %q, error %+v", tc.status, code, out, doc.Error)
		}
	}
}

func TestConnectionRefusedAsksWhetherTheServerRuns(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	code, _, errOut := runCLI(t, map[string]string{"GATEHOUSE_SERVER": url}, "keys", "list")
	if code != exitFailure || !strings.Contains(errOut, "is the server running at "+url+"?") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, map[string]string{"GATEHOUSE_SERVER": url}, "routes", "list", "--json")
	if code != exitFailure || !json.Valid([]byte(errOut)) || !strings.Contains(errOut, `"hint"`) {
		t.Errorf("--json: exit %d, stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "gatehouse ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	var v version
	_, out, _ := runCLI(t, nil, "version", "--json")
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" {
		t.Errorf("version --json: %q, %v", out, err)
	}
}

// captureServer records the JSON bodies the CLI sends and answers 201 with
// an empty object.
func captureServer(t *testing.T) (url string, bodies func() []map[string]any) {
	t.Helper()
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		got = append(got, m)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []map[string]any { return got }
}

func TestOneSpellingOfRatesDurationsAndScopes(t *testing.T) {
	url, bodies := captureServer(t)
	env := map[string]string{"GATEHOUSE_SERVER": url}
	route := []string{"routes", "create", "--name", "r", "--upstream", "http://a", "--policy", "api_key", "--json"}
	for _, tc := range []struct {
		args   []string
		member string
		want   string
	}{
		{append(route, "--rate", "100/s", "--burst", "200"), "rate_limit", `{"burst":200,"rate":100}`},
		{append(route, "--rate", "6000/m"), "rate_limit", `{"burst":100,"rate":100}`},
		{append(route, "--rate", "0.5"), "rate_limit", `{"burst":1,"rate":0.5}`},
		{append(route, "--rate-limit", "100:200"), "rate_limit", `{"burst":200,"rate":100}`}, // the old spelling
		{append(route, "--client-rate", "5/s", "--client-burst", "10"), "client_rate_limit", `{"burst":10,"rate":5}`},
		{append(route, "--scopes", "a,b", "--scopes", "c d"), "scopes", `["a","b","c","d"]`},
		{append(route, "--timeout", "1d"), "timeout", `"24h0m0s"`},
		{[]string{"keys", "create", "--owner", "o", "--expires", "30d", "--json"}, "expires_in", `"720h0m0s"`},
		{[]string{"keys", "create", "--owner", "o", "--rotation-period", "90d", "--json"}, "rotation_period", `"2160h0m0s"`},
		{[]string{"keys", "create", "--owner", "o", "--scopes", "a", "--scopes", "b,c", "--json"}, "scopes", `["a","b","c"]`},
		{[]string{"keys", "create", "--owner", "o", "--rate", "50000/d", "--json"}, "rate_limit", `{"burst":0,"rate":0.5787037037037037}`},
		{[]string{"clients", "create", "--name", "c", "--scopes", "openid", "--scopes", "api:read api:write", "--json"}, "scopes", `["openid","api:read","api:write"]`},
		{[]string{"clients", "create", "--name", "c", "--refresh-token-ttl", "14d", "--json"}, "refresh_token_ttl", `"336h0m0s"`},
	} {
		code, _, errOut := runCLI(t, env, tc.args...)
		if code != 0 {
			t.Errorf("%s: exit %d: %s", strings.Join(tc.args, " "), code, errOut)
			continue
		}
		all := bodies()
		got, _ := json.Marshal(all[len(all)-1][tc.member])
		if string(got) != tc.want {
			t.Errorf("%s: sent %s %s, want %s", strings.Join(tc.args, " "), tc.member, got, tc.want)
		}
	}
}

func TestRotationColumn(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		key  admin.Key
		want string
	}{
		{admin.Key{Status: "rotating", RotatedTo: "key_new", ExpiresAt: at}, "rotating to key_new until 2026-12-07T04:00:00Z"},
		{admin.Key{Status: "expired", RotatedTo: "key_new", ExpiresAt: at}, "rotated to key_new"},
		{admin.Key{Status: "active", RotationDue: true, RotationDueAt: at}, "due since 2026-12-07T04:00:00Z"},
		{admin.Key{Status: "active", RotationDueAt: at}, "due 2026-12-07T04:00:00Z"},
		{admin.Key{Status: "active"}, "-"},
	} {
		if got := rotationState(tc.key); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestKeysListShowsARotation lists a key being rotated on a real server.
func TestKeysListShowsARotation(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	var k struct {
		ID string `json:"id"`
	}
	n.cliJSON(&k, "keys", "create", "--owner", "svc")
	n.cli("keys", "rotate", k.ID, "--grace", "1d")
	out := n.cli("keys", "list", "--owner", "svc")
	if !strings.Contains(out, "rotating to key_") || !strings.Contains(out, "until 20") {
		t.Errorf("keys list does not show the rotation:\n%s", out)
	}
}

// Every --scopes flag says that commas separate scopes, so a scope with a
// comma in it (which RFC 6749 allows) needs the admin API.
func TestScopesHelpNamesTheCommaLimit(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{{"keys", "create"}, {"keys", "verify"}, {"clients", "create"}, {"routes", "create"}} {
		code, out, errOut := runCLI(t, nil, append(cmd, "--help")...)
		if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), scopeCommaNote) {
			t.Errorf("%s --help: exit %d, %s%s; want the note %q", strings.Join(cmd, " "), code, out, errOut, scopeCommaNote)
		}
	}
}
