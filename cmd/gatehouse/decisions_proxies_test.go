package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// The decision API behind the proxies people already run: real Caddy
// (forward_auth) and real nginx (auth_request) processes, configured with
// the examples users copy (examples/proxies), in front of a real upstream,
// asking a real Gatehouse node whose own gateway is off. scripts/test
// builds Caddy and installs nginx, and sets GATEHOUSE_REQUIRE_PROXIES=1 so
// that these tests fail, not skip, without them.

// caddyVersion is the Caddy the tests (and scripts/test) use.
const caddyVersion = "v2.11.9"

// proxyAPI is the audience of the access tokens the jwt routes take.
const proxyAPI = "https://api.example.test"

// decisionsNode is a Gatehouse node deciding for proxies, the upstream
// behind them, and the credentials the tests present.
type decisionsNode struct {
	n        *node
	up       *upstream
	client   clientCredentials
	token    string // an access token for proxyAPI with orders:read
	keyOwner string
}

// startDecisionsNode starts a node with gateway.addr off, trusting
// 127.0.0.1 only, with an api_key route (/keys), a jwt route (/tokens), an
// internal_jwt route (/internal) and a public one (/public), all to one
// upstream.
func startDecisionsNode(t *testing.T) *decisionsNode {
	t.Helper()
	up := newUpstream(t, "orders")
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routes, []byte(fmt.Sprintf(`routes:
  - {name: keys, path: /keys, upstreams: [%[1]s], policy: api_key, scopes: [orders:read]}
  - {name: tokens, path: /tokens, upstreams: [%[1]s], policy: jwt, scopes: [orders:read], audience: %[2]s}
  - {name: internal, path: /internal, upstreams: [%[1]s], policy: any, audience: %[2]s, internal_jwt: true}
  - {name: public, path: /public, upstreams: [%[1]s], policy: public}
`, up.URL, proxyAPI)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, filepath.Join(dir, "data"), "")
	cfg.Gateway.Addr = config.GatewayOff
	cfg.Gateway.RoutesFile = routes
	cfg.Gateway.TrustedProxies = []string{"127.0.0.1"}
	n := startInitialised(t, cfg, testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)), &testenv.SyncBuffer{})
	if n.main.GatewayURL() != "" {
		t.Fatalf("the gateway runs at %s with gateway.addr off", n.main.GatewayURL())
	}
	d := &decisionsNode{n: n, up: up, keyOwner: "billing-service"}
	n.cliJSON(&d.client, "clients", "create", "--name", "Shop", "--grant-types", "client_credentials",
		"--scopes", "orders:read", "--audience", proxyAPI)
	status, out := d.client.oauthPost(t, n, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}})
	d.token, _ = out["access_token"].(string)
	if status != http.StatusOK || d.token == "" {
		t.Fatalf("client credentials: %d %v", status, out)
	}
	return d
}

// key creates an API key of the node's key owner.
func (d *decisionsNode) key(t *testing.T, args ...string) createdKey {
	t.Helper()
	var k createdKey
	d.n.cliJSON(&k, append([]string{"keys", "create", "--owner", d.keyOwner, "--name", "proxied"}, args...)...)
	return k
}

// decide asks the node directly, as a trusted proxy, for its decision on
// a GET of uri with header: what each proxy must hand its client.
func (d *decisionsNode) decide(t *testing.T, uri string, header http.Header) gwResponse {
	t.Helper()
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Forwarded-Method", http.MethodGet)
	h.Set("X-Forwarded-Uri", uri)
	return gwGet(t, d.n.main.URL()+gateway.DecisionsPath, h)
}

// seen is how many requests reached the upstream.
func (d *decisionsNode) seen() int {
	d.up.mu.Lock()
	defer d.up.mu.Unlock()
	return len(d.up.seen)
}

