package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
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
