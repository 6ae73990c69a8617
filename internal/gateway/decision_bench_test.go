package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// decisionCase is a question to the decision API as Caddy's forward_auth
// asks it: the original request in X-Forwarded-*, the client's credential
// passed on as it came.
type decisionCase struct {
	name    string
	path    string            // the original request's path
	headers map[string]string // the client's, beside the forwarding ones
}

// newDecisionEnv is a gateway whose decision API trusts proxyAddr, with a
// public, an api_key, a jwt and an internal_jwt route (the api_key and jwt
// ones as in BenchmarkGateway), and a question for each with a credential
// the caches already hold after the first request.
func newDecisionEnv(tb testing.TB) (*testEnv, []decisionCase) {
	e := newTestEnv(tb, trustProxy, func(c *Config) { c.AccessLog = false; c.InternalTokenTTL = time.Hour })
	route := func(name, path, policy string) auth.Route {
		return auth.Route{Name: name, PathPrefix: path, Policy: policy, Upstreams: []string{e.upstream.URL}, AnyAudience: policy != auth.PolicyAPIKey && policy != auth.PolicyPublic}
	}
	internal := route("internal_jwt", "/in", auth.PolicyAny)
	internal.InternalJWT = true
	e.setRoutes(route("public", "/public", auth.PolicyPublic), route("key", "/key", auth.PolicyAPIKey), route("jwt", "/jwt", auth.PolicyJWT), internal)
	_, key := e.createKey("bench", nil, auth.RateLimit{})
	tok := e.token(tokenClaims{Sub: "bench", ClientID: "bench-app", Scope: "a b"})
	return e, []decisionCase{
		{"public", "/public/items/42", nil},
		{"api_key", "/key/items/42", map[string]string{"X-API-Key": key}},
		{"jwt", "/jwt/items/42", map[string]string{"Authorization": "Bearer " + tok}},
		{"internal_jwt", "/in/items/42", map[string]string{"Authorization": "Bearer " + tok}},
	}
}

// decisionRequest is the question of c to the decision endpoint from the
// trusted proxy; its header map holds headerRoom entries without growing.
func (c decisionCase) decisionRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://auth.internal"+DecisionsPath, nil)
	r.RemoteAddr = proxyAddr
	r.Header = make(http.Header, headerRoom)
	r.Header["X-Forwarded-Method"] = []string{http.MethodGet}
	r.Header["X-Forwarded-Uri"] = []string{c.path}
	r.Header["X-Forwarded-Host"] = []string{"gw.example.com"}
	r.Header["X-Forwarded-Proto"] = []string{"https"}
	for k, v := range c.headers {
		r.Header.Set(k, v)
	}
	return r
}

// gatewayRequest is the same request sent to the gateway itself.
func (c decisionCase) gatewayRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://gw.example.com"+c.path, nil)
	r.Header = make(http.Header, headerRoom)
	for k, v := range c.headers {
		r.Header.Set(k, v)
	}
	return r
}

// headerRoom is the size the requests' and responses' header maps are
// made with in these measurements, more than either path fills: a map
// that grows would count against whichever path crossed its size first,
// though net/http sizes a request's map by the header lines it read.
const headerRoom = 32

// BenchmarkDecision asks the decision endpoint (DecisionHandler) in
// process, as BenchmarkGateway sends requests through the gateway: each
// question describes its original request in X-Forwarded-Method, -Uri,
// -Host and -Proto, as Caddy's forward_auth does. Repeated credentials are
// served from the caches (no store read for the key, no signature check
// for the JWT, the internal JWT from the mint cache). harness is the same
// loop with a handler that only answers 200: building the request and the
// loop's own cost, to subtract. Compare allocs/op with BenchmarkGateway's,
// which include the proxy's.
func BenchmarkDecision(b *testing.B) {
	e, cases := newDecisionEnv(b)
	decisions := e.gw.DecisionHandler()
	harness := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	cases = append([]decisionCase{{name: "harness", path: "/key/items/42", headers: cases[1].headers}}, cases...)
	for _, c := range cases {
		h := http.Handler(decisions)
		if c.name == "harness" {
			h = harness
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					r := httptest.NewRequest(http.MethodGet, "http://auth.internal"+DecisionsPath, nil)
					r.RemoteAddr = proxyAddr
					r.Header.Set("X-Forwarded-Method", http.MethodGet)
					r.Header.Set("X-Forwarded-Uri", c.path)
					r.Header.Set("X-Forwarded-Host", "gw.example.com")
					r.Header.Set("X-Forwarded-Proto", "https")
					for k, v := range c.headers {
						r.Header.Set(k, v)
					}
					clear(w.h)
					w.status = 0
					h.ServeHTTP(w, r)
					if w.status != http.StatusOK {
						b.Errorf("%s: status %d", c.name, w.status)
						return
					}
				}
			})
		})
	}
}