// spoofed are identity headers a client forges: gateway.IdentityHeaders,
// and the proxy's own (extra).
func spoofed(extra []string) http.Header {
	h := http.Header{}
	for _, name := range gateway.IdentityHeaders {
		h.Set(name, "forged")
	}
	for _, name := range extra {
		h.Set(name, "Bearer forged")
	}
	return h
}

// caddyOwnHeaders are the headers the Caddy example uses on the way: the
// minted token goes through X-Gatehouse-Authorization.
var caddyOwnHeaders = []string{"X-Gatehouse-Authorization"}

func TestDecisionsBehindRealProxies(t *testing.T) {
	d := startDecisionsNode(t)
	t.Run("caddy", func(t *testing.T) {
		caddy := proxyBinary(t, "GATEHOUSE_CADDY", "caddy", filepath.Join(cacheDir(), "gatehouse", "caddy-"+caddyVersion, "caddy"))
		conf := repoFile(t, "examples/proxies/caddy/Caddyfile")
		// Caddy warns about a Caddyfile that caddy fmt would change.
		if out, err := exec.Command(caddy, "fmt", "--diff", conf).CombinedOutput(); err != nil {
			t.Errorf("the example is not as caddy fmt writes it: %v\n%s", err, out)
		}
		base := startCaddy(t, caddy, conf, d.n.main.URL(), d.up.URL)
		checkProxiedDecisions(t, d, base, true, caddyOwnHeaders)
		t.Run("an unreachable Gatehouse fails closed", func(t *testing.T) {
			checkFailsClosed(t, d, startCaddy(t, caddy, conf, deadURL(t), d.up.URL), http.StatusBadGateway)
		})
		t.Run("copy_headers Authorization would drop the user's token", func(t *testing.T) {
			// Why the example renames Authorization: Caddy deletes every
			// header named in copy_headers before copying it from the
			// decision, so naming Authorization as is strips the client's
			// token from each route whose decision carries none.
			b, err := os.ReadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			naive := strings.Replace(string(b), "Authorization>X-Gatehouse-Authorization", "Authorization", 1)
			if naive == string(b) {
				t.Fatal("the Caddyfile no longer renames Authorization")
			}
			naiveConf := filepath.Join(t.TempDir(), "Caddyfile")
			if err := os.WriteFile(naiveConf, []byte(naive), 0o600); err != nil {
				t.Fatal(err)
			}
			base := startCaddy(t, caddy, naiveConf, d.n.main.URL(), d.up.URL)
			r := gwGet(t, base+"/tokens/1", bearer(d.token))
			up := d.up.last(t)
			if r.status != http.StatusOK || up.Header.Get(gateway.HeaderAuth) != "jwt" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if up.Header["Authorization"] != nil {
				t.Fatalf("Caddy %s keeps the client's Authorization when the decision has none: update the example and docs", caddyVersion)
			}
		})
	})
	t.Run("nginx", func(t *testing.T) {
		nginx := proxyBinary(t, "GATEHOUSE_NGINX", "nginx", "/usr/sbin/nginx")
		conf := repoFile(t, "examples/proxies/nginx/nginx.conf")
		base := startNginx(t, nginx, conf, d.n.main.URL(), d.up.URL)
		checkProxiedDecisions(t, d, base, false, nil)
		t.Run("an unreachable Gatehouse fails closed", func(t *testing.T) {
			checkFailsClosed(t, d, startNginx(t, nginx, conf, deadURL(t), d.up.URL), http.StatusInternalServerError)
		})
	})
	t.Run("untrusted caller", func(t *testing.T) {
		// Trusted is 127.0.0.1 alone; 127.0.0.2 is the same machine's
		// loopback, but not a trusted proxy.
		c := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}).DialContext}}
		defer c.CloseIdleConnections()
		k := d.key(t, "--scopes", "orders:read")
		req, _ := http.NewRequest(http.MethodGet, d.n.main.URL()+gateway.DecisionsPath, nil)
		req.Header.Set("X-Forwarded-Uri", "/keys/1")
		req.Header.Set("X-Api-Key", k.Key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("from 127.0.0.2: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "untrusted_caller") || resp.Header.Get(gateway.HeaderSubject) != "" {
			t.Fatalf("a decision asked from 127.0.0.2: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		// The same question from the trusted address is answered.
		if r := d.decide(t, "/keys/1", apiKey(k.Key)); r.status != http.StatusOK || r.header.Get(gateway.HeaderKeyID) != k.ID {
			t.Fatalf("the same decision from 127.0.0.1: %d %v %s", r.status, r.header, r.body)
		}
	})
}

