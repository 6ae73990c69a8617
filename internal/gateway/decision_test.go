package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// proxyAddr is the trusted proxy asking for decisions in these tests.
const proxyAddr = "10.9.8.7:40000"

func trustProxy(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.9.8.0/24")} }

// decide asks the decision endpoint, from remote (proxyAddr when ""), for
// target (a path at or below DecisionsPath); headers are name, value pairs.
func (e *testEnv) decide(remote, method, target string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	if remote == "" {
		remote = proxyAddr
	}
	r := httptest.NewRequest(method, "http://auth.internal"+target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.gw.DecisionHandler().ServeHTTP(w, r)
	return w
}

func TestDecisionAllowsWithTheGatewaysIdentity(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	e.setRoutes(e.route("orders", "/orders", auth.PolicyAPIKey))
	k, key := e.createKey("shop", []string{"orders:read"}, auth.RateLimit{})

	w := e.decide("", "GET", DecisionsPath, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/orders/7?x=1",
		"X-Forwarded-Host", "shop.example.com", "X-Forwarded-Proto", "https", "X-API-Key", key,
		"X-Gatehouse-Subject", "admin") // spoofed by the client
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	h := w.Header()
	for name, want := range map[string]string{HeaderAuth: "api_key", HeaderSubject: "shop", HeaderClient: "shop",
		HeaderScopes: "orders:read", HeaderKeyID: k.ID, HeaderKeyEnvironment: "test"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if h.Get("Authorization") != "" || h.Get(HeaderRequestID) == "" || w.Body.Len() != 0 {
		t.Errorf("Authorization %q, request id %q, body %q", h.Get("Authorization"), h.Get(HeaderRequestID), w.Body)
	}
	if e.upstream.count() != 0 {
		t.Error("a decision reached the upstream")
	}
}

func TestDecisionFromAnUntrustedCallerIsForbidden(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	e.setRoutes(e.route("orders", "/orders", auth.PolicyAPIKey))
	_, key := e.createKey("shop", nil, auth.RateLimit{})
	for _, remote := range []string{"192.0.2.1:5000", "@", "10.9.9.1:1"} {
		w := e.decide(remote, "GET", DecisionsPath, "X-Forwarded-Uri", "/orders", "X-API-Key", key)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), reasonUntrustedCaller) {
			t.Errorf("from %s: status %d, body %s", remote, w.Code, w.Body)
		}
		if w.Header().Get(HeaderSubject) != "" {
			t.Errorf("from %s: an identity was given", remote)
		}
	}
}

// The refusal of a decision is the gateway's, header for header and byte
// for byte: the proxy hands it to the client as it is.
func TestDecisionRefusesExactlyAsTheGateway(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	scoped := e.route("admin", "/admin", auth.PolicyAPIKey)
	scoped.Scopes = []string{"admin"}
	e.setRoutes(e.route("orders", "/orders", auth.PolicyAPIKey), e.route("users", "/users", auth.PolicyJWT), scoped)
	_, key := e.createKey("shop", []string{"orders:read"}, auth.RateLimit{})
	revokedKey, revoked := e.createKey("old", nil, auth.RateLimit{})
	if _, err := e.keys.Revoke(t.Context(), revokedKey.ID, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		headers    []string
		status     int
	}{
		{"no credential", "/orders", nil, 401},
		{"wrong key", "/orders", []string{"X-API-Key", "sk_test_nope"}, 401},
		{"revoked key", "/orders", []string{"X-API-Key", revoked}, 401},
		{"out of scope", "/admin", []string{"X-API-Key", key}, 403},
		{"bad token", "/users", []string{"Authorization", "Bearer a.b.c"}, 401},
		{"no route", "/nowhere", []string{"X-API-Key", key}, 404},
		{"bad path", "/orders/../admin", []string{"X-API-Key", key}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gw := e.do("GET", c.path, c.headers...)
			gwBody := body(t, gw)
			w := e.decide("", "GET", DecisionsPath, append([]string{"X-Forwarded-Uri", c.path}, c.headers...)...)
			if gw.StatusCode != c.status || w.Code != c.status {
				t.Fatalf("gateway %d, decision %d, want %d; %s", gw.StatusCode, w.Code, c.status, w.Body)
			}
			for _, name := range []string{"WWW-Authenticate", "Content-Type"} {
				if got, want := w.Header().Get(name), gw.Header.Get(name); got != want {
					t.Errorf("%s = %q, the gateway's %q", name, got, want)
				}
			}
			if w.Body.String() != gwBody {
				t.Errorf("body %s, the gateway's %s", w.Body, gwBody)
			}
		})
	}
}

