package gateway

// Regression tests for the findings of the black-box attack test (issue 9),
// each written as the attack was made.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// rawGet sends a request line and headers exactly as written, as an
// attacker's tool does (net/http's client would clean or escape the path),
// and returns the response.
func (e *testEnv) rawGet(t *testing.T, target string, headers ...string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: gw.example.test\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://gw.example.test/", nil)
	req.URL.Path = target // for wantStatus's message
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// servletUpstream resolves paths the way Jetty and Tomcat do: each
// segment's ";parameters" are removed before routing, and /private
// answers as the protected application.
type servletUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string // the paths as received
}

func newServletUpstream(t *testing.T) *servletUpstream {
	u := &servletUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.paths = append(u.paths, r.URL.Path)
		u.mu.Unlock()
		resolved := servletPath(r.URL.EscapedPath())
		if resolved == "/private" || strings.HasPrefix(resolved, "/private/") {
			_, _ = io.WriteString(w, "PRIVATE "+resolved)
			return
		}
		_, _ = io.WriteString(w, "public "+resolved)
	}))
	t.Cleanup(u.Close)
	return u
}

// servletPath resolves an escaped request path as Tomcat does: each
// segment's ";parameters" are cut from the raw path, then it is decoded.
func servletPath(raw string) string {
	segs := strings.Split(raw, "/")
	for i, seg := range segs {
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			segs[i] = seg[:j]
		}
	}
	p, err := url.PathUnescape(strings.Join(segs, "/"))
	if err != nil {
		return raw
	}
	return p
}

func (u *servletUpstream) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.paths...)
}

// The attack: routes "/" public and "/private" api_key in front of a
// servlet container; "/private;x/y" without a credential matched the
// public route, and the container served /private/y.
func TestPathParametersCannotBypassAProtectedPrefix(t *testing.T) {
	e := newTestEnv(t)
	up := newServletUpstream(t)
	e.setRoutes(
		auth.Route{Name: "root", PathPrefix: "/", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}},
		auth.Route{Name: "private", PathPrefix: "/private", Policy: auth.PolicyAPIKey, Upstreams: []string{up.URL}},
	)
	for _, p := range []string{
		"/private;x/y",
		"/private;/y",
		"/private;jsessionid=abc/admin",
		"/private%3Bx/y",
		"/private%3bjsessionid=abc/admin",
		"/private;",
		"/x/y;z",
	} {
		t.Run(p, func(t *testing.T) {
			resp := e.rawGet(t, p)
			wantStatus(t, resp, http.StatusBadRequest)
		})
	}
	if got := up.received(); len(got) != 0 {
		t.Fatalf("the upstream received %q", got)
	}
	// Without parameters, the public route still serves.
	if got := body(t, e.rawGet(t, "/about")); got != "public /about" {
		t.Fatalf("GET /about: %q", got)
	}
}

// A route that says allow_path_params is chosen as the servlet container
// will resolve the path: the protected route's policy applies, and the
// parameters reach the upstream that asked for them.
func TestPathParametersAllowedByARouteAreMatchedWithoutThem(t *testing.T) {
	e := newTestEnv(t)
	up := newServletUpstream(t)
	e.setRoutes(
		auth.Route{Name: "root", PathPrefix: "/", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}, AllowPathParams: true},
		auth.Route{Name: "private", PathPrefix: "/private", Policy: auth.PolicyAPIKey, Upstreams: []string{up.URL}, AllowPathParams: true},
		auth.Route{Name: "stripped", PathPrefix: "/api/v1", StripPrefix: true, Policy: auth.PolicyAPIKey, Upstreams: []string{up.URL}, AllowPathParams: true},
	)
	_, key := e.createKey("svc", nil, auth.RateLimit{})
	for _, p := range []string{"/private;x/y", "/private;jsessionid=abc/admin", "/private%3Bx/y"} {
		wantStatus(t, e.rawGet(t, p), http.StatusUnauthorized)
	}
	if len(up.received()) != 0 {
		t.Fatalf("the upstream received %q", up.received())
	}
	if got := body(t, e.rawGet(t, "/private;jsessionid=abc/admin", "X-API-Key", key)); got != "PRIVATE /private/admin" {
		t.Fatalf("with a key: %q", got)
	}
	if got := up.received(); got[len(got)-1] != "/private;jsessionid=abc/admin" {
		t.Fatalf("the upstream received %q, want the parameters kept", got[len(got)-1])
	}
	// A parameter inside a prefix to strip would leave a path that does
	// not start at a segment boundary.
	wantStatus(t, e.rawGet(t, "/api;x/v1/items", "X-API-Key", key), http.StatusBadRequest)
	wantStatus(t, e.rawGet(t, "/api/v1;x/items", "X-API-Key", key), http.StatusBadRequest)
	if got := body(t, e.rawGet(t, "/api/v1/items;p=1", "X-API-Key", key)); got != "public /items" {
		t.Fatalf("stripped: %q", got)
	}
}

