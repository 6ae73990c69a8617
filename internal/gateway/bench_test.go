package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/proxy"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the gateway rather than a recorder's buffers.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) Flush()                      {}

// bareProxy is httputil.ReverseProxy to upstream on the gateway's
// transport: the baseline of the gateway benchmarks.
func (e *testEnv) bareProxy(upstream string) *httputil.ReverseProxy {
	target, _ := url.Parse(upstream)
	transport := e.gw.cfg.Transport
	if transport == nil {
		transport = proxy.NewTransport(DefaultMaxIdlePerHost)
	}
	return &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: transport,
	}
}

// BenchmarkGateway sends requests through ServeHTTP in process to an
// httptest upstream over loopback. bare_proxy is httputil.ReverseProxy on
// the same tuned transport: the cost of forwarding alone. The others
// report x_bare, their time per request over bare_proxy's. Repeated
// credentials are served from the caches: no signature check for the JWT,
// no store read for the API key.
func BenchmarkGateway(b *testing.B) {
	e := newTestEnv(b, func(c *Config) { c.AccessLog = false })
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	route := func(name, path, policy string) auth.Route {
		return auth.Route{Name: name, PathPrefix: path, Policy: policy, Upstreams: []string{up.URL}, AnyAudience: policy == auth.PolicyJWT}
	}
	mfa := route("jwt_mfa", "/mfa", auth.PolicyJWT)
	mfa.RequireMFA = true
	e.setRoutes(route("public", "/public", auth.PolicyPublic), route("key", "/key", auth.PolicyAPIKey), route("jwt", "/jwt", auth.PolicyJWT), mfa)
	_, key := e.createKey("bench", nil, auth.RateLimit{})
	tok := e.token(tokenClaims{Sub: "bench", ClientID: "bench-app", Scope: "a b"})
	// A token of a sign-in with two factors, on a require_mfa route.
	tokMFA := e.token(tokenClaims{Sub: "bench", ClientID: "bench-app", Scope: "a b", AMR: []string{"mfa", "otp", "pwd"}, ACR: auth.ACRMFA})

	bare := e.bareProxy(up.URL)

	var bareNs float64
	run := func(name string, h http.Handler, path string, headers map[string]string) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					r := httptest.NewRequest("GET", "http://gw.example.com"+path, nil)
					for k, v := range headers {
						r.Header.Set(k, v)
					}
					clear(w.h)
					w.status = 0
					h.ServeHTTP(w, r)
					if w.status != 0 && w.status != 200 {
						b.Errorf("%s: status %d", name, w.status)
						return
					}
				}
			})
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if name == "bare_proxy" {
				bareNs = ns
			} else if bareNs > 0 {
				b.ReportMetric(ns/bareNs, "x_bare")
			}
		})
	}
	run("bare_proxy", bare, "/public", nil)
	run("public", e.gw, "/public", nil)
	run("api_key", e.gw, "/key", map[string]string{"X-API-Key": key})
	run("jwt", e.gw, "/jwt", map[string]string{"Authorization": "Bearer " + tok})
	run("jwt_mfa", e.gw, "/mfa", map[string]string{"Authorization": "Bearer " + tokMFA})
}