func TestDecisionReadsEachProxysDescription(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	getOnly := e.route("reports", "/reports", auth.PolicyAPIKey)
	getOnly.Methods = []string{"GET"}
	e.setRoutes(getOnly)
	_, key := e.createKey("shop", nil, auth.RateLimit{})
	cases := []struct {
		name, method, target string
		headers              []string
		status               int
	}{
		{"Caddy and Traefik", "GET", DecisionsPath, []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/reports/1"}, 200},
		{"Caddy, another method", "GET", DecisionsPath, []string{"X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/reports/1"}, 405},
		{"nginx", "GET", DecisionsPath, []string{"X-Original-Method", "GET", "X-Original-URI", "/reports/1?a=b"}, 200},
		{"nginx, another method", "GET", DecisionsPath, []string{"X-Original-Method", "POST", "X-Original-URI", "/reports/1"}, 405},
		{"Envoy path prefix", "GET", DecisionsPath + "/reports/1?a=b", nil, 200},
		{"Envoy path prefix, another method", "PUT", DecisionsPath + "/reports/1", nil, 405},
		{"absolute URI", "GET", DecisionsPath, []string{"X-Original-URI", "https://shop.example.com/reports/2"}, 200},
		{"escaped path", "GET", DecisionsPath, []string{"X-Forwarded-Uri", "/reports/a%2Fb"}, 200},
		{"nothing said", "GET", DecisionsPath, nil, 400},
		{"bad escape", "GET", DecisionsPath, []string{"X-Forwarded-Uri", "/reports/%zz"}, 400},
		{"not a path", "GET", DecisionsPath, []string{"X-Forwarded-Uri", "reports"}, 400},
		{"bad method", "GET", DecisionsPath, []string{"X-Forwarded-Method", "GE T", "X-Forwarded-Uri", "/reports"}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.decide("", c.method, c.target, append([]string{"X-API-Key", key}, c.headers...)...)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, c.status, w.Body)
			}
		})
	}
}

func TestDecisionOnAPublicRouteCarriesNoIdentity(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	e.setRoutes(e.route("docs", "/docs", auth.PolicyPublic))
	w := e.decide("", "GET", DecisionsPath+"/docs", "X-Gatehouse-Subject", "admin", "X-Gatehouse-Auth", "jwt")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	for _, name := range IdentityHeaders {
		if v := w.Header().Get(name); v != "" {
			t.Errorf("%s = %q on a public route", name, v)
		}
	}
}