// The attack: "/PRIVATE/x", "/private./x", "/private%20/x" and
// "/private%5cx" matched the catch-all public route and were forwarded
// unchanged, to be read as /private by case-insensitive routers, Windows
// trimming or backslash-as-slash servers.
func TestPathSpellingsOfAProtectedPrefixAreRefused(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(
		e.route("root", "/", auth.PolicyPublic),
		e.route("private", "/private", auth.PolicyAPIKey),
	)
	before := e.upstream.count()
	for _, p := range []string{
		"/private./x",
		"/private../x",
		"/private%2e/x",
		"/private%20/x",
		"/private%20",
		"/private.",
		"/private%5cx",
		"/private%5Cx",
		`/private\x`,
		"/private%00/x",
		"/private%09/x",
		"/x/private%0a",
	} {
		t.Run(p, func(t *testing.T) {
			wantStatus(t, e.rawGet(t, p), http.StatusBadRequest)
		})
	}
	if e.upstream.count() != before {
		t.Fatalf("the upstream received %d requests", e.upstream.count()-before)
	}
}

// For an upstream whose router ignores case (Express by default, ASP.NET),
// the route says case_insensitive: "/PRIVATE/x" is then the protected
// route's, and the upstream gets the route's own spelling.
func TestCaseInsensitiveRouteTakesEveryCaseOfItsPrefix(t *testing.T) {
	e := newTestEnv(t)
	private := e.route("private", "/private", auth.PolicyAPIKey)
	private.CaseInsensitive = true
	stripped := e.route("stripped", "/Api", auth.PolicyAPIKey)
	stripped.CaseInsensitive, stripped.StripPrefix = true, true
	e.setRoutes(e.route("root", "/", auth.PolicyPublic), private, stripped)
	_, key := e.createKey("svc", nil, auth.RateLimit{})
	before := e.upstream.count()
	for _, p := range []string{"/PRIVATE/x", "/Private", "/pRiVaTe/a/b"} {
		wantStatus(t, e.rawGet(t, p), http.StatusUnauthorized)
	}
	if e.upstream.count() != before {
		t.Fatal("a case variant of the protected prefix reached the upstream without a key")
	}
	if got := echoOf(t, e.rawGet(t, "/PRIVATE/x%2Fy", "X-API-Key", key)); got.Path != "/private/x/y" {
		t.Fatalf("the upstream got %q, want /private/x/y", got.Path)
	}
	if got := echoOf(t, e.rawGet(t, "/API/items", "X-API-Key", key)); got.Path != "/items" {
		t.Fatalf("the stripped route's upstream got %q, want /items", got.Path)
	}
	// A case-sensitive route is still case-sensitive.
	if got := echoOf(t, e.rawGet(t, "/privatex")); got.Path != "/privatex" {
		t.Fatalf("got %q", got.Path)
	}
}

// Two prefixes that differ only by case cannot both be served: an
// upstream that ignores case would take a request for one as the other.
func TestRouteTableWithPrefixesDifferingOnlyByCaseIsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("private", "/private", auth.PolicyAPIKey))
	err := e.gw.SetRoutes([]auth.Route{
		e.route("private", "/private", auth.PolicyAPIKey),
		e.route("shadow", "/Private", auth.PolicyPublic),
	})
	if err == nil || !strings.Contains(err.Error(), "differ only by case") {
		t.Fatalf("SetRoutes = %v, want a refusal naming the case clash", err)
	}
	if got := e.gw.Routes(); len(got) != 1 || got[0].Name != "private" {
		t.Fatalf("the old table is not in force: %v", got)
	}
}

// overrideUpstream honours method-override headers like Rails, Laravel or
// Express's method-override do, and reports the method it ran.
func overrideUpstream(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var ran []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		for _, h := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override", "X_http_method_override"} {
			if v := r.Header.Get(h); v != "" {
				method = strings.ToUpper(v)
			}
		}
		mu.Lock()
		ran = append(ran, method)
		mu.Unlock()
		_, _ = io.WriteString(w, method)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ran...)
	}
}

