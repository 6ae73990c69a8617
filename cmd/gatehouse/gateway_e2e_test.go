package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// upstream is a microservice behind the gateway that records what reached it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T, name string) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"service":%q,"path":%q}`, name, r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) *http.Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return u.seen[len(u.seen)-1]
}

// authorizationCode signs in as username through the login and consent
// pages and returns the code and PKCE verifier, like a browser would.
func (ua *userAgent) authorizationCode(conf *oauth2.Config, username, password string, opts ...oauth2.AuthCodeOption) (code, verifier string) {
	ua.t.Helper()
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	r := ua.follow(conf.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...), conf.RedirectURL)
	if strings.Contains(r.body, `name="password"`) {
		r = ua.submit(r, url.Values{"username": {username}, "password": {password}}, conf.RedirectURL)
	}
	if strings.Contains(r.body, `name="decision"`) {
		r = ua.submit(r, url.Values{"decision": {"allow"}}, conf.RedirectURL)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		ua.t.Fatalf("no code in the redirect: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	return loc.Query().Get("code"), verifier
}

type gwResponse struct {
	status int
	header http.Header
	body   string
}

func gwGet(t *testing.T, u string, header http.Header) gwResponse {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gwResponse{resp.StatusCode, resp.Header, string(b)}
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }
func apiKey(key string) http.Header   { return http.Header{"X-Api-Key": {key}} }

// gatewayLifecycle is the "done when" on one backend: two services
// behind the gateway, one called by a service with an API key, the other by
// a user with an access token from the OAuth flow; the wrong credential is
// refused, and a revoked token and a revoked key are refused on the next
// request.
func gatewayLifecycle(t *testing.T, cfg config.Config, dbFiles func() []string) {
	orders := newUpstream(t, "orders")
	inventory := newUpstream(t, "inventory")
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	writeRoutes := func(body string) {
		t.Helper()
		// Written aside and renamed, as editors and ConfigMaps do.
		tmp := routesFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, routesFile); err != nil {
			t.Fatal(err)
		}
	}
	const api = "https://api.example.test"
	writeRoutes(fmt.Sprintf(`routes:
  - name: orders
    path: /orders
    upstreams: [%s]
    policy: jwt
    scopes: [orders:read]
    audience: %s
  - name: inventory
    path: /inventory
    strip_prefix: true
    upstreams: [%s]
    policy: api_key
    scopes: [inventory:read]
    internal_jwt: true
`, orders.URL, api, inventory.URL))
	cfg.Gateway.RoutesFile = routesFile

	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond)) // real time: x/oauth2 reads the wall clock
	logs := &testenv.SyncBuffer{}
	pre := &node{t: t, env: map[string]string{}}
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	initArgs := []string{"init", "--data", cfg.DataDir}
	if cfg.DB != "" {
		initArgs = append(initArgs, "--db", cfg.DB)
	}
	pre.cliJSON(&initOut, initArgs...)
	n := startNode(t, cfg, clk, logs)
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey
	issuer, gw := n.main.URL(), n.main.GatewayURL()
	if gw == "" {
		t.Fatal("the gateway is not running")
	}

	// A service's API key, and a user's access token.
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	n.cliJSON(&key, "keys", "create", "--owner", "billing-service", "--name", "billing", "--scopes", "inventory:read")
	const callback = "http://127.0.0.1:9999/callback"
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	n.cliJSON(&client, "clients", "create", "--name", "Shop", "--redirect-uri", callback,
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid orders:read", "--audience", api)
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

	// The user reaches orders with the token; the identity is forwarded and
	// a spoofed identity header is replaced.
	h := bearer(tok.AccessToken)
	h.Set("X-Gatehouse-Subject", "usr_admin")
	h.Set("x-gatehouse-scopes", "admin")
	r := gwGet(t, gw+"/orders/17?x=1", h)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"path":"/orders/17"`) || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("orders with the user's token: %d %s", r.status, r.body)
	}
	up := orders.last(t)
	if up.Header.Get("X-Gatehouse-Subject") != user.ID || up.Header.Get("X-Gatehouse-Auth") != "jwt" ||
		up.Header.Get("X-Gatehouse-Client") != client.ClientID || !slices.Contains(strings.Fields(up.Header.Get("X-Gatehouse-Scopes")), "orders:read") ||
		slices.Contains(strings.Fields(up.Header.Get("X-Gatehouse-Scopes")), "admin") || up.Header.Get("X-Request-Id") != r.header.Get("X-Request-Id") {
		t.Fatalf("orders saw identity %v", up.Header)
	}

	// The service reaches inventory with its key; the key never travels on,
	// an internal JWT for the upstream takes its place.
	r = gwGet(t, gw+"/inventory/items", apiKey(key.Key))
	if r.status != http.StatusOK || !strings.Contains(r.body, `"path":"/items"`) {
		t.Fatalf("inventory with the key: %d %s", r.status, r.body)
	}
	up = inventory.last(t)
	for name, vals := range up.Header {
		for _, v := range vals {
			if strings.Contains(v, key.Key) {
				t.Fatalf("the API key reached the upstream in %s", name)
			}
		}
	}
	if up.Header.Get("X-Gatehouse-Key-Id") != key.ID || up.Header.Get("X-Gatehouse-Subject") != "billing-service" || up.Header.Get("X-Gatehouse-Auth") != "api_key" {
		t.Fatalf("inventory saw identity %v", up.Header)
	}
	internal, ok := strings.CutPrefix(up.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("no internal JWT: %v", up.Header)
	}
	// The upstream verifies it on its own with the public verify package.
	v, err := verify.New(verify.Config{Issuer: issuer, Audience: inventory.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx, internal)
	if err != nil || claims.Subject != "billing-service" || !claims.HasScope("inventory:read") {
		t.Fatalf("internal JWT: %+v, %v", claims, err)
	}
	// An exchanged token (RFC 8693) with the gateway as the actor.
	if claims.Actor == nil || claims.Actor.Subject != gateway.DefaultActor {
		t.Errorf("internal JWT act: %+v", claims.Actor)
	}

	// The wrong credential for each service is refused, per RFC 6750.
	r = gwGet(t, gw+"/orders/17", apiKey(key.Key))
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") ||
		r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("orders with an API key: %d %v %s", r.status, r.header, r.body)
	}
	if r = gwGet(t, gw+"/inventory/items", bearer(tok.AccessToken)); r.status != http.StatusUnauthorized {
		t.Fatalf("inventory with a user token: %d %s", r.status, r.body)
	}
	if r = gwGet(t, gw+"/orders/17", bearer(tok.AccessToken+"x")); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("a forged token: %d %v", r.status, r.header)
	}

	// Revocation: the token (RFC 7009) and the key are refused on the
	// very next request.
	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	if status := postForm(t, http.DefaultClient, issuer+"/oauth2/revoke", client.ClientID, client.ClientSecret, form, nil); status != http.StatusOK {
		t.Fatalf("revoke = %d", status)
	}
	if r = gwGet(t, gw+"/orders/17", bearer(tok.AccessToken)); r.status != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d %s", r.status, r.body)
	}
	n.cli("keys", "revoke", key.ID)
	if r = gwGet(t, gw+"/inventory/items", apiKey(key.Key)); r.status != http.StatusUnauthorized {
		t.Fatalf("a revoked key: %d %s", r.status, r.body)
	}

	// Refusals are explained in the metrics, by route and reason.
	_, metrics := n.get("/metrics")
	for _, want := range []string{
		`gatehouse_gateway_refusals_total{reason="revoked",route="orders"}`,
		`gatehouse_gateway_requests_total{code="200",route="orders"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Routes through the admin API apply at once; a file name is taken.
	status := newUpstream(t, "status")
	n.cli("routes", "create", "--name", "status", "--path", "/status", "--upstream", status.URL, "--policy", "public")
	if r = gwGet(t, gw+"/status", nil); r.status != http.StatusOK || !strings.Contains(r.body, `"service":"status"`) {
		t.Fatalf("a route created through the admin API: %d %s", r.status, r.body)
	}
	if out, err := n.tryCLI("routes", "create", "--name", "orders", "--path", "/x", "--upstream", status.URL, "--policy", "public"); err == nil {
		t.Fatalf("an API route took the name of a file route: %s", out)
	}
	n.cli("routes", "delete", "status")
	if r = gwGet(t, gw+"/status", nil); r.status != http.StatusNotFound {
		t.Fatalf("a deleted route: %d %s", r.status, r.body)
	}

	// The routes file is watched: an invalid edit keeps the old routes, a
	// valid one applies without a restart.
	writeRoutes("routes:\n  - name: orders\n    path: orders\n")
	waitFor(t, "the invalid routes file to be reported", func() bool { return strings.Contains(logs.String(), "routes file rejected") })
	if r = gwGet(t, gw+"/inventory/items", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("after an invalid edit the old routes should stay: %d", r.status)
	}
	writeRoutes(fmt.Sprintf("routes:\n  - {name: health, path: /health, upstreams: [%s], policy: public}\n", status.URL))
	waitFor(t, "the new routes file to apply", func() bool { return gwGet(t, gw+"/health", nil).status == http.StatusOK })
	if r = gwGet(t, gw+"/inventory/items", apiKey(key.Key)); r.status != http.StatusNotFound {
		t.Fatalf("a route removed from the file still answers: %d", r.status)
	}

	// No secret in the logs or the database files.
	n.main.Close()
	secrets := []string{key.Key, tok.AccessToken, internal, client.ClientSecret, password, initOut.AdminKey}
	haystacks := map[string]string{"logs": logs.String()}
	for _, f := range dbFiles() {
		if b, err := os.ReadFile(f); err == nil {
			haystacks[f] = string(b)
		}
	}
	for name, h := range haystacks {
		for _, s := range secrets {
			if strings.Contains(h, s) {
				t.Errorf("%s holds a secret (%.12s...)", name, s)
			}
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGatewayLifecycleSQLite(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	gatewayLifecycle(t, cfg, func() []string {
		p := cfg.SQLitePath()
		return []string{p, p + "-wal", p + "-shm"}
	})
}

func TestGatewayLifecyclePostgres(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), pgDSN(t))
	gatewayLifecycle(t, cfg, func() []string { return nil })
}

// TestGatewayOff: with the gateway off nothing listens for it, and with
// the decision API off too, no route table runs.
func TestGatewayOff(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Gateway.Addr = config.GatewayOff
	cfg.Decisions.Enabled = false
	pre := &node{t: t, env: map[string]string{}}
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	pre.cliJSON(&initOut, "init", "--data", cfg.DataDir)
	n := startNode(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	if n.main.GatewayURL() != "" || n.main.Gateway != nil {
		t.Fatal("the gateway runs although it is off")
	}
	var out json.RawMessage
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey
	n.cliJSON(&out, "keys", "list") // the rest of the node works
}

// TestExampleServiceBehindGateway runs examples/service as the README does:
// behind the gateway on an api_key route with internal_jwt, verifying the
// gateway's internal JWT itself with the verify package.
func TestExampleServiceBehindGateway(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "service")
	if out, err := exec.Command("go", "build", "-o", bin, "../../examples/service").CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	cfg := testConfig(t, filepath.Join(dir, "data"), "")
	pre := &node{t: t, env: map[string]string{}}
	var initOut struct {
		AdminKey string `json:"admin_key"`
	}
	pre.cliJSON(&initOut, "init", "--data", cfg.DataDir)
	n := startNode(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
	n.env["GATEHOUSE_ADMIN_KEY"] = initOut.AdminKey

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	svcURL := "http://" + addr
	svc := exec.Command(bin, "-name", "inventory", "-addr", addr, "-issuer", n.main.URL(), "-audience", svcURL, "-scope", "inventory:read")
	svc.Stderr = io.Discard
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Process.Kill(); svc.Wait() })

	n.cli("routes", "create", "--name", "inventory", "--path", "/inventory", "--strip-prefix", "--upstream", svcURL,
		"--policy", "api_key", "--scopes", "inventory:read", "--internal-jwt")
	var key struct {
		Key string `json:"key"`
	}
	n.cliJSON(&key, "keys", "create", "--owner", "billing-service", "--name", "billing", "--scopes", "inventory:read")

	var answer struct {
		Service, Subject, Auth string
		Verified               bool
	}
	waitFor(t, "the example service to verify the gateway's internal JWT", func() bool {
		r := gwGet(t, n.main.GatewayURL()+"/inventory/items", apiKey(key.Key))
		return r.status == http.StatusOK && json.Unmarshal([]byte(r.body), &answer) == nil
	})
	if answer.Service != "inventory" || !answer.Verified || answer.Subject != "billing-service" || answer.Auth != "api_key" {
		t.Fatalf("the example answered %+v", answer)
	}
	// Reached directly, without the gateway, it refuses: it trusts tokens, not headers.
	h := http.Header{"X-Gatehouse-Subject": {"billing-service"}, "X-Gatehouse-Auth": {"api_key"}}
	if r := gwGet(t, svcURL+"/items", h); r.status != http.StatusUnauthorized {
		t.Fatalf("the example without a token: %d %s", r.status, r.body)
	}
}

// TestSIGHUPReloadsTheRoutesFile: a real server process rereads its routes
// file on SIGHUP, and keeps its routes when the file is invalid.
func TestSIGHUPReloadsTheRoutesFile(t *testing.T) {
	up := newUpstream(t, "v1")
	file := filepath.Join(t.TempDir(), "routes.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("routes:\n  - {name: one, path: /one, upstreams: [%s], policy: public}\n", up.URL))
	p := startProcess(t, "GATEHOUSE_ROUTES_FILE="+file)
	if r := gwGet(t, p.gwURL+"/one", nil); r.status != http.StatusOK {
		t.Fatalf("the file's route: %d %s", r.status, r.body)
	}
	write(fmt.Sprintf("routes:\n  - {name: two, path: /two, upstreams: [%s], policy: public}\n", up.URL))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload requested by SIGHUP", func() bool {
		return strings.Contains(p.stderr.String(), `"reason":"reload requested"`)
	})
	if r := gwGet(t, p.gwURL+"/two", nil); r.status != http.StatusOK {
		t.Fatalf("after SIGHUP: %d %s", r.status, r.body)
	}
	write("routes:\n  - {name: three, path: three}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalid file to be refused", func() bool {
		return strings.Contains(p.stderr.String(), "routes file rejected")
	})
	if r := gwGet(t, p.gwURL+"/two", nil); r.status != http.StatusOK {
		t.Fatalf("an invalid file replaced the routes: %d %s", r.status, r.body)
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("SIGHUP stopped the server")
	}
}