// checkProxiedDecisions runs the checks through the proxy at base.
// passesBody says whether the proxy hands its client the decision's body
// (Caddy does; nginx's auth_request cannot); own are the headers the
// proxy's configuration uses for itself, which a client forges too.
func checkProxiedDecisions(t *testing.T, d *decisionsNode, base string, passesBody bool, own []string) {
	k := d.key(t, "--scopes", "orders:read")

	// through sends a GET through the proxy with the client's forged
	// identity, and returns the answer and what reached the upstream (nil
	// when nothing did).
	through := func(path string, h http.Header) (gwResponse, *http.Request) {
		t.Helper()
		before := d.seen()
		sent := spoofed(own)
		for name, v := range h {
			sent[name] = v
		}
		r := gwGet(t, base+path, sent)
		if d.seen() == before {
			return r, nil
		}
		if d.seen() != before+1 {
			t.Fatalf("GET %s reached the upstream %d times", path, d.seen()-before)
		}
		return r, d.up.last(t)
	}
	// noForgery fails if a forged identity header, or the API key,
	// reached the upstream.
	noForgery := func(what string, up *http.Request) {
		t.Helper()
		forged := spoofed(own)
		for name, vals := range up.Header {
			for _, v := range vals {
				if slices.Contains(forged[name], v) || strings.Contains(v, "forged") {
					t.Errorf("%s: the client's forged %s: %q reached the upstream", what, name, v)
				}
				if strings.Contains(v, k.Key) {
					t.Errorf("%s: the API key reached the upstream in %s", what, name)
				}
			}
		}
		for _, name := range append([]string{"X-Api-Key"}, own...) {
			if up.Header[name] != nil {
				t.Errorf("%s: the upstream got %s", what, name)
			}
		}
	}

	t.Run("a valid key passes with its identity", func(t *testing.T) {
		r, up := through("/keys/17?x=1", apiKey(k.Key))
		if r.status != http.StatusOK || up == nil || up.URL.Path != "/keys/17" || up.URL.RawQuery != "x=1" {
			t.Fatalf("%d %s; upstream %v", r.status, r.body, up)
		}
		noForgery("key", up)
		if h := up.Header; h.Get(gateway.HeaderAuth) != "api_key" || h.Get(gateway.HeaderSubject) != d.keyOwner ||
			h.Get(gateway.HeaderKeyID) != k.ID || h.Get(gateway.HeaderKeyEnvironment) == "" || h.Get(gateway.HeaderScopes) != "orders:read" {
			t.Fatalf("the upstream saw identity %v", h)
		}
		// A key sent in Authorization passes, and does not travel on.
		r, up = through("/keys/17", bearer(k.Key))
		if r.status != http.StatusOK || up == nil || up.Header.Get(gateway.HeaderKeyID) != k.ID {
			t.Fatalf("a key in Authorization: %d %s", r.status, r.body)
		}
		noForgery("key in Authorization", up)
		if up.Header["Authorization"] != nil {
			t.Fatalf("a key in Authorization: the upstream got Authorization")
		}
	})

	t.Run("a valid JWT passes with its identity", func(t *testing.T) {
		r, up := through("/tokens/b", bearer(d.token))
		if r.status != http.StatusOK || up == nil {
			t.Fatalf("%d %v %s", r.status, r.header, r.body)
		}
		noForgery("jwt", up)
		h := up.Header
		if h.Get(gateway.HeaderAuth) != "jwt" || h.Get(gateway.HeaderClient) != d.client.ClientID ||
			h.Get(gateway.HeaderScopes) != "orders:read" || h.Get(gateway.HeaderKeyID) != "" {
			t.Fatalf("the upstream saw identity %v", h)
		}
		// As from Gatehouse's own gateway, a jwt route's upstream gets the
		// user's token.
		if h.Get("Authorization") != "Bearer "+d.token {
			t.Fatalf("the upstream got Authorization %q, not the client's token", h.Get("Authorization"))
		}
	})

	t.Run("a public route passes no forged identity", func(t *testing.T) {
		r, up := through("/public/status", nil)
		if r.status != http.StatusOK || up == nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		for name := range spoofed(own) {
			if up.Header[name] != nil {
				t.Errorf("the upstream got %s: %q", name, up.Header.Get(name))
			}
		}
	})

	t.Run("an internal_jwt route gets the minted token", func(t *testing.T) {
		v, err := verify.New(verify.Config{Issuer: d.n.main.URL(), Audience: d.up.URL})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := v.Ready(ctx); err != nil { // Verify does not wait for the first key set
			t.Fatal(err)
		}
		for _, c := range []struct {
			name    string
			h       http.Header
			subject string
		}{
			{"key", apiKey(k.Key), d.keyOwner},
			{"jwt", bearer(d.token), d.client.ClientID},
		} {
			r, up := through("/internal/x", c.h)
			if r.status != http.StatusOK || up == nil {
				t.Fatalf("%s: %d %s", c.name, r.status, r.body)
			}
			noForgery(c.name, up)
			tok, ok := strings.CutPrefix(up.Header.Get("Authorization"), "Bearer ")
			if !ok || tok == d.token || len(up.Header["Authorization"]) != 1 {
				t.Fatalf("%s: the upstream got Authorization %q", c.name, up.Header["Authorization"])
			}
			claims, err := v.Verify(ctx, tok)
			if err != nil || claims.Subject != c.subject {
				t.Fatalf("%s: the minted token: %+v, %v", c.name, claims, err)
			}
		}
	})

	t.Run("refusals reach the client as Gatehouse decided, and nothing the upstream", func(t *testing.T) {
		revoked := d.key(t, "--scopes", "orders:read")
		d.n.cli("keys", "revoke", revoked.ID)
		narrow := d.key(t, "--scopes", "billing:read")
		wrong := k.Key[:len(k.Key)-12] + "000000000000" // the key format, with a wrong body and checksum
		for _, c := range []struct {
			name, path string
			h          http.Header
			status     int
			challenge  string // in WWW-Authenticate
		}{
			{"missing key", "/keys/1", nil, http.StatusUnauthorized, "Bearer"},
			{"wrong key", "/keys/1", apiKey(wrong), http.StatusUnauthorized, "Bearer"},
			{"revoked key", "/keys/1", apiKey(revoked.Key), http.StatusUnauthorized, `error="invalid_token"`},
			{"out-of-scope key", "/keys/1", apiKey(narrow.Key), http.StatusForbidden, `error="insufficient_scope"`},
			{"missing token", "/tokens/1", nil, http.StatusUnauthorized, "Bearer"},
			{"forged token", "/tokens/1", bearer(d.token + "x"), http.StatusUnauthorized, `error="invalid_token"`},
			{"a key on a jwt route", "/tokens/1", apiKey(k.Key), http.StatusUnauthorized, "Bearer"},
			{"a forged X-Forwarded-Uri", "/keys/1", http.Header{"X-Forwarded-Uri": {"/public/1"}, "X-Forwarded-Method": {"GET"}}, http.StatusUnauthorized, "Bearer"},
			{"no route", "/nowhere", apiKey(k.Key), http.StatusNotFound, ""},
			{"a forged X-Original-URI", "/keys/1", http.Header{"X-Original-Uri": {"/public/1"}, "X-Original-Method": {"GET"}}, http.StatusUnauthorized, "Bearer"},
		} {
			if forged := c.h.Get("X-Forwarded-Uri") != "" || c.h.Get("X-Original-Uri") != ""; forged {
				// A client describing another request: the proxy either
				// overwrites the description (the decision is the honest
				// one) or passes it beside its own, which Gatehouse refuses
				// as two descriptions that disagree (400). Never the public
				// route's 200.
				want := d.decide(t, c.path, nil)
				r, up := through(c.path, c.h)
				if up != nil || (r.status != want.status && r.status != http.StatusBadRequest) {
					t.Errorf("%s: the client got %d (upstream reached: %v), the honest decision is %d", c.name, r.status, up != nil, want.status)
				}
				continue
			}
			want := d.decide(t, c.path, c.h)
			if want.status != c.status || !strings.Contains(want.header.Get("WWW-Authenticate"), c.challenge) {
				t.Fatalf("%s: Gatehouse itself decided %d %q", c.name, want.status, want.header.Get("WWW-Authenticate"))
			}
			r, up := through(c.path, c.h)
			if up != nil {
				t.Errorf("%s: the request reached the upstream (%d)", c.name, r.status)
			}
			if r.status != want.status || r.header.Get("WWW-Authenticate") != want.header.Get("WWW-Authenticate") ||
				len(r.header["Www-Authenticate"]) != len(want.header["Www-Authenticate"]) {
				t.Errorf("%s: the client got %d %q, Gatehouse decided %d %q", c.name,
					r.status, r.header["Www-Authenticate"], want.status, want.header.Get("WWW-Authenticate"))
			}
			if passesBody && (r.body != want.body || r.header.Get("Content-Type") != want.header.Get("Content-Type")) {
				t.Errorf("%s: the client got %q %s, Gatehouse decided %q %s", c.name,
					r.header.Get("Content-Type"), r.body, want.header.Get("Content-Type"), want.body)
			}
		}
	})

	t.Run("a rate-limited key gets 429 with Retry-After", func(t *testing.T) {
		limited := d.key(t, "--scopes", "orders:read", "--rate", "1/h", "--burst", "1")
		if r, up := through("/keys/1", apiKey(limited.Key)); r.status != http.StatusOK || up == nil {
			t.Fatalf("the first request: %d %s", r.status, r.body)
		}
		r, up := through("/keys/1", apiKey(limited.Key))
		if up != nil {
			t.Errorf("a rate-limited request reached the upstream")
		}
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" ||
			r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Limit") == "" {
			t.Fatalf("the second request: %d %v %s", r.status, r.header, r.body)
		}
		if passesBody && !strings.Contains(r.body, "rate_limited") {
			t.Errorf("the 429's body: %s", r.body)
		}
	})
}