// The attack: a GET let through by a GET-only route, carrying
// X-HTTP-Method-Override: DELETE, ran as a DELETE upstream.
func TestMethodOverrideHeadersCannotTurnAGetIntoADelete(t *testing.T) {
	e := newTestEnv(t)
	up, ran := overrideUpstream(t)
	e.setRoutes(auth.Route{Name: "items", PathPrefix: "/items", Methods: []string{"GET"}, Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "x-http-method-override", "X_HTTP_Method_Override"} {
		t.Run(h, func(t *testing.T) {
			resp := e.rawGet(t, "/items/1", h, "DELETE")
			wantStatus(t, resp, http.StatusOK)
			if got := body(t, resp); got != "GET" {
				t.Fatalf("the upstream ran %s", got)
			}
		})
	}
	if got := ran(); len(got) != 5 || strings.Contains(strings.Join(got, " "), "DELETE") {
		t.Fatalf("the upstream ran %v", got)
	}
}

// A route that forwards method overrides (forward_method_override) still
// takes only its methods: an override naming another is 405.
func TestForwardedMethodOverrideMustNameAMethodOfTheRoute(t *testing.T) {
	e := newTestEnv(t)
	up, ran := overrideUpstream(t)
	e.setRoutes(auth.Route{Name: "items", PathPrefix: "/items", Methods: []string{"GET", "POST", "PATCH"}, Policy: auth.PolicyPublic,
		Upstreams: []string{up.URL}, ForwardMethodOverride: true})
	resp := e.rawGet(t, "/items/1", "X-HTTP-Method-Override", "DELETE")
	wantStatus(t, resp, http.StatusMethodNotAllowed)
	if allow := resp.Header.Get("Allow"); allow != "GET, PATCH, POST" {
		t.Errorf("Allow %q", allow)
	}
	resp = e.rawGet(t, "/items/1", "X-HTTP-Method-Override", "patch")
	wantStatus(t, resp, http.StatusOK)
	if got := body(t, resp); got != "PATCH" {
		t.Fatalf("the upstream ran %s, want the forwarded PATCH", got)
	}
	// An odd spelling is not what the gateway checked: it goes.
	resp = e.rawGet(t, "/items/1", "X_HTTP_Method_Override", "DELETE")
	if got := body(t, resp); got != "GET" {
		t.Fatalf("the upstream ran %s", got)
	}
	if got := ran(); strings.Contains(strings.Join(got, " "), "DELETE") {
		t.Fatalf("the upstream ran %v", got)
	}
}

// The attack: X-Original-URL and its kin reached the upstream, which
// (IIS URL Rewrite, Symfony, Zend) serves the path they name.
func TestURLOverrideHeadersNeverReachTheUpstream(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("pub", "/pub", auth.PolicyPublic))
	for _, h := range []string{"X-Original-URL", "X-Rewrite-URL", "X-Override-URL", "x-original-url", "X_Original_URL", "X_Rewrite_Url"} {
		got := echoOf(t, e.rawGet(t, "/pub/x", h, "/admin/users"))
		for k := range got.Header {
			if inFold(urlOverrideHeaders[:], strings.ReplaceAll(k, "_", "-")) {
				t.Fatalf("%s reached the upstream as %s: %v", h, k, got.Header[k])
			}
		}
	}
}

// The attack: X-Real-IP from the caller was forwarded unchanged, while
// X-Forwarded-For and Forwarded were rewritten.
func TestXRealIPIsTheAddressTheGatewayBelieves(t *testing.T) {
	t.Run("an untrusted peer", func(t *testing.T) {
		e := newTestEnv(t)
		e.setRoutes(e.route("pub", "/pub", auth.PolicyPublic))
		got := echoOf(t, e.rawGet(t, "/pub/x", "X-Real-IP", "10.9.9.9", "X_Real_IP", "10.8.8.8", "Connection", "X-Real-IP"))
		if v := got.Header.Values("X-Real-Ip"); len(v) != 1 || v[0] != "127.0.0.1" {
			t.Fatalf("X-Real-IP %q, want the peer 127.0.0.1", v)
		}
		if v := got.Header.Values("X_real_ip"); len(v) != 0 {
			t.Fatalf("X_Real_IP reached the upstream: %q", v)
		}
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		e.setRoutes(e.route("pub", "/pub", auth.PolicyPublic))
		got := echoOf(t, e.rawGet(t, "/pub/x", "X-Real-IP", "10.9.9.9", "X-Forwarded-For", "203.0.113.7"))
		if v := got.Header.Values("X-Real-Ip"); len(v) != 1 || v[0] != "203.0.113.7" {
			t.Fatalf("X-Real-IP %q, want the client the proxy names", v)
		}
	})
}

