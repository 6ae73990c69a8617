package main

import (
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/bench/internal/loadtest"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// The decision API under load (issue 16), with -decisions: in one run,
// with the same driver and connections, Gatehouse's /v1/decisions asked
// directly (as Caddy's forward_auth asks it) with a cached API key;
// Caddy's reverse_proxy alone; Caddy with forward_auth to Gatehouse, then
// reverse_proxy; Gatehouse's own gateway with the same key; and the floor,
// Caddy with forward_auth to a trivial Go server that always answers 200
// (the cost of the extra HTTP round trip itself), and that server
// answering with identity headers like Gatehouse's (floorIdentityPath:
// the round trip plus Caddy's copying of the headers, the floor for an
// answer that carries an identity). Two references for the
// decisions/s: that trivial server driven directly (net/http with no work)
// and POST /v1/keys/verify with the same key. The upstream, gatehouse
// (trusted_proxies 127.0.0.1, access log off), the trivial auth server and
// one Caddy per configuration are separate processes.
//
//	go run ./bench/gateway -decisions -duration 5s -concurrency 16 -rounds 3
//
// Caddy is v2.11.9, built from its Go module (-caddy, default
// $GATEHOUSE_CADDY, else ~/.cache/gatehouse/caddy-v2.11.9/caddy):
//
//	GOBIN=$HOME/.cache/gatehouse/caddy-v2.11.9 go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9
//
// Targets on a 2-core machine: at least 20,000 decisions/s, and Caddy with
// forward_auth to Gatehouse at least 0.4 of Caddy alone.

// caddyVersion is the Caddy the figures are about.
const caddyVersion = "v2.11.9"

// defaultCaddy is where the brief's build puts Caddy, unless
// GATEHOUSE_CADDY names another binary.
func defaultCaddy() string {
	if p := os.Getenv("GATEHOUSE_CADDY"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "gatehouse", "caddy-"+caddyVersion, "caddy")
}

// floorIdentityPath is where the floor's auth service also answers with
// fixed identity headers, as many and as long as Gatehouse's answer for
// the benchmark's key.
const floorIdentityPath = "/identity"

// serveFloor is the floor's auth service: 200 to anything, with nothing
// else but below floorIdentityPath.
func serveFloor(addr string) error {
	identity := http.Header{
		gateway.HeaderAuth: {"api_key"}, gateway.HeaderSubject: {"loadtest"}, gateway.HeaderClient: {"loadtest"},
		gateway.HeaderScopes: {"read"}, gateway.HeaderKeyID: {"key_06h547iukd0elb24"}, gateway.HeaderKeyEnvironment: {"live"},
		gateway.HeaderRequestID: {"5DZ3QFXTWK5HXBLZOZ2K24VCZQ"},
	}
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == floorIdentityPath {
			h := w.Header()
			for k, v := range identity {
				h[k] = v
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
}

func runDecisions(f *loadtest.Flags, rounds int, caddy string) error {
	// Built from the module, Caddy's own "version" says "unknown": its
	// build information names the module's version.
	if info, err := buildinfo.ReadFile(caddy); err != nil {
		return fmt.Errorf("caddy %s at %s (set -caddy or GATEHOUSE_CADDY): %w", caddyVersion, caddy, err)
	} else if info.Main.Path != "github.com/caddyserver/caddy/v2" || info.Main.Version != caddyVersion {
		return fmt.Errorf("%s is %s %s, want Caddy %s", caddy, info.Main.Path, info.Main.Version, caddyVersion)
	}
	// The decision API answers trusted proxies only: Caddy and the driver
	// ask from loopback. loadtest.StartGatehouse passes this environment on.
	if err := os.Setenv("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"); err != nil {
		return err
	}
	b, err := loadtest.Start("decisionsload", f)
	if err != nil {
		return err
	}
	defer b.Close()
	gh := b.Gatehouse

	floorURL, stopFloor, err := loadtest.StartBaseline("-serve-floor")
	if err != nil {
		return fmt.Errorf("trivial auth server: %w", err)
	}
	defer stopFloor()

	var created map[string]any
	if err := gh.Admin(http.MethodPost, "/admin/v1/routes", map[string]any{
		"name": "key", "path": "/key", "policy": "api_key", "scopes": []string{"read"},
		"upstreams": []string{b.BaseURL}, "strip_prefix": true,
	}, http.StatusCreated, &created); err != nil {
		return err
	}
	var key struct {
		Key string `json:"key"`
	}
	if err := gh.Admin(http.MethodPost, "/admin/v1/keys",
		map[string]any{"owner": "loadtest", "name": "decisions", "scopes": []string{"read"}}, http.StatusCreated, &key); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "decisionsload-caddy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caddies := map[string]string{}
	for _, c := range []struct{ name, auth, uri string }{{"alone", "", ""}, {"gatehouse", gh.URL, gateway.DecisionsPath},
		{"floor", floorURL, gateway.DecisionsPath}, {"floor_identity", floorURL, floorIdentityPath}} {
		u, stop, err := startCaddy(caddy, filepath.Join(dir, c.name), b.BaseURL, c.auth, c.uri)
		if err != nil {
			return fmt.Errorf("caddy (%s): %w", c.name, err)
		}
		defer stop()
		caddies[c.name] = u
	}

	withKey := http.Header{"X-Api-Key": {key.Key}}
	get := func(u string, h http.Header) loadtest.Request {
		return loadtest.Request{Method: http.MethodGet, URL: u, Header: h}
	}
	// What Caddy's forward_auth sends for GET /key/items/42: the method
	// and URI in X-Forwarded-*, the client's headers (its key) unchanged.
	decisionHeader := http.Header{
		"X-Api-Key":          {key.Key},
		"X-Forwarded-Method": {http.MethodGet},
		"X-Forwarded-Uri":    {"/key/items/42"},
		"X-Forwarded-Host":   {"api.example.test"},
		"X-Forwarded-Proto":  {"http"},
	}
	verifyBody, err := json.Marshal(map[string]any{"key": key.Key, "scopes": []string{"read"}})
	if err != nil {
		return err
	}
	const (
		tDecisions = iota
		tCaddy
		tCaddyGatehouse
		tGateway
		tFloor
		tFloorIdentity
		tFloorAlone
		tVerify
	)
	targets := []struct {
		name string
		req  loadtest.Request
	}{
		tDecisions:      {"gatehouse /v1/decisions (api_key)", get(gh.URL+gateway.DecisionsPath, decisionHeader)},
		tCaddy:          {"caddy reverse_proxy alone", get(caddies["alone"]+"/key/items/42", nil)},
		tCaddyGatehouse: {"caddy + forward_auth gatehouse (api_key)", get(caddies["gatehouse"]+"/key/items/42", withKey)},
		tGateway:        {"gatehouse gateway (api_key)", get(gh.GatewayURL+"/key/items/42", withKey)},
		tFloor:          {"caddy + forward_auth trivial 200 (floor)", get(caddies["floor"]+"/key/items/42", withKey)},
		tFloorIdentity:  {"caddy + forward_auth trivial 200 + identity", get(caddies["floor_identity"]+"/key/items/42", withKey)},
		// References for the decisions/s: what net/http answers on this
		// machine with no work at all, and the verify endpoint's JSON
		// question about the same key on the same listener.
		tFloorAlone: {"trivial 200 auth server alone", get(floorURL+gateway.DecisionsPath, decisionHeader)},
		tVerify: {"gatehouse POST /v1/keys/verify", loadtest.Request{Method: http.MethodPost, URL: gh.URL + "/v1/keys/verify",
			Body: verifyBody, Header: http.Header{"Content-Type": {"application/json"}}}},
	}
	// Every target must answer 200 before it is timed, and a refusal must
	// be a refusal: the forward_auth configuration really asks Gatehouse.
	for _, t := range targets {
		if err := loadtest.Check(t.req); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	if err := loadtest.Check(loadtest.Request{Method: http.MethodGet, URL: caddies["gatehouse"] + "/key/items/42",
		WantStatus: http.StatusUnauthorized}); err != nil {
		return fmt.Errorf("caddy + forward_auth without a key: %w", err)
	}

	fmt.Printf("decision API load test: %s driver, %d connections, %s per target and round, %d rounds (medians), %d CPUs, Caddy %s, GET of a 27-byte JSON answer\n",
		b.DriverName, f.Concurrency, f.Duration, rounds, runtime.NumCPU(), caddyVersion)
	all := make([][]loadtest.Result, len(targets))
	for round := range max(rounds, 1) {
		// Each round starts at another target, so that a slow spell of
		// the shared machine does not land on one target only.
		for k := range targets {
			i := (k + round) % len(targets)
			res, err := b.Drive(targets[i].req, f.Concurrency, f.Duration)
			if err != nil {
				return fmt.Errorf("%s: %w", targets[i].name, err)
			}
			all[i] = append(all[i], res)
		}
	}
	results := make([]loadtest.Result, len(targets))
	for i := range targets {
		results[i] = median(all[i])
	}
	alone := results[tCaddy]
	fmt.Printf("%-42s %10s %9s %9s %15s\n", "target", "req/s", "p50", "p99", "ratio to caddy")
	for i, t := range targets {
		r := results[i]
		fmt.Printf("%-42s %10.0f %9s %9s %15.2f\n", t.name, r.RPS, r.P50.Round(time.Microsecond),
			r.P99.Round(time.Microsecond), r.RPS/alone.RPS)
	}
	withGH, floor := results[tCaddyGatehouse].RPS, results[tFloor].RPS
	fmt.Printf("caddy + forward_auth gatehouse: %.2f of caddy alone, %.2f of gatehouse's gateway, %.2f of the floor (caddy + forward_auth to a trivial 200), %.2f of the floor with identity headers\n",
		withGH/alone.RPS, withGH/results[tGateway].RPS, withGH/floor, withGH/results[tFloorIdentity].RPS)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	d := results[tDecisions].RPS
	fmt.Printf("decisions/s: %.2f of the trivial server's, %.2f of the verify endpoint's\n", d/results[tFloorAlone].RPS, d/results[tVerify].RPS)
	fmt.Printf("target (>= 20,000 decisions/s): %s (%.0f)\n", verdict(d >= 20000), d)
	fmt.Printf("target (caddy + forward_auth gatehouse >= 0.4 of caddy alone): %s (%.2f)\n", verdict(withGH >= 0.4*alone.RPS), withGH/alone.RPS)
	return nil
}

// startCaddy runs Caddy with a configuration of its own in dir: a
// reverse_proxy to upstream, behind forward_auth to authURL's authURI
// when authURL is not "", copying the identity headers of an
// allowed decision (Caddy removes a copied header the client sent that
// the answer does not carry). Admin endpoint and automatic HTTPS are off;
// Caddy logs no requests unless told to.
func startCaddy(bin, dir, upstream, authURL, authURI string) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	addr, err := loadtest.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	var site strings.Builder
	if authURL != "" {
		fmt.Fprintf(&site, "\tforward_auth %s {\n\t\turi %s\n\t\tcopy_headers %s\n\t}\n",
			strings.TrimPrefix(authURL, "http://"), authURI, strings.Join(gateway.IdentityHeaders[:], " "))
	}
	fmt.Fprintf(&site, "\treverse_proxy %s\n", strings.TrimPrefix(upstream, "http://"))
	conf := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n\nhttp://%s {\n%s}\n", addr, site.String())
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	// Caddy's data and configuration folders in dir, not in $HOME.
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "HOME="+dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, err
	}
	stop := func() { loadtest.Stop(cmd); logFile.Close() }
	if err := waitListening(addr); err != nil {
		stop()
		out, _ := os.ReadFile(logFile.Name())
		return "", nil, errors.Join(err, fmt.Errorf("caddy's log:\n%s", out))
	}
	return "http://" + addr, stop, nil
}

// waitListening waits until addr accepts connections, for 30 seconds at
// most (Caddy's routes answer nothing that would do for a health check).
func waitListening(addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up", addr)
}
