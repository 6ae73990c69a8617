package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/testcluster"
)

// scope and audience are those of every client and key the harness makes.
const (
	scope    = "orders:read"
	audience = "https://orders.example.test"
)

// fixture is what the load and the trials share: the cluster, an upstream
// service behind the gateway routes, and the credentials made at the start.
type fixture struct {
	c   *testcluster.Cluster
	hc  *http.Client
	adm *admin.Client // through the balancer
	// run makes names unique to this run: the Redis buckets outlive it.
	run string

	upstream string // URL of the service behind the routes
	stopUp   func()

	client   *admin.CreatedClient // confidential, client_credentials
	keys     []string             // plaintext keys for the load
	jwtRoute string               // path of a jwt route
	keyRoute string               // path of an api_key route
	// newTokens makes the JWT-route calls use the token issued last
	// rather than the first one.
	newTokens bool
}

// newHTTPClient is a keep-alive client for many concurrent requests to a
// few hosts; it never follows redirects (the harness checks them).
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 128
	return &http.Client{
		Transport:     tr,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// newID returns a short random lower-case name part.
func newID() string { return strings.ToLower(rand.Text()[:10]) }

func setup(ctx context.Context, c *testcluster.Cluster, loadKeys int) (*fixture, error) {
	f := &fixture{c: c, hc: newHTTPClient(), run: newID()}
	f.adm = admin.NewClient(c.APIURL, c.AdminKey, f.hc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	f.upstream = "http://" + ln.Addr().String()
	f.stopUp = func() { srv.Close() }

	if f.client, err = f.newClient(ctx, "load"); err != nil {
		return nil, err
	}
	for range loadKeys {
		k, err := f.newKey(ctx, nil)
		if err != nil {
			return nil, err
		}
		f.keys = append(f.keys, k.Secret)
	}
	f.jwtRoute, f.keyRoute = "/load-jwt-"+f.run, "/load-key-"+f.run
	for _, r := range []admin.RouteRequest{
		{Name: "load-jwt-" + f.run, Path: f.jwtRoute, Upstreams: []string{f.upstream}, Policy: "jwt", Scopes: []string{scope}, AnyAudience: true},
		{Name: "load-key-" + f.run, Path: f.keyRoute, Upstreams: []string{f.upstream}, Policy: "api_key", Scopes: []string{scope}},
	} {
		if _, err := f.adm.CreateRoute(ctx, r); err != nil {
			return nil, fmt.Errorf("create route %s: %w", r.Name, err)
		}
	}
	// Every node serves both routes (401 without a credential, not 404)
	// before any load starts.
	for _, n := range c.Nodes {
		for _, path := range []string{f.jwtRoute, f.keyRoute} {
			if err := f.until(ctx, 15*time.Second, func() bool {
				st, _, _ := f.get(ctx, n.GatewayURL+path, nil)
				return st == http.StatusUnauthorized
			}); err != nil {
				return nil, fmt.Errorf("%s does not serve %s: %w", n.Name, path, err)
			}
		}
	}
	return f, nil
}

func (f *fixture) close() { f.stopUp() }

// newClient registers a confidential client_credentials client.
func (f *fixture) newClient(ctx context.Context, name string) (*admin.CreatedClient, error) {
	cl, err := f.adm.CreateClient(ctx, admin.ClientRequest{Name: name + "-" + f.run, GrantTypes: []string{"client_credentials"},
		Scopes: []string{scope}, Audiences: []string{audience}})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return cl, nil
}

// newKey creates a key holding scope, with the rate limit given (nil: none).
func (f *fixture) newKey(ctx context.Context, limit *admin.RateLimit) (*admin.CreatedKey, error) {
	k, err := f.adm.CreateKey(ctx, admin.CreateKeyRequest{Owner: "cluster-" + f.run, Scopes: []string{scope}, RateLimit: limit})
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	return k, nil
}

// until polls cond every 2 ms until it holds or within passes.
func (f *fixture) until(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// send makes a request and returns its status and body; a transport error
// is status 0.
func (f *fixture) send(ctx context.Context, method, u string, header http.Header, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

func (f *fixture) get(ctx context.Context, u string, header http.Header) (int, []byte, error) {
	return f.send(ctx, http.MethodGet, u, header, nil)
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

var tokenForm = []byte(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode())

// issue asks base's token endpoint for a client_credentials token: its
// status and, on 200, the access token.
func (f *fixture) issue(ctx context.Context, base, id, secret string) (int, string, error) {
	st, body, err := f.send(ctx, http.MethodPost, base+"/oauth2/token", http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {basic(id, secret)},
	}, tokenForm)
	if err != nil || st != http.StatusOK {
		return st, "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return st, "", fmt.Errorf("token response without an access token: %.200s", body)
	}
	return st, tok.AccessToken, nil
}

// verify calls base's POST /v1/keys/verify: the status, and the code of a
// 200 or 429 answer.
func (f *fixture) verify(ctx context.Context, base, key string) (int, string, error) {
	body, _ := json.Marshal(admin.VerifyRequest{Key: key, Scopes: []string{scope}})
	st, resp, err := f.send(ctx, http.MethodPost, base+"/v1/keys/verify", http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil || (st != http.StatusOK && st != http.StatusTooManyRequests) {
		return st, "", err
	}
	var v admin.VerifyResponse
	if err := json.Unmarshal(resp, &v); err != nil {
		return st, "", fmt.Errorf("verify response: %w", err)
	}
	return st, v.Code, nil
}

// kid returns the key ID in a JWT's header.
func kid(token string) string {
	h, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &hdr) // a header that is not JSON has no kid
	return hdr.KID
}

// statusOf is the HTTP status of an admin client error (0 for a transport
// error).
func statusOf(err error) int {
	var pe *admin.ProblemError
	if errors.As(err, &pe) {
		return pe.Status
	}
	return 0
}