// The attack: a signed-in browser's request through the gateway carried
// Gatehouse's session cookie to the upstream, which could replay it at
// /oauth2/authorize. (cmd/gatehouse's end-to-end test does the same with
// a real sign-in.)
func TestGatehouseCookiesNeverReachTheUpstream(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("app", "/app", auth.PolicyPublic))
	resp := e.rawGet(t, "/app/x",
		"Cookie", "theme=dark; "+auth.CookieSession+"=gate_ss_secret1; lang=en",
		"Cookie", auth.CookieLoginInsecure+"=login2;"+auth.CookieSessionInsecure+"=gate_ss_secret3",
		"Cookie", auth.CookieLogin+"=login4 ;  cart=7",
		"Cookie", "__HOST-GATEHOUSE_SESSION=gate_ss_secret5",
	)
	got := echoOf(t, resp)
	cookies := strings.Join(got.Header.Values("Cookie"), " | ")
	if cookies != "theme=dark; lang=en | cart=7" {
		t.Fatalf("the upstream got Cookie %q, want only the caller's other cookies", cookies)
	}
	raw, _ := json.Marshal(got)
	for _, secret := range []string{"gate_ss_", "login2", "login4", "gatehouse_"} {
		if strings.Contains(strings.ToLower(string(raw)), secret) {
			t.Fatalf("%q reached the upstream: %s", secret, raw)
		}
	}
	// A request with only other cookies is forwarded as it came.
	got = echoOf(t, e.rawGet(t, "/app/x", "Cookie", "a=1;b=2"))
	if c := got.Header.Get("Cookie"); c != "a=1;b=2" {
		t.Fatalf("Cookie %q", c)
	}
}

// An upstream cannot plant a Gatehouse session in the browser: the
// gateway shares a host name with the authorization server, and cookies
// are not separated by port (session fixation).
func TestUpstreamCannotSetGatehouseCookies(t *testing.T) {
	e := newTestEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", auth.CookieSession+"=gate_ss_planted; Path=/; Secure; HttpOnly")
		w.Header().Add("Set-Cookie", "app=1; Path=/")
		w.Header().Add("Set-Cookie", auth.CookieLoginInsecure+"=planted")
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "app", PathPrefix: "/app", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})
	resp := e.rawGet(t, "/app/x")
	wantStatus(t, resp, http.StatusOK)
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "app=1; Path=/" {
		t.Fatalf("Set-Cookie %q, want only the upstream's own cookie", got)
	}
}

// A token Gatehouse minted for another API of the same issuer is refused
// by a route with an audience, and a jwt route without one must say
// any_audience (Normalize's rule, checked by SetRoutes).
func TestJWTRouteNeedsAnAudienceOrSaysAnyAudience(t *testing.T) {
	e := newTestEnv(t)
	r := e.route("orders", "/orders", auth.PolicyJWT)
	r.AnyAudience = false
	if err := e.gw.SetRoutes([]auth.Route{r}); err == nil || !strings.Contains(err.Error(), "any_audience") {
		t.Fatalf("SetRoutes = %v, want a refusal that names any_audience", err)
	}
	r.Audience = "https://orders.example.test"
	e.setRoutes(r)
	other := e.token(tokenClaims{Sub: "alice", Aud: []string{"https://billing.example.test"}})
	wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+other), http.StatusUnauthorized)
	mine := e.token(tokenClaims{Sub: "alice", Aud: []string{"https://orders.example.test"}})
	wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+mine), http.StatusOK)
}

// A node that cannot read its store cannot know of a token revoked through
// another node meanwhile: once its revocation list is stale, Gatehouse's
// tokens are refused with 503 (fail closed), and accepted again when it is
// fresh.
func TestStaleRevocationListRefusesGatehouseTokens(t *testing.T) {
	var mu sync.Mutex
	fresh := true
	e := newTestEnv(t, func(c *Config) {
		c.RevocationsFresh = func() bool {
			mu.Lock()
			defer mu.Unlock()
			return fresh
		}
	})
	e.setRoutes(e.route("orders", "/orders", auth.PolicyJWT))
	tok := e.token(tokenClaims{Sub: "alice"})
	wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+tok), http.StatusOK)
	mu.Lock()
	fresh = false
	mu.Unlock()
	wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+tok), http.StatusServiceUnavailable)
	// A forged token is still a 401, not a 503.
	wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+tok+"x"), http.StatusUnauthorized)
	mu.Lock()
	fresh = true
	mu.Unlock()
	wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+tok), http.StatusOK)
}