// TestGatewaySpeaksHTTP2: with TLS the gateway offers h2 through ALPN;
// without, it takes cleartext HTTP/2 with prior knowledge (h2c).
func TestGatewaySpeaksHTTP2(t *testing.T) {
	up := newUpstream(t, "orders")
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, fmt.Appendf(nil, "routes:\n  - {name: orders, path: /orders, upstreams: [%s], policy: public}\n", up.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, withTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			cfg := testConfig(t, t.TempDir(), "")
			cfg.Gateway.RoutesFile = routes
			tr := &http.Transport{Protocols: new(http.Protocols)}
			if withTLS {
				certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
				cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
				tr.TLSClientConfig = &tls.Config{RootCAs: pool}
				tr.Protocols.SetHTTP2(true)
			} else {
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
				t.Fatal(err)
			}
			n := startNode(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(n.main.GatewayURL() + "/orders/1")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || !strings.Contains(string(body), `"service":"orders"`) {
				t.Fatalf("%s %d: %s", resp.Proto, resp.StatusCode, body)
			}
		})
	}
}

// TestRedisURLSharesLimitsAcrossNodes: two nodes given one redis_url count
// a client's requests together; a node whose Redis is down still starts and
// limits on its own.
func TestRedisURLSharesLimitsAcrossNodes(t *testing.T) {
	// The tests' database (15), shared with other tests: nothing flushes
	// it, and the route's name, new each run, keeps these buckets apart.
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err != nil {
		testenv.RedisUnreachable(t, err)
	} else {
		c.Close()
	}
	up := newUpstream(t, "status")
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	// A route name of its own per run: the buckets live in Redis across runs.
	name := "status-" + strings.ToLower(strings.TrimRight(rand.Text()[:10], "="))
	if err := os.WriteFile(routes, fmt.Appendf(nil, "routes:\n  - {name: %s, path: /status, upstreams: [%s], policy: public, client_rate_limit: {rate: 0.01, burst: 2}}\n", name, up.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(redisURL string) (*node, *testenv.SyncBuffer) {
		cfg := testConfig(t, t.TempDir(), "")
		cfg.RedisURL, cfg.Gateway.RoutesFile = redisURL, routes
		// A loaded CI machine can take longer than the default 50 ms to
		// answer, and a timed-out call is decided by the node's own share:
		// this test is about sharing, not about the fallback.
		cfg.RedisTimeout = 2 * time.Second
		if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
			t.Fatal(err)
		}
		logs := &testenv.SyncBuffer{}
		return startNode(t, cfg, testenv.NewClock(time.Now()), logs), logs
	}
	a, _ := start(u.String())
	b, _ := start(u.String())
	for i, n := range []*node{a, b, a} {
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if r := gwGet(t, n.main.GatewayURL()+"/status", nil); r.status != want {
			t.Fatalf("request %d: %d, want %d", i+1, r.status, want)
		}
	}

	down, logs := start("redis://127.0.0.1:1/0")
	if !strings.Contains(logs.String(), "Redis is not answering") {
		t.Errorf("no warning about the unreachable Redis:\n%s", logs.String())
	}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if r := gwGet(t, down.main.GatewayURL()+"/status", nil); r.status != want {
			t.Fatalf("without Redis, request %d: %d, want %d", i+1, r.status, want)
		}
	}
}

