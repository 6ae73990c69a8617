package gateway

// Tests of the gateway's hardening against misuse: identity spoofed
// through header aliases, HTTP/2, h2c upgrades and trailers; credentials
// reaching upstreams; path confusion; secrets in logs; goroutine leaks;
// tokens of the wrong type; limits dodged by switching credential.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/proxy"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// headerAliases reports whether name, read the way CGI, WSGI, PHP and
// Rack servers read it (case folded, '_' and '-' alike), is one of the
// names the gateway owns.
func headerAliases(name, owned string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	o := strings.ToLower(owned)
	if strings.HasSuffix(o, "-") {
		return strings.HasPrefix(n, o)
	}
	return n == o
}

// h2cClient talks HTTP/2 with prior knowledge, as the serve listener allows.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

func TestUnderscoreAndH2CHeadersDoNotSpoof(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("pub", "/pub", "public"))

	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	h2srv := httptest.NewUnstartedServer(e.gw)
	h2srv.Config.Protocols = &p
	h2srv.Start()
	t.Cleanup(h2srv.Close)

	spoof := map[string]string{
		"X_Gatehouse_Subject": "admin",
		"x_gatehouse_auth":    "api_key",
		"X-Gatehouse_Scopes":  "admin:all",
		"X_Forwarded_For":     "10.9.9.9",
		"X_Forwarded-Host":    "evil.example",
		"x-gatehouse-client":  "root",
	}
	for _, c := range []struct {
		name   string
		url    string
		client *http.Client
	}{
		{"http1", e.srv.URL, e.srv.Client()},
		{"h2c", h2srv.URL, h2cClient()},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", c.url+"/pub/x", nil)
			for k, v := range spoof {
				req.Header[k] = []string{v}
			}
			resp, err := c.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if c.name == "h2c" && resp.ProtoMajor != 2 {
				t.Fatalf("proto %s, want HTTP/2", resp.Proto)
			}
			got := echoOf(t, resp)
			for name, vals := range got.Header {
				if headerAliases(name, "X-Gatehouse-") {
					t.Errorf("upstream got %s: %q", name, vals)
				}
				for _, owned := range []string{"X-Forwarded-For", "X-Forwarded-Host"} {
					if headerAliases(name, owned) && name != owned {
						t.Errorf("upstream got %s: %q", name, vals)
					}
				}
			}
			if v := got.Header.Get("X-Forwarded-Host"); v == "evil.example" {
				t.Errorf("X-Forwarded-Host %q", v)
			}
		})
	}
}

func TestAPIKeyNeverForwardedOnAnyPolicy(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(
		e.route("pub", "/pub", "public"),
		e.route("key", "/key", "api_key"),
		e.route("any", "/any", "any"),
	)
	_, k1 := e.createKey("alice", nil, auth.RateLimit{})
	_, k2 := e.createKey("bob", nil, auth.RateLimit{})

	cases := []struct {
		name, path string
		header     [][2]string
	}{
		{"public bearer", "/pub/x", [][2]string{{"Authorization", "Bearer " + k1}}},
		{"public lower bearer", "/pub/x", [][2]string{{"Authorization", "bearer   " + k1}}},
		{"public tab", "/pub/x", [][2]string{{"Authorization", "Bearer\t" + k1}}},
		{"api_key two authorization", "/key/x", [][2]string{{"X-API-Key", k1}, {"Authorization", "Bearer a.b.c"}, {"Authorization", "Bearer " + k2}}},
		{"any two authorization", "/any/x", [][2]string{{"X-API-Key", k1}, {"Authorization", "Basic Zm9vOmJhcg=="}, {"Authorization", "Bearer " + k2}}},
		{"api_key tab", "/key/x", [][2]string{{"X-API-Key", k1}, {"Authorization", "Bearer\t" + k2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+c.path, nil)
			for _, h := range c.header {
				req.Header.Add(h[0], h[1])
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := echoOf(t, resp)
			for name, vals := range got.Header {
				for _, v := range vals {
					if strings.Contains(v, k1) || strings.Contains(v, k2) {
						t.Errorf("upstream got the API key in %s", name)
					}
				}
			}
		})
	}
}

func TestPathConfusionRefused(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("root", "/", "public"), e.route("admin", "/admin", "jwt"))
	for _, p := range []string{
		"//admin/users",
		"/x//admin",
		"/admin/..;/x",
		"/pub/..;/admin/users",
		"/pub/..%5Cadmin/users",
		"/pub/%2e%2e%5cadmin",
		"/x/a;b", // a ';' needs a route that allows path parameters
	} {
		t.Run(p, func(t *testing.T) {
			resp := e.do("GET", p)
			wantStatus(t, resp, http.StatusBadRequest)
		})
	}
	before := e.upstream.count()
	// Ordinary paths still pass, trailing slash included.
	for _, p := range []string{"/", "/x/", "/x/a.b/c", "/x/...b", "/x/a.b"} {
		wantStatus(t, e.do("GET", p), http.StatusOK)
	}
	if e.upstream.count() != before+5 {
		t.Fatalf("upstream count %d, want %d", e.upstream.count(), before+5)
	}
}

