package testcluster_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testcluster"
)

// httpClient is what the tests' callers use: connections kept alive, as
// real clients keep them, and a timeout well above every bound the tests
// check, so that a hang shows as a slow answer rather than a lost one.
var httpClient = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
}

// reply is one HTTP exchange's outcome.
type reply struct {
	status int
	body   []byte
	took   time.Duration
	err    error // no answer at all
}

func (r reply) String() string {
	if r.err != nil {
		return fmt.Sprintf("no answer after %s: %v", r.took, r.err)
	}
	return fmt.Sprintf("%d after %s: %s", r.status, r.took.Round(time.Millisecond), bytes.TrimSpace(r.body))
}

// call sends one request; body is JSON (any) or a form (url.Values).
func call(method, target string, header http.Header, body any) reply {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return reply{err: err}
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return reply{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	start := time.Now()
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: data, took: time.Since(start), err: err}
}

func apiKey(k string) http.Header   { return http.Header{"X-Api-Key": {k}} }
func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// decode reads r's JSON body into v, failing the test if r is not want.
func decode(t *testing.T, what string, r reply, want int, v any) {
	t.Helper()
	if r.err != nil || r.status != want {
		t.Fatalf("%s: %s (want %d)", what, r, want)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: %v in %s", what, err, r.body)
		}
	}
}

// fixture is what the fault tests send traffic with: an upstream, an API
// key and a JWT client, and a gateway route for each.
type fixture struct {
	c        *testcluster.Cluster
	upstream *httptest.Server
	// slowStarted receives once per request to /k/slow, which answers
	// after slowFor.
	slowStarted chan struct{}
	key         string // an API key with the scope orders:read
	keyID       string
	clientID    string
	secret      string
}

const (
	audience = "https://orders.example.test"
	slowFor  = 3 * time.Second
)

// newFixture makes the fixture and waits until every node's gateway serves
// both routes. limited gives the key and both routes (per route and per
// client) rate limits, far from reached, which go through Redis.
func newFixture(t *testing.T, c *testcluster.Cluster, limited bool) *fixture {
	t.Helper()
	f := &fixture{c: c, slowStarted: make(chan struct{}, 16)}
	f.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			f.slowStarted <- struct{}{}
			time.Sleep(slowFor)
		}
		io.WriteString(w, "upstream ok\n")
	}))
	t.Cleanup(f.upstream.Close)
	admin := apiKey(c.AdminKey)

	keyReq := map[string]any{"owner": "orders-service", "name": "fixture", "scopes": []string{"orders:read"}}
	unreached := map[string]any{"rate": 100000, "burst": 100000}
	if limited {
		keyReq["rate_limit"] = unreached
	}
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	decode(t, "create the fixture's key", call("POST", c.APIURL+"/admin/v1/keys", admin, keyReq), http.StatusCreated, &key)
	f.key, f.keyID = key.Key, key.ID

	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	decode(t, "create the fixture's client", call("POST", c.APIURL+"/admin/v1/clients", admin, map[string]any{
		"name": "orders-client", "grant_types": []string{"client_credentials"},
		"scopes": []string{"orders:read"}, "audiences": []string{audience},
	}), http.StatusCreated, &client)
	f.clientID, f.secret = client.ClientID, client.ClientSecret

	for _, rt := range []map[string]any{
		{"name": "orders-key", "path": "/k", "upstreams": []string{f.upstream.URL}, "policy": "api_key", "scopes": []string{"orders:read"}},
		{"name": "orders-jwt", "path": "/j", "upstreams": []string{f.upstream.URL}, "policy": "jwt", "scopes": []string{"orders:read"}, "audience": audience},
	} {
		if limited {
			rt["rate_limit"], rt["client_rate_limit"] = unreached, unreached
		}
		decode(t, "create route "+rt["name"].(string), call("POST", c.APIURL+"/admin/v1/routes", admin, rt), http.StatusCreated, nil)
	}
	tok := f.token(t)
	for _, n := range c.Nodes {
		waitUntil(t, 15*time.Second, n.Name+"'s gateway to serve both routes", func() bool {
			return call("GET", n.GatewayURL+"/k", apiKey(f.key), nil).status == http.StatusOK &&
				call("GET", n.GatewayURL+"/j", bearer(tok), nil).status == http.StatusOK
		})
	}
	return f
}

// token gets an access token for the fixture's client through the balancer.
func (f *fixture) token(t *testing.T) string {
	t.Helper()
	tok, r := f.tryToken()
	if tok == "" {
		t.Fatalf("client_credentials token: %s", r)
	}
	return tok
}

func (f *fixture) tryToken() (string, reply) {
	h := http.Header{}
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(f.clientID, f.secret)
	h.Set("Authorization", req.Header.Get("Authorization"))
	r := call("POST", f.c.APIURL+"/oauth2/token", h, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}})
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if r.err != nil || r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil {
		return "", r
	}
	return out.AccessToken, r
}

// verify asks base (a node or the balancer) about key.
func verify(base, key string) (valid bool, r reply) {
	r = call("POST", base+"/v1/keys/verify", nil, map[string]any{"key": key})
	var out struct {
		Valid bool `json:"valid"`
	}
	if r.err == nil && r.status == http.StatusOK {
		json.Unmarshal(r.body, &out)
	}
	return out.Valid, r
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load runs operations in a loop from several workers until Stop, and
// counts what they return: nil is a success, an error a failure.
type load struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	ok, fail atomic.Int64
	mu       sync.Mutex
	failures []string // the first few, for the report
}

// startLoad starts one worker per operation.
func startLoad(ops ...func() error) *load {
	l := &load{stop: make(chan struct{})}
	for _, op := range ops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := op(); err != nil {
					l.fail.Add(1)
					l.mu.Lock()
					if len(l.failures) < 20 {
						l.failures = append(l.failures, time.Now().Format("15:04:05.000 ")+err.Error())
					}
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

// Stop ends the load and waits for the workers.
func (l *load) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *load) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := fmt.Sprintf("%d succeeded, %d failed", l.ok.Load(), l.fail.Load())
	if len(l.failures) > 0 {
		msg += "; first failures:\n  " + strings.Join(l.failures, "\n  ")
	}
	return msg
}

// expect turns a reply into a load outcome.
func expect(what string, r reply, want int) error {
	if r.err != nil || r.status != want {
		return fmt.Errorf("%s: %s", what, r)
	}
	return nil
}

// waitProgress waits until the load has made n more successful requests,
// so that each step of a test happens under load.
func (l *load) waitProgress(t *testing.T, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d more successful requests", n), func() bool { return l.ok.Load() >= target })
}