// TestFileRouteNamedLikeAStoredOne: when the routes file gains the name of
// a route managed through the admin API, the file's route is served, the
// stored one held (503), the clash is logged, and other route changes
// still apply.
func TestFileRouteNamedLikeAStoredOne(t *testing.T) {
	up := newUpstream(t, "svc")
	file := filepath.Join(t.TempDir(), "routes.yaml")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file+".tmp", []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("routes:\n  - {name: a, path: /a, upstreams: [%s], policy: public}\n", up.URL))
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Gateway.RoutesFile = file
	_, adminKey, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	n := startNode(t, cfg, testenv.NewClock(time.Now()), logs)
	n.env["GATEHOUSE_ADMIN_KEY"] = adminKey
	gw := n.main.GatewayURL()
	n.cli("routes", "create", "--name", "b", "--path", "/b", "--upstream", up.URL, "--policy", "public")
	write(fmt.Sprintf("routes:\n  - {name: a, path: /a, upstreams: [%s], policy: public}\n  - {name: b, path: /file-b, upstreams: [%s], policy: public}\n", up.URL, up.URL))
	waitFor(t, "the file's route b", func() bool { return gwGet(t, gw+"/file-b", nil).status == http.StatusOK })
	// The stored route is held: its requests are refused, never served by
	// its upstream nor handed to a shorter prefix.
	if r := gwGet(t, gw+"/b", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("the stored route b: %d, want 503", r.status)
	}
	if !strings.Contains(logs.String(), "a route of the routes file has the name of a route managed through the admin API") {
		t.Error("the clash is not logged")
	}
	n.cli("routes", "create", "--name", "c", "--path", "/c", "--upstream", up.URL, "--policy", "public")
	if r := gwGet(t, gw+"/c", nil); r.status != http.StatusOK {
		t.Fatalf("a route created after the clash: %d", r.status)
	}
}