func TestDecisionMintsTheInternalJWT(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	r := e.route("billing", "/billing", auth.PolicyJWT)
	r.InternalJWT = true
	e.setRoutes(r)
	tok := e.token(tokenClaims{Sub: "alice", ClientID: "app", Scope: "a"})
	w := e.decide("", "GET", DecisionsPath, "X-Forwarded-Uri", "/billing", "Authorization", "Bearer "+tok)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	internal, ok := strings.CutPrefix(w.Header().Get("Authorization"), "Bearer ")
	if !ok || internal == tok {
		t.Fatalf("Authorization %q: want a new bearer token", w.Header().Get("Authorization"))
	}
	v, err := verify.New(verify.Config{Issuer: testIssuer, JWKS: e.keyring.JWKS, Algorithms: e.keyring.Algorithms(),
		Audience: e.upstream.URL, Types: []string{"at+jwt"}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c, err := v.Verify(t.Context(), internal)
	if err != nil || c.Subject != "alice" || c.Actor == nil || c.Actor.Subject != DefaultActor {
		t.Fatalf("internal token: %+v, %v", c, err)
	}
}

func TestDecisionAppliesTheRouteLimits(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	r := e.route("orders", "/orders", auth.PolicyAPIKey)
	r.RateLimit = auth.RateLimit{Rate: 0.001, Burst: 1}
	e.setRoutes(r)
	_, key := e.createKey("shop", nil, auth.RateLimit{})
	if w := e.decide("", "GET", DecisionsPath+"/orders", "X-API-Key", key); w.Code != 200 || w.Header().Get("RateLimit-Limit") == "" {
		t.Fatalf("first: status %d, RateLimit-Limit %q", w.Code, w.Header().Get("RateLimit-Limit"))
	}
	w := e.decide("", "GET", DecisionsPath+"/orders", "X-API-Key", key)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || w.Header().Get("RateLimit-Remaining") != "0" {
		t.Fatalf("second: status %d, headers %v", w.Code, w.Header())
	}
	// The gateway shares the same bucket: one code path, one limit.
	resp := e.do("GET", "/orders", "X-API-Key", key)
	wantStatus(t, resp, http.StatusTooManyRequests)
}

// A decision is counted like a request through the gateway: the key's
// verification by the key service, a token's by Config.Usage, under the
// route.
func TestDecisionsAreCounted(t *testing.T) {
	counter := usage.NewCounter()
	e := newTestEnv(t, trustProxy, func(c *Config) { c.Usage = counter })
	e.setRoutes(e.route("orders", "/orders", auth.PolicyAPIKey), e.route("users", "/users", auth.PolicyJWT))
	_, key := e.createKey("shop", nil, auth.RateLimit{})
	tok := e.token(tokenClaims{Sub: "usr_1", ClientID: "cli_web"})
	e.keyUsage.Take()
	for range 2 {
		if w := e.decide("", "GET", DecisionsPath+"/orders", "X-API-Key", key); w.Code != 200 {
			t.Fatalf("key: %d", w.Code)
		}
	}
	if w := e.decide("", "GET", DecisionsPath+"/users", "Authorization", "Bearer "+tok); w.Code != 200 {
		t.Fatalf("token: %d", w.Code)
	}
	var keys int64
	for cell, n := range e.keyUsage.Take() {
		if cell.Event.Route == "orders" && cell.Event.Outcome == "VALID" {
			keys += n
		}
	}
	if keys != 2 {
		t.Errorf("key verifications counted %d, want 2", keys)
	}
	var tokens int64
	for cell, n := range counter.Take() {
		if cell.Event == (usage.Event{ClientID: "cli_web", UserID: "usr_1", Route: "users", Outcome: "VALID"}) {
			tokens += n
		}
	}
	if tokens != 1 {
		t.Errorf("token verifications counted %d, want 1", tokens)
	}
}

// A DPoP proof names the URL the client used, which a decision learns
// from the trusted proxy: the route's host and X-Forwarded-Proto.
func TestDecisionChecksDPoPAgainstTheForwardedURL(t *testing.T) {
	e := newTestEnv(t, trustProxy, withDPoP(nil), func(c *Config) { c.PublicURL = "" })
	r := e.route("jwt", "/jwt", auth.PolicyJWT)
	r.Hosts = []string{"shop.example.com"}
	e.setRoutes(r)
	dc := e.dpopClient()
	tok := e.boundToken(dc.JKT())
	ask := func(htu string) int {
		proof := dc.Proof("GET", htu, dpoptest.Options{AccessToken: tok})
		return e.decide("", "GET", DecisionsPath, "X-Forwarded-Uri", "/jwt/orders?x=1", "X-Forwarded-Host", "shop.example.com",
			"X-Forwarded-Proto", "https", "X-Forwarded-Method", "GET", "Authorization", "DPoP "+tok, "DPoP", proof).Code
	}
	if got := ask("https://shop.example.com/jwt/orders"); got != http.StatusOK {
		t.Errorf("proof for the forwarded URL: %d, want 200", got)
	}
	if got := ask("http://shop.example.com/jwt/orders"); got != http.StatusUnauthorized {
		t.Errorf("proof for another scheme: %d, want 401", got)
	}
	if got := ask("https://auth.internal/v1/decisions"); got != http.StatusUnauthorized {
		t.Errorf("proof for the decision endpoint's own URL: %d, want 401", got)
	}
}

// FuzzOriginalRequest: whatever a proxy writes in the forwarding headers,
// reading the original request never panics, and what it accepts is an
// origin-form path with a valid method, as the gateway's matching expects.
func FuzzOriginalRequest(f *testing.F) {
	f.Add("GET", "/orders/7?x=1", "", "", "/v1/decisions")
	f.Add("", "", "POST", "/a%2Fb", "/v1/decisions")
	f.Add("", "", "", "", "/v1/decisions/reports/1")
	f.Add("PUT", "https://shop.example.com/x?y", "", "", "/v1/decisions")
	f.Add("G ET", "http://h", "", "//x", "/v1/decisions")
	f.Add("", "/%zz", "", "", "/v1/decisions/%2e%2e")
	f.Fuzz(func(t *testing.T, fwdMethod, fwdURI, origMethod, origURI, path string) {
		if !strings.HasPrefix(path, DecisionsPath) {
			return
		}
		r := httptest.NewRequest("GET", "http://auth.internal/", nil)
		r.URL.Path = path
		for name, v := range map[string]string{headerForwardedMethod: fwdMethod, headerForwardedURI: fwdURI,
			headerOriginalMethod: origMethod, headerOriginalURI: origURI} {
			if v != "" {
				r.Header[name] = []string{v}
			}
		}
		if err := originalRequest(r); err != nil {
			return
		}
		if !validMethod(r.Method) {
			t.Errorf("method %q accepted", r.Method)
		}
		if !strings.HasPrefix(r.URL.Path, "/") && !(r.URL.Path == "" && r.URL.RawPath == "") {
			t.Errorf("path %q (raw %q) accepted", r.URL.Path, r.URL.RawPath)
		}
	})
}

// The attack: behind a proxy that describes the request with one set of
// headers and passes the client's others on (nginx's auth_request passes
// them all), the client adds the other set, naming a public path, to have
// its request to a protected one decided as the public one.
func TestDecisionRefusesAClientsOwnDescription(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	e.setRoutes(e.route("docs", "/docs", auth.PolicyPublic), e.route("admin", "/admin", auth.PolicyAPIKey))
	cases := []struct {
		name    string
		target  string
		headers []string
	}{
		{"nginx, client adds X-Forwarded-Uri", DecisionsPath, []string{"X-Original-URI", "/admin/users", "X-Forwarded-Uri", "/docs"}},
		{"Caddy, client adds X-Original-URI", DecisionsPath, []string{"X-Forwarded-Uri", "/admin/users", "X-Original-URI", "/docs"}},
		{"client repeats the header", DecisionsPath, []string{"X-Original-URI", "/admin/users", "X-Original-URI", "/docs"}},
		{"Envoy path prefix, client adds a header", DecisionsPath + "/admin/users", []string{"X-Forwarded-Uri", "/docs"}},
		{"methods disagree", DecisionsPath, []string{"X-Original-URI", "/docs", "X-Original-Method", "DELETE", "X-Forwarded-Method", "GET"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.decide("", "GET", c.target, c.headers...)
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), reasonNoOriginal) {
				t.Fatalf("status %d, body %s", w.Code, w.Body)
			}
		})
	}
	// The same header twice with the same value is one description.
	if w := e.decide("", "GET", DecisionsPath, "X-Original-URI", "/docs/a,b", "X-Forwarded-Uri", "/docs/a,b"); w.Code != http.StatusOK {
		t.Errorf("agreeing headers (with a comma in the path): %d", w.Code)
	}
}

