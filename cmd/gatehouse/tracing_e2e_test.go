package main

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// collector is an OTLP/HTTP trace receiver: what the exporter sends, in
// protobuf, decoded as a real collector would.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					c.services = append(c.services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

// inTrace returns the received spans of trace traceID (hex).
func (c *collector) inTrace(traceID string) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			out = append(out, s)
		}
	}
	return out
}

func (c *collector) all() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...)
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return anyValue(a.Value)
		}
	}
	return ""
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	default:
		return v.String()
	}
}

func findSpan(spans []*tracepb.Span, match func(*tracepb.Span) bool) *tracepb.Span {
	for _, s := range spans {
		if match(s) {
			return s
		}
	}
	return nil
}

func named(prefix string) func(*tracepb.Span) bool {
	return func(s *tracepb.Span) bool { return strings.HasPrefix(s.Name, prefix) }
}

func spanNames(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestTracesReachTheCollector runs a node with tracing on, exporting
// through the real OTLP/HTTP exporter: a gateway request that carries a
// traceparent is traced (server span, key verification, store read, and
// Redis when redis_url is set) in the caller's trace, and the upstream
// gets a traceparent of that trace whose parent is the gateway's span; a
// token request records its grant.
func TestTracesReachTheCollector(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			tracesReachTheCollector(t, withRedis)
		})
	}
}

func tracesReachTheCollector(t *testing.T, withRedis bool) {
	col := newCollector(t)
	up := newUpstream(t, "orders")
	// A route name of its own per run: with Redis, its buckets live there.
	route := "orders-" + strings.ToLower(rand.Text()[:10])
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, fmt.Appendf(nil, "routes:\n  - {name: %s, path: /orders, upstreams: [%s], policy: api_key, scopes: [orders:read], rate_limit: {rate: 1000, burst: 1000}}\n", route, up.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, t.TempDir(), "")
	cfg.Gateway.RoutesFile = routes
	cfg.Tracing.OTLPEndpoint = col.URL
	cfg.Tracing.ServiceName = "gatehouse-e2e"
	if withRedis {
		u, err := url.Parse(testenv.RedisURL())
		if err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err != nil {
			testenv.RedisUnreachable(t, err)
		} else {
			c.Close()
		}
		cfg.RedisURL = testenv.RedisURL()
	}
	n := startInitialised(t, cfg, testenv.NewClock(time.Now()), &testenv.SyncBuffer{})

	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	n.cliJSON(&key, "keys", "create", "--owner", "shop", "--name", "orders", "--scopes", "orders:read")
	var cl struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	n.cliJSON(&cl, "clients", "create", "--name", "Batch", "--grant-types", "client_credentials")

	const callerTrace, callerSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	h := apiKey(key.Key)
	h.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	h.Set("Tracestate", "congo=t61rcWkgMzE")
	if r := gwGet(t, n.main.GatewayURL()+"/orders/42", h); r.status != http.StatusOK {
		t.Fatalf("gateway request: %d", r.status)
	}
	seen := up.last(t)
	got := strings.Split(seen.Header.Get("Traceparent"), "-")
	if len(got) != 4 || got[1] != callerTrace || got[2] == callerSpan {
		t.Fatalf("upstream traceparent %q: want trace %s with the gateway's span as parent", seen.Header.Get("Traceparent"), callerTrace)
	}
	if ts := seen.Header.Get("Tracestate"); ts != "congo=t61rcWkgMzE" {
		t.Errorf("upstream tracestate %q, want the caller's", ts)
	}

	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest("POST", n.main.URL()+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cl.ClientID, cl.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token request: %d %s", resp.StatusCode, token)
	}

	if status, _ := n.get("/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz: %d", status)
	}

	// Close flushes the batched spans to the collector.
	if err := n.main.Close(); err != nil {
		t.Fatal(err)
	}

	trace := col.inTrace(callerTrace)
	t.Logf("the gateway request's trace: %q", spanNames(trace))
	server := findSpan(trace, func(s *tracepb.Span) bool { return s.Kind == tracepb.Span_SPAN_KIND_SERVER })
	if server == nil {
		t.Fatalf("no server span in the caller's trace; got %q", spanNames(trace))
	}
	if server.Name != "GET "+route || hex.EncodeToString(server.ParentSpanId) != callerSpan ||
		spanAttr(server, "http.response.status_code") != "200" {
		t.Errorf("server span %q, parent %x, status %s", server.Name, server.ParentSpanId, spanAttr(server, "http.response.status_code"))
	}
	if id := hex.EncodeToString(server.SpanId); got[2] != id {
		t.Errorf("the upstream's parent is %s, not the gateway's span %s", got[2], id)
	}
	verify := findSpan(trace, named("apikey.verify"))
	if verify == nil || spanAttr(verify, "gatehouse.apikey.id") != key.ID || spanAttr(verify, "gatehouse.apikey.code") != "VALID" {
		t.Fatalf("no apikey.verify span of %s in the trace; got %q", key.ID, spanNames(trace))
	}
	store := findSpan(trace, named("sqlite SELECT"))
	if store == nil || string(store.ParentSpanId) != string(verify.SpanId) {
		t.Errorf("no store read under apikey.verify (the key's first verification); got %q", spanNames(trace))
	}
	if withRedis {
		if r := findSpan(trace, named("redis ")); r == nil || spanAttr(r, "db.system.name") != "redis" {
			t.Errorf("redis_url is set but no Redis span in the trace; got %q", spanNames(trace))
		}
	} else if r := findSpan(trace, named("redis ")); r != nil {
		t.Errorf("a Redis span without Redis: %q", r.Name)
	}

	all := col.all()
	grant := findSpan(all, named("oauth.token"))
	if grant == nil || spanAttr(grant, "gatehouse.oauth.grant_type") != "client_credentials" || spanAttr(grant, "gatehouse.client_id") != cl.ClientID {
		t.Fatalf("no oauth.token span for the client credentials grant; got %q", spanNames(all))
	}
	if parent := findSpan(all, func(s *tracepb.Span) bool { return string(s.SpanId) == string(grant.ParentSpanId) }); parent == nil || parent.Name != "POST token" {
		t.Errorf("the grant's span is not under the token endpoint's server span")
	}
	if probe := findSpan(all, named("GET health")); probe != nil {
		t.Errorf("a health probe was traced: %q", probe.Name)
	}
	if col.services[0] != "gatehouse-e2e" {
		t.Errorf("service.name %q", col.services[0])
	}
	for _, s := range all {
		for _, a := range s.Attributes {
			v := anyValue(a.Value)
			for _, secret := range []string{key.Key, cl.ClientSecret, key.Key[8:]} {
				if strings.Contains(v, secret) {
					t.Fatalf("span %s attribute %s holds a secret", s.Name, a.Key)
				}
			}
			if strings.Contains(string(token), v) && len(v) > 40 {
				t.Fatalf("span %s attribute %s holds the access token", s.Name, a.Key)
			}
		}
	}
}
