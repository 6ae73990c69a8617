package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// namedUpstream answers with its own name, so a test sees which route won.
func namedUpstream(t testing.TB, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		w.Header().Set("X-Seen-Path", r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func TestRouteMatching(t *testing.T) {
	e := newTestEnv(t)
	pub := func(name, path string, hosts, methods []string) auth.Route {
		return auth.Route{Name: name, PathPrefix: path, Hosts: hosts, Methods: methods, Policy: auth.PolicyPublic,
			Upstreams: []string{namedUpstream(t, name)}}
	}
	e.setRoutes(
		pub("root", "/", nil, nil),
		pub("api", "/api", nil, nil),
		pub("api-orders", "/api/orders", nil, nil),
		pub("api-orders-host", "/api/orders", []string{"shop.example.com"}, nil),
		pub("b-same", "/same", nil, nil),
		pub("a-same", "/same", nil, nil),
		pub("wild", "/w", []string{"*.example.org"}, nil),
		pub("only-get", "/ro", nil, []string{"GET", "HEAD"}),
	)
	cases := []struct {
		method, path, host, want string
	}{
		{"GET", "/", "", "root"},
		{"GET", "/apix", "", "root"}, // segment boundary
		{"GET", "/api", "", "api"},
		{"GET", "/api/x", "", "api"},
		{"GET", "/api/orders/1", "", "api-orders"},
		{"GET", "/api/orders/1", "shop.example.com", "api-orders-host"},
		{"GET", "/api/orders/1", "SHOP.Example.COM:8443", "api-orders-host"}, // case and port ignored
		{"GET", "/api/orders/1", "other.example.com", "api-orders"},
		{"GET", "/same", "", "a-same"}, // name order breaks a tie
		{"GET", "/w/1", "a.example.org", "wild"},
		{"GET", "/w/1", "example.org", "root"},
		{"GET", "/ro", "", "only-get"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s %s", tc.method, tc.host, tc.path), func(t *testing.T) {
			h := []string{}
			if tc.host != "" {
				h = append(h, "Host", tc.host)
			}
			resp := e.do(tc.method, tc.path, h...)
			wantStatus(t, resp, http.StatusOK)
			if got := resp.Header.Get("X-Upstream"); got != tc.want {
				t.Errorf("went to %q, want %q", got, tc.want)
			}
		})
	}
	// A method the most specific prefix's routes do not take is refused,
	// never handed to a shorter prefix ("/", public here): that would
	// turn "/admin for GET only" into "/admin open for DELETE".
	resp := e.do("POST", "/ro/1")
	wantStatus(t, resp, http.StatusMethodNotAllowed)
	if got := resp.Header.Get("Allow"); got != "GET, HEAD" || resp.Header.Get("X-Upstream") != "" {
		t.Errorf("POST /ro/1: Allow %q, upstream %q", got, resp.Header.Get("X-Upstream"))
	}
}

func TestNoRouteAndWrongMethod(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("ro", "/ro", auth.PolicyPublic)
	r.Methods = []string{"GET", "HEAD"}
	r2 := e.route("ro-post", "/ro", auth.PolicyPublic)
	r2.Hosts = []string{"post.example.com"}
	r2.Methods = []string{"POST"}
	e.setRoutes(r, r2)

	resp := e.do("GET", "/nowhere")
	wantStatus(t, resp, http.StatusNotFound)
	var p problem.Details
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Status != 404 || p.Title == "" || p.Type != "urn:gatehouse:problem:no_route" {
		t.Errorf("404 body: %+v, %v", p, err)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}

	resp = e.do("DELETE", "/ro/1")
	wantStatus(t, resp, http.StatusMethodNotAllowed)
	if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q, want the methods of routes for this host and path", got)
	}
	resp = e.do("DELETE", "/ro/1", "Host", "post.example.com")
	wantStatus(t, resp, http.StatusMethodNotAllowed)
	if got := resp.Header.Get("Allow"); got != "GET, HEAD, POST" {
		t.Errorf("Allow = %q", got)
	}
	if n := value(t, e.gw.metrics.refusals.WithLabelValues("none", "no_route")); n != 1 {
		t.Errorf("refusals{none,no_route} = %v", n)
	}
	if n := value(t, e.gw.metrics.requests.WithLabelValues("none", "405")); n != 2 {
		t.Errorf("requests{none,405} = %v", n)
	}
	var m dto.Metric
	if err := e.gw.metrics.duration.WithLabelValues("none").(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("request_duration_seconds{none} has %d samples, want 3", n)
	}
}