func TestUpstreamErrorLogHasNoQuery(t *testing.T) {
	e := newTestEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	e.setRoutes(auth.Route{Name: "dead", PathPrefix: "/dead", Policy: "public", Upstreams: []string{dead}})
	resp := e.do("GET", "/dead/x?access_token=SECRET-VALUE-123")
	wantStatus(t, resp, http.StatusBadGateway)
	if logs := e.logs.String(); strings.Contains(logs, "SECRET-VALUE-123") {
		t.Fatalf("the query reached the logs:\n%s", logs)
	}
}

func TestRequestTrailersCannotSpoofIdentity(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = r.Trailer.Clone()
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	e := newTestEnv(t)
	e.setRoutes(auth.Route{Name: "pub", PathPrefix: "/pub", Policy: "public", Upstreams: []string{up.URL}})

	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /pub/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Gatehouse-Subject, X_Gatehouse_Auth\r\n\r\n"+
		"2\r\nhi\r\n0\r\nX-Gatehouse-Subject: admin\r\nX_Gatehouse_Auth: jwt\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	for name, vals := range got {
		if headerAliases(name, "X-Gatehouse-") && len(vals) > 0 {
			t.Errorf("upstream got trailer %s: %q", name, vals)
		}
	}
}

func TestStripHeadersUnderscoreAliases(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("pub", "/pub", "public")
	r.StripHeaders = []string{"X-User-Id"}
	e.setRoutes(r)
	req, _ := http.NewRequest("GET", e.srv.URL+"/pub/x", nil)
	req.Header["X_User_Id"] = []string{"admin"}
	req.Header["x-user-id"] = []string{"admin"}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := echoOf(t, resp)
	for name := range got.Header {
		if headerAliases(name, "X-User-Id") {
			t.Errorf("upstream got %s", name)
		}
	}
}