// An upstream answering a protocol switch (a WebSocket handshake) cannot
// set Gatehouse's cookies either: browsers store cookies from the 101.
func TestUpstreamCannotSetGatehouseCookiesOnA101(t *testing.T) {
	e := newTestEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.Header().Add("Set-Cookie", auth.CookieSession+"=gate_ss_planted; Path=/; Secure")
		w.Header().Add("Set-Cookie", "ws=1")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "ws", PathPrefix: "/ws", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})
	resp := e.rawGet(t, "/ws", "Connection", "Upgrade", "Upgrade", "echo")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "ws=1" {
		t.Fatalf("Set-Cookie on the 101: %q", got)
	}
}

// A nameless cookie is stored by browsers and sent back as its value:
// "=gatehouse_session=x" would come back as "gatehouse_session=x".
func TestNamelessGatehouseCookiesAreStrippedBothWays(t *testing.T) {
	e := newTestEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "="+auth.CookieSessionInsecure+"=gate_ss_planted")
		w.Header().Add("Set-Cookie", " = "+auth.CookieSession+"=gate_ss_planted; Path=/")
		w.Header().Add("Set-Cookie", "app=1")
		_, _ = io.WriteString(w, r.Header.Get("Cookie"))
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "app", PathPrefix: "/app", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})
	resp := e.rawGet(t, "/app", "Cookie", "="+auth.CookieSessionInsecure+"=gate_ss_secret; a=1")
	if got := body(t, resp); got != "a=1" {
		t.Fatalf("the upstream got Cookie %q", got)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 1 || got[0] != "app=1" {
		t.Fatalf("Set-Cookie %q", got)
	}
}

// A method override forwarded by one route must not run a method that
// another route owns at that path: "/items" public for GET (forwarding
// overrides) and "/items" api_key for DELETE.
func TestForwardedMethodOverrideCannotReachAnotherRoutesMethod(t *testing.T) {
	e := newTestEnv(t)
	up, ran := overrideUpstream(t)
	e.setRoutes(
		auth.Route{Name: "read", PathPrefix: "/items", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}, ForwardMethodOverride: true},
		auth.Route{Name: "delete", PathPrefix: "/items", Methods: []string{"DELETE"}, Policy: auth.PolicyAPIKey, Upstreams: []string{up.URL}},
	)
	wantStatus(t, e.rawGet(t, "/items/1", "X-HTTP-Method-Override", "DELETE"), http.StatusMethodNotAllowed)
	if got := ran(); len(got) != 0 {
		t.Fatalf("the upstream ran %v", got)
	}
	resp := e.rawGet(t, "/items/1", "X-HTTP-Method-Override", "PUT")
	if got := body(t, resp); got != "PUT" {
		t.Fatalf("an override the public route takes: %q", got)
	}
}

// A case-insensitive route takes "/API/ADMIN" — unless a route below its
// prefix is matched whatever the case too: "/api/ADMIN/users" must not
// reach the public "/api" upstream, which ignores case, as its admin page.
func TestRouteBelowACaseInsensitivePrefixIsMatchedWhateverTheCase(t *testing.T) {
	e := newTestEnv(t)
	api := e.route("api", "/api", auth.PolicyPublic)
	api.CaseInsensitive = true
	e.setRoutes(api, e.route("admin", "/api/admin", auth.PolicyAPIKey))
	before := e.upstream.count()
	for _, p := range []string{"/api/ADMIN/users", "/API/Admin", "/Api/admin/x"} {
		wantStatus(t, e.rawGet(t, p), http.StatusUnauthorized)
	}
	if e.upstream.count() != before {
		t.Fatal("a case variant of the protected prefix reached the upstream without a key")
	}
	_, key := e.createKey("svc", nil, auth.RateLimit{})
	if got := echoOf(t, e.rawGet(t, "/API/ADMIN/users", "X-API-Key", key)); got.Path != "/api/admin/users" {
		t.Fatalf("the upstream got %q", got.Path)
	}
}