func TestRequestID(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("open", "/", auth.PolicyPublic))

	resp := e.do("GET", "/", "X-Request-Id", "abc-123.X:y_z")
	got := echoOf(t, resp)
	if got.Header.Get("X-Request-Id") != "abc-123.X:y_z" || resp.Header.Get("X-Request-Id") != "abc-123.X:y_z" {
		t.Errorf("a valid id was not kept: upstream %q, response %q", got.Header.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
	}
	for _, bad := range []string{"", "has space", "quote\"", strings.Repeat("a", 129), "<script>"} {
		resp := e.do("GET", "/", "X-Request-Id", bad)
		got := echoOf(t, resp)
		id := resp.Header.Get("X-Request-Id")
		if id == bad || !validRequestID(id) || got.Header.Get("X-Request-Id") != id {
			t.Errorf("%q: response id %q, upstream id %q", bad, id, got.Header.Get("X-Request-Id"))
		}
	}
	// Two ids: ambiguous, replaced.
	resp = e.do("GET", "/", "X-Request-Id", "a", "X-Request-Id", "b")
	if id := resp.Header.Get("X-Request-Id"); id == "a" || id == "b" || !validRequestID(id) {
		t.Errorf("two ids: got %q", id)
	}
}

func TestClientIP(t *testing.T) {
	g := &Gateway{cfg: Config{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}}}
	cases := []struct {
		name, remote string
		xff          []string
		want         string
		keepXFF      bool
	}{
		{"untrusted peer: XFF ignored and removed", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9", false},
		{"trusted peer: right-most untrusted", "10.0.0.1:5000", []string{"1.2.3.4, 198.51.100.7, 10.0.0.2"}, "198.51.100.7", true},
		{"trusted peer over several headers", "10.0.0.1:5000", []string{"1.2.3.4", "198.51.100.7"}, "198.51.100.7", true},
		{"trusted peer, all trusted", "10.0.0.1:5000", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1", true},
		{"trusted peer, no XFF", "10.0.0.1:5000", nil, "10.0.0.1", true},
		{"trusted peer, garbage stops the walk", "10.0.0.1:5000", []string{"1.2.3.4, garbage, 10.0.0.3"}, "10.0.0.3", true},
		{"IPv6 trusted peer", "[::1]:80", []string{"2001:db8::1"}, "2001:db8::1", true},
		{"IPv4-mapped peer", "[::ffff:10.0.0.1]:80", []string{"192.0.2.1"}, "192.0.2.1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			r.Header.Set("X-Forwarded-Host", "spoof.example.com")
			if _, got := g.clientIP(r); got != tc.want {
				t.Errorf("client IP = %q, want %q", got, tc.want)
			}
			if kept := r.Header.Get("X-Forwarded-Host") != ""; kept != tc.keepXFF {
				t.Errorf("X-Forwarded-Host kept = %v, want %v", kept, tc.keepXFF)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:1", "1.2.3.4, 10.0.0.2")
	f.Add("[::1]:1", "::ffff:1.2.3.4,,, ")
	f.Add("garbage", "x")
	g := &Gateway{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		_, ip := g.clientIP(r)
		if peer, err := netip.ParseAddrPort(remote); err == nil && !ratelimit.Trusted(peer.Addr(), g.cfg.TrustedProxies) && ip != peer.Addr().Unmap().String() {
			t.Fatalf("untrusted peer %q: client IP %q taken from X-Forwarded-For", remote, ip)
		}
	})
}

func FuzzRequestID(f *testing.F) {
	f.Add("abc")
	f.Add("a b")
	f.Fuzz(func(t *testing.T, id string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["X-Request-Id"] = []string{id}
		got := requestID(r)
		if !validRequestID(got) {
			t.Fatalf("request id %q is not valid", got)
		}
		if validRequestID(id) != (got == id) {
			t.Fatalf("id %q: got %q", id, got)
		}
	})
}

func TestTrustedProxyEndToEnd(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	r := e.route("open", "/", auth.PolicyPublic)
	r.ClientRateLimit = auth.RateLimit{Rate: 1, Burst: 1}
	e.setRoutes(r)
	// Two clients behind the trusted proxy have their own buckets.
	echoOf(t, e.do("GET", "/", "X-Forwarded-For", "198.51.100.1"))
	got := echoOf(t, e.do("GET", "/", "X-Forwarded-For", "198.51.100.2"))
	if xff := got.Header.Get("X-Forwarded-For"); !strings.HasPrefix(xff, "198.51.100.2") {
		t.Errorf("upstream X-Forwarded-For = %q, want the client's kept", xff)
	}
	wantStatus(t, e.do("GET", "/", "X-Forwarded-For", "198.51.100.1"), http.StatusTooManyRequests)
}

func TestUntrustedForwardedForIsIgnored(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("open", "/", auth.PolicyPublic)
	r.ClientRateLimit = auth.RateLimit{Rate: 1, Burst: 1}
	e.setRoutes(r)
	got := echoOf(t, e.do("GET", "/", "X-Forwarded-For", "198.51.100.1", "X-Forwarded-Host", "evil.example.com"))
	if xff := got.Header.Get("X-Forwarded-For"); strings.Contains(xff, "198.51.100.1") {
		t.Errorf("a spoofed X-Forwarded-For reached the upstream: %q", xff)
	}
	if h := got.Header.Get("X-Forwarded-Host"); h == "evil.example.com" {
		t.Error("a spoofed X-Forwarded-Host reached the upstream")
	}
	// Changing the spoofed header does not buy a new bucket.
	wantStatus(t, e.do("GET", "/", "X-Forwarded-For", "198.51.100.2"), http.StatusTooManyRequests)
}

func TestRateLimits(t *testing.T) {
	e := newTestEnv(t)
	shared := e.route("shared", "/shared", auth.PolicyAPIKey)
	shared.RateLimit = auth.RateLimit{Rate: 1, Burst: 3}
	per := e.route("per", "/per", auth.PolicyAPIKey)
	per.ClientRateLimit = auth.RateLimit{Rate: 1, Burst: 2}
	jwt := e.route("perjwt", "/jwt", auth.PolicyJWT)
	jwt.ClientRateLimit = auth.RateLimit{Rate: 1, Burst: 1}
	none := e.route("none", "/free", auth.PolicyAPIKey)
	e.setRoutes(shared, per, jwt, none)
	_, k1 := e.createKey("one", nil, auth.RateLimit{})
	_, k2 := e.createKey("two", nil, auth.RateLimit{})

	t.Run("route limit is shared by every caller", func(t *testing.T) {
		resp := e.do("GET", "/shared", "X-API-Key", k1)
		wantStatus(t, resp, 200)
		if resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != "2" {
			t.Errorf("RateLimit headers on success: %v", resp.Header)
		}
		wantStatus(t, e.do("GET", "/shared", "X-API-Key", k2), 200)
		wantStatus(t, e.do("GET", "/shared", "X-API-Key", k1), 200)
		resp = e.do("GET", "/shared", "X-API-Key", k2)
		wantStatus(t, resp, http.StatusTooManyRequests)
		for h, want := range map[string]string{"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "Retry-After": "1", "RateLimit-Reset": "3"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if n := value(t, e.gw.metrics.refusals.WithLabelValues("shared", "rate_limited")); n != 1 {
			t.Errorf("refusals{shared,rate_limited} = %v", n)
		}
	})
	t.Run("client limits are independent", func(t *testing.T) {
		for range 2 {
			wantStatus(t, e.do("GET", "/per", "X-API-Key", k1), 200)
		}
		wantStatus(t, e.do("GET", "/per", "X-API-Key", k1), http.StatusTooManyRequests)
		wantStatus(t, e.do("GET", "/per", "X-API-Key", k2), 200)
		e.clock.Add(time.Second)
		wantStatus(t, e.do("GET", "/per", "X-API-Key", k1), 200)
	})
	t.Run("JWT subjects are the clients", func(t *testing.T) {
		a := e.token(tokenClaims{Sub: "a", ClientID: "same-app"})
		b := e.token(tokenClaims{Sub: "b", ClientID: "same-app"})
		wantStatus(t, e.do("GET", "/jwt", "Authorization", "Bearer "+a), 200)
		wantStatus(t, e.do("GET", "/jwt", "Authorization", "Bearer "+a), http.StatusTooManyRequests)
		wantStatus(t, e.do("GET", "/jwt", "Authorization", "Bearer "+b), 200)
	})
	t.Run("Retry-After is the limit's own delay", func(t *testing.T) {
		slow := e.route("slow", "/slow", auth.PolicyPublic)
		slow.RateLimit = auth.RateLimit{Rate: 0.1, Burst: 1}
		e.setRoutes(shared, per, jwt, none, slow)
		wantStatus(t, e.do("GET", "/slow"), 200)
		resp := e.do("GET", "/slow")
		wantStatus(t, resp, http.StatusTooManyRequests)
		if got := resp.Header.Get("Retry-After"); got != "10" {
			t.Errorf("Retry-After = %q, want 10", got)
		}
	})
	t.Run("no limit, no headers", func(t *testing.T) {
		resp := e.do("GET", "/free", "X-API-Key", k1)
		wantStatus(t, resp, 200)
		if v := resp.Header.Get("RateLimit-Limit"); v != "" {
			t.Errorf("RateLimit-Limit = %q on a route without limits", v)
		}
	})
}

func TestUpstreamRefusalsPassThrough(t *testing.T) {
	e := newTestEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/401":
			w.Header().Set("WWW-Authenticate", `Bearer realm="upstream", error="invalid_token"`)
			w.WriteHeader(401)
			_, _ = w.Write([]byte("upstream says no"))
		case "/429":
			w.Header().Set("Retry-After", "7")
			w.Header().Set("RateLimit-Limit", "99")
			w.WriteHeader(429)
			_, _ = w.Write([]byte("upstream busy"))
		}
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "up", PathPrefix: "/", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})

	resp := e.do("GET", "/401")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="upstream", error="invalid_token"` || body(t, resp) != "upstream says no" {
		t.Errorf("upstream 401 changed: %d %v", resp.StatusCode, resp.Header)
	}
	resp = e.do("GET", "/429")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("RateLimit-Limit") != "99" || body(t, resp) != "upstream busy" {
		t.Errorf("upstream 429 changed: %d %v", resp.StatusCode, resp.Header)
	}
	if n := series(e.gw.metrics.refusals); n != 0 {
		t.Errorf("%d refusal series after upstream refusals, want none", n)
	}
	if n := value(t, e.gw.metrics.requests.WithLabelValues("up", "429")); n != 1 {
		t.Errorf("requests{up,429} = %v", n)
	}
}

func TestUpstreamErrorsCounted(t *testing.T) {
	e := newTestEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	e.setRoutes(auth.Route{Name: "dead", PathPrefix: "/", Policy: auth.PolicyPublic, Upstreams: []string{deadURL}})
	wantStatus(t, e.do("GET", "/"), http.StatusBadGateway)
	if n := value(t, e.gw.metrics.upstreamEr.WithLabelValues("dead", "unavailable")); n < 1 {
		t.Errorf("upstream_errors{dead,unavailable} = %v", n)
	}
}

func TestSetRoutes(t *testing.T) {
	e := newTestEnv(t)
	a := e.route("a", "/a", auth.PolicyPublic)
	e.setRoutes(a)
	p := e.gw.table.Load().routes[0].proxy

	t.Run("invalid set keeps the old table", func(t *testing.T) {
		for name, set := range map[string][]auth.Route{
			"duplicate name": {a, a},
			"invalid route":  {a, {Name: "Bad Name", Policy: "public", Upstreams: []string{e.upstream.URL}}},
			"no upstream":    {{Name: "x", Policy: "public"}},
		} {
			if err := e.gw.SetRoutes(set); err == nil {
				t.Errorf("%s: SetRoutes accepted it", name)
			}
		}
		if rs := e.gw.Routes(); len(rs) != 1 || rs[0].Name != "a" {
			t.Errorf("Routes = %+v", rs)
		}
		wantStatus(t, e.do("GET", "/a"), 200)
	})
	t.Run("internal_jwt without a Signer is refused", func(t *testing.T) {
		signer := e.gw.cfg.Signer
		e.gw.cfg.Signer = nil
		defer func() { e.gw.cfg.Signer = signer }()
		r := e.route("in", "/in", auth.PolicyJWT)
		r.InternalJWT = true
		if err := e.gw.SetRoutes([]auth.Route{a, r}); err == nil {
			t.Error("SetRoutes accepted internal_jwt without a Signer")
		}
	})
	t.Run("unchanged forwarding keeps its proxy", func(t *testing.T) {
		a2 := a
		a2.Scopes = nil
		a2.RateLimit = auth.RateLimit{Rate: 5, Burst: 5}
		e.setRoutes(a2, e.route("b", "/b", auth.PolicyPublic))
		if got, _ := e.gw.table.Load().match("", "/a", "GET"); got == nil || got.proxy != p {
			t.Error("the proxy of an unchanged route was rebuilt")
		}
		a3 := a
		a3.StripPrefix = true
		e.setRoutes(a3)
		if got, _ := e.gw.table.Load().match("", "/a", "GET"); got == nil || got.proxy == p {
			t.Error("a changed route kept its old proxy")
		}
	})
	t.Run("the caller's records are not shared", func(t *testing.T) {
		r := e.route("c", "/c", auth.PolicyPublic)
		r.Methods = []string{"get"}
		e.setRoutes(r)
		if r.Methods[0] != "get" {
			t.Error("SetRoutes normalized the caller's slice")
		}
		rs := e.gw.Routes()
		rs[0].Methods[0] = "POST"
		if e.gw.Routes()[0].Methods[0] != "GET" {
			t.Error("Routes shares memory with the table")
		}
	})
}

// TestReloadUnderLoad swaps the table continuously while 8 goroutines send
// requests: none may fail.
func TestReloadUnderLoad(t *testing.T) {
	e := newTestEnv(t)
	_, key := e.createKey("load", nil, auth.RateLimit{})
	base := []auth.Route{e.route("keys", "/k", auth.PolicyAPIKey), e.route("open", "/o", auth.PolicyPublic)}
	e.setRoutes(base...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	var firstErr atomic.Value
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := e.srv.Client()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				path := "/o/x"
				req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
				if (i+n)%2 == 0 {
					req, _ = http.NewRequest("GET", e.srv.URL+"/k/x", nil)
					req.Header.Set("X-API-Key", key)
				}
				resp, err := client.Do(req)
				if err == nil {
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					resp.Body.Close()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				done.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; done.Load() < 400 || i < 200; i++ {
		if time.Now().After(deadline) {
			break
		}
		set := append([]auth.Route(nil), base...)
		// Alternate between tables that differ, so proxies are rebuilt too.
		if i%2 == 0 {
			set[1].StripPrefix = true
			set = append(set, e.route(fmt.Sprintf("extra-%d", i), fmt.Sprintf("/extra%d", i), auth.PolicyPublic))
		}
		if err := e.gw.SetRoutes(set); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failed.Load(), done.Load(), firstErr.Load())
	}
	t.Logf("%d requests during reloads, none failed", done.Load())
}

func TestAccessLog(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("open", "/", auth.PolicyPublic))
	echoOf(t, e.do("GET", "/some/path?secret=s3cr3t", "X-Request-Id", "log-me-1"))
	var line map[string]any
	for l := range strings.SplitSeq(e.logs.String(), "\n") {
		if strings.Contains(l, `"log-me-1"`) && strings.Contains(l, "gateway request") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line in %s", e.logs.String())
	}
	if line["path"] != "/some/path" || line["route"] != "open" || line["method"] != "GET" || line["status"] != float64(200) || line["client_ip"] != "127.0.0.1" {
		t.Errorf("access log line: %v", line)
	}
	if strings.Contains(e.logs.String(), "s3cr3t") {
		t.Error("the query string was logged")
	}
}

func TestDotSegmentsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("open", "/public", auth.PolicyPublic), e.route("admin", "/admin", auth.PolicyAPIKey))
	for _, p := range []string{"/public/../admin", "/public/%2e%2e/admin", "/public/./x", "/public/.."} {
		resp, err := rawGet(e.srv.URL, p)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", p, resp.StatusCode)
		}
		resp.Body.Close()
	}
	if e.upstream.count() != 0 {
		t.Error("a path with dot segments reached the upstream")
	}
	for _, p := range []string{"/public/x..y", "/public/.well-known", "/public/a%2Fb"} {
		resp, err := rawGet(e.srv.URL, p)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d, want 200", p, resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// rawGet sends a GET with the request target written exactly as given
// (Go's client would otherwise resolve dot segments).
func rawGet(base, target string) (*http.Response, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return resp, nil
}

func FuzzProtectFromConnection(f *testing.F) {
	f.Add("keep-alive, X-Gatehouse-Subject")
	f.Add(" ,authorization,,x-request-id ")
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{"Connection": {v}}
		protectFromConnection(h)
		for _, val := range h["Connection"] {
			for opt := range strings.SplitSeq(val, ",") {
				if gatewayHeader(strings.TrimSpace(opt)) {
					t.Fatalf("%q left %q in Connection", v, opt)
				}
			}
		}
	})
}

func TestCloseStopsReloads(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("open", "/", auth.PolicyPublic))
	if err := e.gw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.SetRoutes(nil); err == nil {
		t.Error("SetRoutes after Close succeeded")
	}
	// What was in force keeps serving.
	echoOf(t, e.do("GET", "/"))
	if err := e.gw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	e := newTestEnv(t)
	good := e.gw.cfg
	for name, mut := range map[string]func(*Config){
		"no issuer":      func(c *Config) { c.Issuer = "" },
		"no JWKS":        func(c *Config) { c.JWKS = nil },
		"no algorithms":  func(c *Config) { c.Algorithms = nil },
		"no keys":        func(c *Config) { c.Keys = nil },
		"negative TTL":   func(c *Config) { c.InternalTokenTTL = -1 },
		"invalid prefix": func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} },
	} {
		cfg := good
		cfg.Registerer = nil
		mut(&cfg)
		if g, err := New(cfg); err == nil {
			g.Close()
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// A route removed from the table takes its metric series with it: routes
// come and go through the admin API, and stale series would pile up.
func TestRemovedRoutesLoseTheirSeries(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("a", "/a", auth.PolicyPublic), e.route("b", "/b", auth.PolicyPublic))
	wantStatus(t, e.do("GET", "/a"), http.StatusOK)
	wantStatus(t, e.do("GET", "/b"), http.StatusOK)
	wantStatus(t, e.do("GET", "/b", "Authorization", "Bearer x"), http.StatusOK)
	if n := series(e.gw.metrics.requests); n != 2 {
		t.Fatalf("%d request series before, want 2", n)
	}
	e.setRoutes(e.route("a", "/a", auth.PolicyPublic))
	// The duration series are a's and the one for requests that match no route.
	if n, d := series(e.gw.metrics.requests), series(e.gw.metrics.duration); n != 1 || d != 2 {
		t.Fatalf("after removing b: %d request series, %d duration series; want 1 and 2", n, d)
	}
}

// A request body that trickles in is cut at the route's timeout with 408:
// it holds neither the request nor an upstream connection for as long as
// the client likes, and the upstream is not blamed for it.
func TestSlowRequestBodyIsCut(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("upload", "/upload", auth.PolicyPublic)
	r.Timeout = 300 * time.Millisecond
	e.setRoutes(r)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n0123456789")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	if n := series(e.gw.metrics.upstreamEr); n != 0 {
		t.Errorf("the upstream was blamed: %d upstream error series", n)
	}
	wantStatus(t, e.do("GET", "/upload"), http.StatusOK) // not in cooldown
}