// The attacks: the proxy that asked forwards the client's request as it
// is, override headers included, which the gateway would have removed.
// A GET allowed on a public route must not become a DELETE at the
// upstream, nor a request for another path.
func TestDecisionRefusesOverrideHeaders(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	docs := e.route("docs", "/docs", auth.PolicyPublic)
	docs.Methods = []string{"GET"}
	admin := e.route("admin-delete", "/docs", auth.PolicyAPIKey)
	admin.Methods = []string{"DELETE"}
	admin.PathPrefix = "/docs"
	e.setRoutes(docs, admin)
	cases := []struct {
		name    string
		headers []string
		status  int
	}{
		{"method override", []string{"X-HTTP-Method-Override", "DELETE"}, http.StatusMethodNotAllowed},
		{"method override, odd spelling", []string{"X_Http_Method_Override", "delete"}, http.StatusMethodNotAllowed},
		{"method override naming GET", []string{"X-HTTP-Method-Override", "GET"}, http.StatusOK},
		{"URL override", []string{"X-Original-URL", "/admin"}, http.StatusBadRequest},
		{"URL override naming the request (ingress-nginx)", []string{"X-Original-URL", "https://api.example.com/docs/a"}, http.StatusOK},
		{"URL override naming the request, with another query", []string{"X-Original-URL", "https://api.example.com/docs/a?x=1"}, http.StatusBadRequest},
		{"URL override naming the request, twice", []string{"X-Original-URL", "/docs/a", "X-Original-URL", "/docs/a"}, http.StatusBadRequest},
		{"URL override naming the request, and another", []string{"X-Original-URL", "/docs/a", "X-Rewrite-URL", "/admin"}, http.StatusBadRequest},
		{"URL override, odd spelling", []string{"X_Rewrite_Url", "/admin"}, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.decide("", "GET", DecisionsPath, append([]string{"X-Forwarded-Uri", "/docs/a", "X-Forwarded-Method", "GET"}, c.headers...)...)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d; %s", w.Code, c.status, w.Body)
			}
		})
	}
}

// ingress-nginx's auth subrequest, header for header: the controller's own
// X-Original-URL and X-Original-Method, and the X-Forwarded-* of the
// example's ConfigMap.
func TestDecisionAcceptsIngressNginxsSubrequest(t *testing.T) {
	e := newTestEnv(t, trustProxy)
	e.setRoutes(e.route("docs", "/docs", auth.PolicyPublic))
	w := e.decide("", "GET", DecisionsPath, "X-Forwarded-Uri", "/docs/a?q=1", "X-Forwarded-Method", "GET",
		"X-Forwarded-Host", "api.example.com", "X-Forwarded-Proto", "https",
		"X-Original-Method", "GET", "X-Original-URL", "https://api.example.com/docs/a?q=1")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
}