// deadURL is the URL of a port nothing listens on.
func deadURL(t *testing.T) string {
	return fmt.Sprintf("http://127.0.0.1:%d", freeLoopbackPort(t))
}

// checkFailsClosed checks that the proxy at base, whose Gatehouse does not
// answer, refuses with status and lets nothing through, public routes
// included.
func checkFailsClosed(t *testing.T, d *decisionsNode, base string, status int) {
	t.Helper()
	k := d.key(t, "--scopes", "orders:read")
	before := d.seen()
	for _, path := range []string{"/keys/1", "/public/1"} {
		if r := gwGet(t, base+path, apiKey(k.Key)); r.status != status {
			t.Errorf("GET %s without Gatehouse: %d %s", path, r.status, r.body)
		}
	}
	if d.seen() != before {
		t.Errorf("a request reached the upstream without a decision")
	}
}

// proxyBinary finds a proxy: env names its path (which must exist), else
// name on PATH, else fallback. Without one it fails the test under
// GATEHOUSE_REQUIRE_PROXIES=1 (scripts/test), and skips it otherwise.
func proxyBinary(t *testing.T, env, name, fallback string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%s: %v", env, p, err)
		}
		return path
	}
	for _, p := range []string{name, fallback} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("GATEHOUSE_REQUIRE_PROXIES") == "1" {
		t.Fatalf("%s is not installed (GATEHOUSE_REQUIRE_PROXIES=1): set %s, or run scripts/test, which installs it", name, env)
	}
	t.Skipf("%s is not installed (set %s); set GATEHOUSE_REQUIRE_PROXIES=1 to fail instead", name, env)
	return ""
}

