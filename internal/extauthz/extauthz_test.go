package extauthz

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/verify"
)

func TestCheckAllows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	internal := route("billing", "/billing", auth.PolicyJWT)
	internal.InternalJWT = true
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey), route("users", "/users", auth.PolicyJWT), internal,
		route("docs", "/docs", auth.PolicyPublic))
	k, key := e.createKey(apikey.CreateParams{Owner: "shop", Scopes: []string{"orders:read"}})
	tok := e.token("alice", "profile")

	cases := []struct {
		name    string
		req     *authv3.CheckRequest
		want    map[string]string // upstream headers; "" means absent
		removed []string          // in headers_to_remove
		kept    []string          // not in headers_to_remove
	}{
		{
			name: "valid API key, with the identity of its owner",
			req:  checkRequest("GET", "/orders/7?x=1", "x-api-key", key),
			want: map[string]string{gateway.HeaderAuth: "api_key", gateway.HeaderSubject: "shop", gateway.HeaderClient: "shop",
				gateway.HeaderScopes: "orders:read", gateway.HeaderKeyID: k.ID, gateway.HeaderKeyEnvironment: "test", "Authorization": ""},
			removed: []string{"x-api-key"}, // as the gateway, which never forwards the key
			kept:    []string{"user-agent", "x-request-id"},
		},
		{
			name:    "valid API key as a bearer token",
			req:     checkRequest("GET", "/orders", "authorization", "Bearer "+key),
			want:    map[string]string{gateway.HeaderSubject: "shop", "Authorization": ""},
			removed: []string{"authorization"},
		},
		{
			name: "valid JWT, passed on as it came",
			req:  checkRequest("GET", "/users/me", "authorization", "Bearer "+tok),
			want: map[string]string{gateway.HeaderAuth: "jwt", gateway.HeaderSubject: "alice", gateway.HeaderClient: "app",
				gateway.HeaderScopes: "profile", gateway.HeaderKeyID: "", "Authorization": ""},
			kept: []string{"authorization"},
		},
		{
			name: "spoofed identity headers, in every spelling, never reach the upstream",
			req: checkRequest("GET", "/users/me", "authorization", "Bearer "+tok, "x-gatehouse-subject", "admin",
				"x-gatehouse-key-id", "k_admin", "x_gatehouse_auth", "api_key", "x-real-ip", "10.0.0.1",
				"x-original-url", "/admin"),
			want:    map[string]string{gateway.HeaderSubject: "alice", gateway.HeaderKeyID: ""},
			removed: []string{"x-gatehouse-key-id", "x_gatehouse_auth", "x-real-ip", "x-original-url"},
			kept:    []string{"x-gatehouse-subject"}, // overwritten instead
		},
		{
			name:    "public route: no identity, and none spoofed",
			req:     checkRequest("GET", "/docs/intro", "x-gatehouse-subject", "admin"),
			want:    map[string]string{gateway.HeaderAuth: "", gateway.HeaderSubject: ""},
			removed: []string{"x-gatehouse-subject"},
		},
		{
			name: "Gatehouse's session cookie is taken out of the client's",
			req:  checkRequest("GET", "/docs", "cookie", "theme=dark; "+auth.CookieSession+"=s3cret; lang=fr"),
			want: map[string]string{"Cookie": "theme=dark; lang=fr"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.check(c.req)
			if got := codes.Code(resp.GetStatus().GetCode()); got != codes.OK {
				t.Fatalf("status %v, denied %v", got, resp.GetDeniedResponse())
			}
			ok := resp.GetOkResponse()
			for name, want := range c.want {
				got, present := headerOf(ok.GetHeaders(), name)
				if got != want || present != (want != "") {
					t.Errorf("upstream %s = %q (present %v), want %q", name, got, present, want)
				}
			}
			for _, o := range ok.GetHeaders() {
				if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
					t.Errorf("%s is set with %v", o.GetHeader().GetKey(), o.GetAppendAction())
				}
			}
			for _, name := range c.removed {
				if !slices.Contains(ok.GetHeadersToRemove(), name) {
					t.Errorf("%s is not removed: %q", name, ok.GetHeadersToRemove())
				}
			}
			for _, name := range c.kept {
				if slices.Contains(ok.GetHeadersToRemove(), name) {
					t.Errorf("%s is removed", name)
				}
			}
			if id, _ := headerOf(ok.GetResponseHeadersToAdd(), gateway.HeaderRequestID); id != "3b8f1c2e-envoy" {
				t.Errorf("X-Request-Id to the client = %q, want Envoy's", id)
			}
		})
	}

	t.Run("internal_jwt route: Authorization is the minted token", func(t *testing.T) {
		ok := e.check(checkRequest("GET", "/billing", "authorization", "Bearer "+tok)).GetOkResponse()
		authz, _ := headerOf(ok.GetHeaders(), "Authorization")
		minted, found := strings.CutPrefix(authz, "Bearer ")
		if !found || minted == tok {
			t.Fatalf("Authorization %q: want a new bearer token", authz)
		}
		v, err := verify.New(verify.Config{Issuer: testIssuer, JWKS: e.keyring.JWKS, Algorithms: e.keyring.Algorithms(),
			Audience: upstreamURL, Types: []string{"at+jwt"}, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if c, err := v.Verify(t.Context(), minted); err != nil || c.Subject != "alice" {
			t.Fatalf("internal token: %+v, %v", c, err)
		}
	})
}

// problemOf checks a denied answer's status and problem document and
// returns the document's type name.
func problemOf(t *testing.T, resp *authv3.CheckResponse, status int, code codes.Code) (string, *authv3.DeniedHttpResponse) {
	t.Helper()
	d := resp.GetDeniedResponse()
	if d == nil || int(d.GetStatus().GetCode()) != status || codes.Code(resp.GetStatus().GetCode()) != code {
		t.Fatalf("status %v / HTTP %d, want %v / %d; ok response %v", codes.Code(resp.GetStatus().GetCode()),
			d.GetStatus().GetCode(), code, status, resp.GetOkResponse())
	}
	if ct, _ := headerOf(d.GetHeaders(), "Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(d.GetBody()), &doc); err != nil || doc.Status != status {
		t.Fatalf("body %q: %v", d.GetBody(), err)
	}
	name, _ := problem.NameOf(doc.Type)
	return name, d
}

func TestCheckDenies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	admin := route("admin", "/admin", auth.PolicyAPIKey)
	admin.Scopes = []string{"admin"}
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey), route("users", "/users", auth.PolicyJWT), admin)
	_, key := e.createKey(apikey.CreateParams{Owner: "shop", Scopes: []string{"orders:read"}})
	old, revoked := e.createKey(apikey.CreateParams{Owner: "old"})
	if _, err := e.keys.Revoke(t.Context(), old.ID, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		req       *authv3.CheckRequest
		status    int
		code      codes.Code
		challenge bool // WWW-Authenticate expected
	}{
		{"missing key", checkRequest("GET", "/orders"), 401, codes.Unauthenticated, true},
		{"wrong key", checkRequest("GET", "/orders", "x-api-key", testPrefix+"nope"), 401, codes.Unauthenticated, true},
		{"revoked key", checkRequest("GET", "/orders", "x-api-key", revoked), 401, codes.Unauthenticated, true},
		{"bad token", checkRequest("GET", "/users", "authorization", "Bearer a.b.c"), 401, codes.Unauthenticated, true},
		{"out of scope", checkRequest("GET", "/admin", "x-api-key", key), 403, codes.PermissionDenied, true},
		{"no route", checkRequest("GET", "/nowhere", "x-api-key", key), 404, codes.PermissionDenied, false},
		{"path not canonical", checkRequest("GET", "/orders/../admin", "x-api-key", key), 400, codes.PermissionDenied, false},
		{"bad escape", checkRequest("GET", "/orders/%zz", "x-api-key", key), 400, codes.PermissionDenied, false},
		{"not an HTTP method", checkRequest("GE T", "/orders", "x-api-key", key), 400, codes.PermissionDenied, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, d := problemOf(t, e.check(c.req), c.status, c.code)
			challenge, found := headerOf(d.GetHeaders(), "WWW-Authenticate")
			if found != c.challenge || (found && !strings.Contains(challenge, gateway.Realm)) {
				t.Errorf("WWW-Authenticate %q (present %v)", challenge, found)
			}
			for _, o := range d.GetHeaders() {
				if strings.HasPrefix(strings.ToLower(o.GetHeader().GetKey()), "x-gatehouse-") {
					t.Errorf("a refusal carries %s", o.GetHeader().GetKey())
				}
			}
		})
	}
}