// TestNoGoroutineLeak sends requests that succeed, time out, find their
// upstream dead, stream, are cancelled by the client and lose their
// upstream mid-body; once the servers and idle connections are closed,
// the goroutines are back to where they were.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	// A subtest, so that the environment's cleanups (database, echo
	// upstream) have run when the goroutines are counted.
	t.Run("traffic", func(t *testing.T) {
		tr := proxy.NewTransport(8)
		defer tr.CloseIdleConnections()
		release := make(chan struct{})
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/hang":
				select {
				case <-r.Context().Done():
				case <-release:
				}
			case "/cut":
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte("short"))
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			case "/stream":
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write([]byte("data: 1\n\n"))
				_ = http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
				case <-release:
				}
			default:
				_, _ = io.WriteString(w, "ok")
			}
		}))
		defer up.Close()
		defer close(release)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()

		e := newTestEnv(t, func(c *Config) { c.Transport = tr })
		e.setRoutes(
			auth.Route{Name: "up", PathPrefix: "/", Policy: "public", Upstreams: []string{up.URL}, Timeout: 300 * time.Millisecond},
			auth.Route{Name: "dead", PathPrefix: "/dead", Policy: "public", Upstreams: []string{dead}},
		)
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		get := func(path string) {
			resp, err := client.Get(e.srv.URL + path)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		for range 5 {
			get("/ok")
			get("/hang") // 504 after the route's timeout
			get("/dead/x")
			get("/cut")
			// A stream the client leaves after its first event.
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/stream", nil)
			if resp, err := client.Do(req); err == nil {
				_, _ = resp.Body.Read(make([]byte, 16))
				cancel()
				resp.Body.Close()
			} else {
				cancel()
			}
		}
		e.srv.CloseClientConnections()
		e.srv.Close()
		_ = e.gw.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+2 { // slack for the runtime's own
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An ID token (typ JWT) signed with Gatehouse's own keys is no access
// token: it is refused on a Gatehouse route, cached or not.
func TestOwnIDTokenRefused(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("api", "/api", "jwt"), e.route("any", "/any", "any"))
	now := e.clock.Now()
	idt, err := e.keyring.Sign("JWT", verify.Claims{
		Issuer: testIssuer, Subject: "alice", Audience: []string{"client-1"}, ID: "idt-1",
		IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/x", "/any/x", "/api/x"} {
		resp := e.do("GET", p, "Authorization", "Bearer "+idt)
		wantStatus(t, resp, http.StatusUnauthorized)
	}
	if e.upstream.count() != 0 {
		t.Fatal("an ID token reached the upstream")
	}
}

// The per-client limit follows the caller, not the way it sends its
// credential: X-API-Key, Authorization: Bearer, and the same user's JWT
// draw from one bucket.
func TestClientLimitNotBypassedBySwitchingCredential(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("any", "/any", "any")
	r.ClientRateLimit = auth.RateLimit{Rate: 0.001, Burst: 2}
	e.setRoutes(r)
	_, key := e.createKey("alice", nil, auth.RateLimit{})
	tok := e.token(tokenClaims{Sub: "alice"})
	wantStatus(t, e.do("GET", "/any/x", "X-API-Key", key), http.StatusOK)
	wantStatus(t, e.do("GET", "/any/x", "Authorization", "Bearer "+key), http.StatusOK)
	resp := e.do("GET", "/any/x", "Authorization", "bearer "+key)
	wantStatus(t, resp, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Limit") != "2" {
		t.Errorf("429 headers: %v", resp.Header)
	}
	wantStatus(t, e.do("GET", "/any/x", "Authorization", "Bearer "+tok), http.StatusTooManyRequests)
	// Another caller is independent.
	_, other := e.createKey("bob", nil, auth.RateLimit{})
	wantStatus(t, e.do("GET", "/any/x", "X-API-Key", other), http.StatusOK)
}

// A route reloaded with other upstreams gets internal tokens for them: a
// token minted for the old upstreams (its aud) is not reused.
func TestInternalJWTAfterUpstreamChange(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.InternalTokenTTL = time.Hour })
	r := e.route("internal", "/in", auth.PolicyAPIKey)
	r.InternalJWT = true
	e.setRoutes(r)
	_, key := e.createKey("svc", nil, auth.RateLimit{})
	echoOf(t, e.do("GET", "/in", "X-API-Key", key))

	second := newEchoUpstream(t)
	r.Upstreams = []string{second.URL}
	e.setRoutes(r)
	resp := e.do("GET", "/in", "X-API-Key", key)
	got := echoOf(t, resp)
	v, err := verify.New(verify.Config{Issuer: testIssuer, JWKS: e.keyring.JWKS, Audience: second.URL, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok, _ := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("the new upstream cannot verify its internal token: %v", err)
	}
}

// h2c smuggling: "Upgrade: h2c" must not reach the upstream. An upstream
// that accepts the upgrade would turn the connection into an HTTP/2
// tunnel on which the caller sends any request to any path, past every
// route and policy of the gateway.
func TestH2CUpgradeNotForwarded(t *testing.T) {
	e := newTestEnv(t)
	var mu sync.Mutex
	var upgrades []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upgrades = append(upgrades, r.Header.Values("Upgrade")...)
		mu.Unlock()
		if !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
			_, _ = io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "h2c")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("tunnel: " + line)
		_ = brw.Flush()
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "pub", PathPrefix: "/pub", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})

	for _, upgrade := range []string{"h2c", "H2C", "websocket, h2c"} {
		conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(conn, "GET /pub/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: %s\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", upgrade)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Errorf("Upgrade: %s: the gateway switched protocols to the upstream's h2c", upgrade)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, u := range upgrades {
		if strings.Contains(strings.ToLower(u), "h2c") {
			t.Errorf("the upstream got Upgrade: %s", u)
		}
	}
}

// On a route that takes both API keys and another provider's tokens, the
// provider's subjects are not Gatehouse's key owners: a partner user whose
// sub happens to be (or is chosen as) a key owner's name must not spend
// that owner's per-client allowance.
func TestExternalSubjectsHaveTheirOwnBuckets(t *testing.T) {
	e := newTestEnv(t)
	idp := newTestIdP(t)
	r := e.route("mixed", "/m", auth.PolicyAny)
	r.Issuer = idp.URL
	r.Audience, r.AnyAudience = "partner-api", false
	r.ClientRateLimit = auth.RateLimit{Rate: 0.001, Burst: 1}
	e.setRoutes(r)
	_, key := e.createKey("victim", nil, auth.RateLimit{})
	tok := idp.token(t, e.clock.Now(), map[string]any{"sub": "victim", "aud": "partner-api"})
	wantStatus(t, e.doOnceKeysFetched("GET", "/m/x", "Authorization", "Bearer "+tok), http.StatusOK)
	wantStatus(t, e.do("GET", "/m/x", "X-API-Key", key), http.StatusOK)
}