// cacheDir is where scripts/test keeps the Caddy it builds.
func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache")
}

// repoFile is the path of a file of the repository, from this package's
// folder.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// freeLoopbackPort returns a TCP port nothing listens on at 127.0.0.1, for
// a proxy to take.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCaddy runs the Caddyfile at conf with its environment placeholders
// filled, and returns its base URL.
func startCaddy(t *testing.T, bin, conf, gatehouseURL, upstreamURL string) string {
	t.Helper()
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_URL="+gatehouseURL,
		"UPSTREAM_URL="+upstreamURL,
		fmt.Sprintf("CADDY_ADDRESS=http://127.0.0.1:%d", port),
		"CADDY_ADMIN=off",
		// Caddy's own state (certificates, autosaved config) stays here.
		"HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	return startProxy(t, "caddy", cmd, port, nil)
}

// startNginx runs a copy of the nginx.conf at conf with its ${...} markers
// filled, and returns its base URL. The copy also keeps nginx's logs, pid
// and temporary files in a folder of its own, so that it runs as any user.
func startNginx(t *testing.T, bin, conf, gatehouseURL, upstreamURL string) string {
	t.Helper()
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		"${GATEHOUSE_URL}", gatehouseURL,
		"${UPSTREAM_URL}", upstreamURL,
		"${LISTEN}", fmt.Sprintf("127.0.0.1:%d", port),
	).Replace(string(b))
	if i := strings.Index(s, "${"); i >= 0 {
		t.Fatalf("%s: a marker the test does not fill: %.40s", conf, s[i:])
	}
	var local strings.Builder
	local.WriteString("http {\n")
	fmt.Fprintf(&local, "\taccess_log %s;\n", filepath.Join(dir, "access.log"))
	for _, p := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&local, "\t%s_temp_path %s;\n", p, filepath.Join(dir, p))
	}
	if !strings.Contains(s, "\nhttp {\n") {
		t.Fatalf("%s has no http block", conf)
	}
	s = strings.Replace(s, "\nhttp {\n", "\n"+local.String(), 1)
	copied := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(copied, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir, "-c", copied, "-e", errorLog,
		"-g", fmt.Sprintf("daemon off; master_process off; pid %s;", filepath.Join(dir, "nginx.pid")))
	return startProxy(t, "nginx", cmd, port, []string{errorLog})
}

// startProxy starts cmd, waits (at most 20 s) for it to listen on port,
// and stops it when the test ends. What it printed, and the logs it wrote
// (logFiles), are shown if the test fails.
func startProxy(t *testing.T, name string, cmd *exec.Cmd, port int, logFiles []string) string {
	t.Helper()
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	showLogs := func() {
		t.Logf("%s printed:\n%s", name, out.String())
		for _, f := range logFiles {
			if b, err := os.ReadFile(f); err == nil {
				t.Logf("%s:\n%s", f, b)
			}
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			showLogs()
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			showLogs()
			t.Fatalf("%s exited before listening on %s: %v", name, addr, err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			showLogs()
			t.Fatalf("%s does not listen on %s after 20 s", name, addr)
		}
	}
}