// A refusal is the gateway's own, header for header and byte for byte.
func TestCheckRefusesAsTheDecisionAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey))
	d := e.check(checkRequest("GET", "/orders", "x-api-key", testPrefix+"nope")).GetDeniedResponse()
	w := newHTTPDecision(t, e.gw, "/orders", "X-Api-Key", testPrefix+"nope", "X-Request-Id", "3b8f1c2e-envoy")
	if d.GetBody() != w.Body.String() {
		t.Errorf("body %s, the decision API's %s", d.GetBody(), w.Body)
	}
	for name, vals := range w.Header() {
		got, _ := headerOf(d.GetHeaders(), name)
		if got != vals[0] {
			t.Errorf("%s = %q, the decision API's %q", name, got, vals[0])
		}
	}
	if len(d.GetHeaders()) != len(w.Header()) {
		t.Errorf("%d headers, the decision API's %d", len(d.GetHeaders()), len(w.Header()))
	}
}

func TestCheckFromAnUntrustedCallerIsForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, []netip.Prefix{netip.MustParsePrefix("10.9.8.0/24")})
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey))
	_, key := e.createKey(apikey.CreateParams{Owner: "shop"})
	resp := e.check(checkRequest("GET", "/orders", "x-api-key", key))
	if name, _ := problemOf(t, resp, 403, codes.PermissionDenied); name != "untrusted_caller" {
		t.Errorf("problem %q, want untrusted_caller", name)
	}
	// Neither does a described request that is not HTTP's tell it more.
	if name, _ := problemOf(t, e.check(checkRequest("GE T", "nope")), 403, codes.PermissionDenied); name != "untrusted_caller" {
		t.Errorf("problem %q, want untrusted_caller", name)
	}
}

func TestCheckRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	r := route("orders", "/orders", auth.PolicyAPIKey)
	r.RateLimit = auth.RateLimit{Rate: 0.001, Burst: 1}
	e.setRoutes(r)
	_, key := e.createKey(apikey.CreateParams{Owner: "shop"})
	ok := e.check(checkRequest("GET", "/orders", "x-api-key", key)).GetOkResponse()
	if ok == nil {
		t.Fatal("the first request is refused")
	}
	if v, _ := headerOf(ok.GetResponseHeadersToAdd(), "RateLimit-Remaining"); v != "0" {
		t.Errorf("RateLimit-Remaining to the client = %q, want 0", v)
	}
	if _, up := headerOf(ok.GetHeaders(), "RateLimit-Limit"); up {
		t.Error("RateLimit-Limit is set on the upstream request")
	}
	_, d := problemOf(t, e.check(checkRequest("GET", "/orders", "x-api-key", key)), 429, codes.PermissionDenied)
	for _, name := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if v, _ := headerOf(d.GetHeaders(), name); v == "" {
			t.Errorf("no %s on the 429", name)
		}
	}
}

// The client's address is the source attribute, appended to what the
// client claimed in X-Forwarded-For: a key restricted to networks sees
// the real one.
func TestCheckFindsTheClientBehindEnvoy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey))
	_, key := e.createKey(apikey.CreateParams{Owner: "shop", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	if resp := e.check(checkRequest("GET", "/orders", "x-api-key", key)); resp.GetOkResponse() == nil {
		t.Fatalf("from 203.0.113.7: %v", resp.GetDeniedResponse())
	}
	req := checkRequest("GET", "/orders", "x-api-key", key, "x-forwarded-for", "203.0.113.9")
	req.Attributes.Source.Address = socketAddress("198.51.100.1", 4000)
	if resp := e.check(req); resp.GetOkResponse() != nil {
		t.Fatal("a client outside the key's networks passed by claiming an address in X-Forwarded-For")
	}
}

// With encode_raw_headers, Envoy sends header_map (a value per entry, raw
// bytes) instead of headers.
func TestCheckReadsRawHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey))
	_, key := e.createKey(apikey.CreateParams{Owner: "shop"})
	req := checkRequest("GET", "/orders")
	hr := req.Attributes.Request.Http
	hr.Headers = nil
	hr.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":path", RawValue: []byte("/orders")},
		{Key: "x-api-key", RawValue: []byte(key)},
		{Key: "x-gatehouse-scopes", RawValue: []byte("admin")},
		{Key: "x-gatehouse-scopes", RawValue: []byte("root")},
	}}
	ok := e.check(req).GetOkResponse()
	if ok == nil || !slices.Contains(ok.GetHeadersToRemove(), "x-gatehouse-scopes") {
		t.Fatalf("answer %v", ok)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	for _, service := range []string{"", authv3.Authorization_ServiceDesc.ServiceName} {
		resp, err := healthpb.NewHealthClient(e.conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v", service, resp, err)
		}
	}
}

// Concurrent checks share the pooled buffers: each answer must be its own
// request's.
func TestCheckConcurrentAnswersAreTheirOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, loopback)
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey))
	owners := []string{"alpha", "beta", "gamma", "delta"}
	keys := make([]string, len(owners))
	for i, o := range owners {
		_, keys[i] = e.createKey(apikey.CreateParams{Owner: o})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				who := (g + i) % len(owners)
				if i%3 == 0 {
					resp, err := e.client.Check(context.Background(), checkRequest("GET", "/orders", "x-api-key", testPrefix+"nope"))
					if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 401 {
						t.Errorf("wrong key: %v, %v", resp, err)
					}
					continue
				}
				resp, err := e.client.Check(context.Background(), checkRequest("GET", "/orders", "x-api-key", keys[who],
					"x-gatehouse-client", "spoof"))
				if err != nil {
					t.Error(err)
					return
				}
				ok := resp.GetOkResponse()
				if sub, _ := headerOf(ok.GetHeaders(), gateway.HeaderSubject); sub != owners[who] {
					t.Errorf("subject %q, want %q", sub, owners[who])
				}
				if !slices.Contains(ok.GetHeadersToRemove(), "x-api-key") || resp.GetDeniedResponse() != nil {
					t.Errorf("answer %v", resp)
				}
			}
		})
	}
	wg.Wait()
}