// A route the node cannot serve as configured is held: its requests are
// refused with 503, never handed to a shorter prefix such as a public
// catch-all.
func TestHeldRouteRefusesInsteadOfFallingThrough(t *testing.T) {
	e := newTestEnv(t)
	admin := e.route("admin", "/admin", auth.PolicyJWT)
	admin.AnyAudience = false // as stored by a version before the audience rule
	if err := e.gw.SetRoutesHolding([]auth.Route{e.route("root", "/", auth.PolicyPublic)}, []auth.Route{admin}); err != nil {
		t.Fatal(err)
	}
	before := e.upstream.count()
	wantStatus(t, e.rawGet(t, "/admin/users"), http.StatusServiceUnavailable)
	wantStatus(t, e.rawGet(t, "/admin"), http.StatusServiceUnavailable)
	if e.upstream.count() != before {
		t.Fatal("a held route's request reached the catch-all's upstream")
	}
	if got := echoOf(t, e.rawGet(t, "/adminx")); got.Path != "/adminx" {
		t.Fatalf("got %q", got.Path)
	}
}

// Headers that tell an upstream which path the client asked for are
// believed only from trusted proxies.
func TestPathForwardingHeadersFromUntrustedPeersAreRemoved(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("pub", "/pub", auth.PolicyPublic))
	got := echoOf(t, e.rawGet(t, "/pub/x", "X-Forwarded-Prefix", "/admin", "X-Original-URI", "/admin", "X-Envoy-Original-Path", "/admin",
		"X-Forwarded-Uri", "/admin", "X_Forwarded_Prefix", "/admin"))
	for k, v := range got.Header {
		if strings.Contains(strings.Join(v, " "), "/admin") {
			t.Fatalf("%s: %q reached the upstream", k, v)
		}
	}
}

// During a store outage the gateway says once that it refuses tokens, not
// at every request.
func TestStaleRevocationListIsLoggedOnce(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.RevocationsFresh = func() bool { return false } })
	e.setRoutes(e.route("orders", "/orders", auth.PolicyJWT))
	tok := e.token(tokenClaims{Sub: "alice"})
	for range 3 {
		wantStatus(t, e.do("GET", "/orders/1", "Authorization", "Bearer "+tok), http.StatusServiceUnavailable)
	}
	if n := strings.Count(e.logs.String(), "revocation list is stale"); n != 1 {
		t.Fatalf("logged %d times, want once", n)
	}
}

// FuzzRequestTargetPath: a request target as it arrives on the wire
// (percent-encoded: "%3B", "%5C", "%2e", "%20", "%00"), parsed by net/http
// as the gateway gets it: what the gateway accepts decodes to a path
// without backslashes, control characters, dot segments or segments
// ending in a dot or space, and any ';' in it is reported.
func FuzzRequestTargetPath(f *testing.F) {
	for _, s := range []string{"/private%3Bx/y", "/private%5cx", "/private%2e/x", "/private%20/x", "/a%00b", "/%2e%2e/admin", "/a;b", "/x%2F..%2Fy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			return
		}
		p := req.URL.Path
		verdict := auth.CheckPath(p)
		if verdict == auth.PathBad {
			return
		}
		if strings.ContainsAny(p, "\\\x00\t\r\n") || strings.Contains(p, ";") != (verdict == auth.PathParams) {
			t.Fatalf("%q (path %q) accepted as %d", target, p, verdict)
		}
		for _, seg := range strings.Split(p, "/")[1:] {
			name, _, _ := strings.Cut(seg, ";")
			if name == "." || name == ".." || strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
				t.Fatalf("%q (path %q) accepted with segment %q", target, p, seg)
			}
		}
	})
}

// Interim responses (103 Early Hints) are copied to the client by the
// proxy: they cannot carry Gatehouse's cookies either.
func TestUpstreamCannotSetGatehouseCookiesOnAnInterimResponse(t *testing.T) {
	e := newTestEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", auth.CookieSession+"=gate_ss_planted; Path=/; Secure")
		w.Header().Add("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Set-Cookie")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "app", PathPrefix: "/app", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /app HTTP/1.1\r\nHost: gw.example.test\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	if !strings.Contains(string(raw), "103 Early Hints") {
		t.Fatalf("no interim response came through:\n%s", raw)
	}
	if strings.Contains(string(raw), "gate_ss_planted") {
		t.Fatalf("the interim response set a Gatehouse cookie:\n%s", raw)
	}
}
