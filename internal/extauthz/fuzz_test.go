package extauthz

import (
	"context"
	"net"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// FuzzCheckRequest feeds what Envoy (or anyone who can reach the gRPC
// port) may send through the conversion and a real decision on a public
// route. headers holds "name: value" lines; raw sends them as header_map
// entries (encode_raw_headers) rather than the headers map.
//
// Whatever the input: no panic and no error; the request handed to the
// decision carries no pseudo-header, the host Envoy named, the source
// address last in X-Forwarded-For, and a scheme only when it is http(s);
// an allowed answer sets no header but the identity ones and the cleaned
// Cookie, and removes every X-Gatehouse-* header the client sent, in any
// spelling (a public route sets none).
func FuzzCheckRequest(f *testing.F) {
	f.Add("GET", "/orders/7?x=1", "shop.example.com", "https", "203.0.113.7", "x-api-key: sk_test_x\nx-gatehouse-subject: admin", false)
	f.Add("POST", "/a%2Fb;c?d=%zz", "[::1]:8443", "http", "2001:db8::1", "X_Gatehouse_Auth: api_key\ncookie: gatehouse_session=a; b=c", true)
	f.Add("GE T", "reports", "", "ftp", "not-an-ip", ":path: /x\nhost: evil\nx-forwarded-for: 1.2.3.4, garbage", false)
	f.Add("GET", "https://shop.example.com/x#frag", "shop", "", "", "x-real-ip: 10.0.0.1\nx-original-url: /admin", true)

	e := newEnv(f, loopback)
	e.setRoutes(route("all", "/", auth.PolicyPublic))
	s := New(e.gw)
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})

	f.Fuzz(func(t *testing.T, method, path, host, scheme, src, headers string, raw bool) {
		req := fuzzRequest(method, path, host, scheme, src, headers, raw)

		c := checks.Get().(*check)
		r := c.request(ctx, req)
		for k := range r.Header {
			if strings.HasPrefix(k, ":") {
				t.Errorf("pseudo-header %q in the request", k)
			}
		}
		if r.Host != host {
			t.Errorf("Host %q, want %q", r.Host, host)
		}
		if validIP(src) {
			if xff := r.Header[xForwardedFor]; len(xff) == 0 || xff[len(xff)-1] != src {
				t.Errorf("X-Forwarded-For %q does not end with the source %q", xff, src)
			}
		}
		if p := r.Header[xForwardedProto]; len(p) > 0 && (len(p) != 1 || p[0] != scheme || (scheme != "http" && scheme != "https")) {
			t.Errorf("X-Forwarded-Proto %q from scheme %q", p, scheme)
		}
		if r.URL.Path != "" && !strings.HasPrefix(r.URL.Path, "/") {
			t.Errorf("path %q", r.URL.Path)
		}
		c.release()

		resp, err := s.Check(ctx, req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		ok := resp.GetOkResponse()
		if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
			if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() < 400 || d.GetBody() == "" {
				t.Errorf("refused with HTTP %d, body %q", d.GetStatus().GetCode(), d.GetBody())
			}
			return
		}
		for _, o := range ok.GetHeaders() {
			if k := o.GetHeader().GetKey(); k != "Cookie" && !upstreamHeader(k) {
				t.Errorf("%q set upstream", k)
			}
		}
		for _, name := range sentNames(req) {
			folded := strings.ReplaceAll(name, "_", "-")
			if len(folded) < len("x-gatehouse-") || !strings.EqualFold(folded[:len("x-gatehouse-")], "x-gatehouse-") {
				continue
			}
			removed := false
			for _, rm := range ok.GetHeadersToRemove() {
				removed = removed || strings.EqualFold(rm, name)
			}
			if !removed {
				t.Errorf("%q reaches the upstream; removed: %q", name, ok.GetHeadersToRemove())
			}
		}
	})
}

func fuzzRequest(method, path, host, scheme, src, headers string, raw bool) *authv3.CheckRequest {
	hr := &authv3.AttributeContext_HttpRequest{Method: method, Path: path, Host: host, Scheme: scheme}
	for line := range strings.SplitSeq(headers, "\n") {
		name, value, _ := strings.Cut(line, ": ")
		if raw {
			if hr.HeaderMap == nil {
				hr.HeaderMap = &corev3.HeaderMap{}
			}
			hr.HeaderMap.Headers = append(hr.HeaderMap.Headers, &corev3.HeaderValue{Key: name, RawValue: []byte(value)})
			continue
		}
		if hr.Headers == nil {
			hr.Headers = map[string]string{}
		}
		hr.Headers[name] = value
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:  &authv3.AttributeContext_Peer{Address: socketAddress(src, 1)},
		Request: &authv3.AttributeContext_Request{Http: hr},
	}}
}

// sentNames are the header names of req that reach the decision.
func sentNames(req *authv3.CheckRequest) []string {
	hr := req.GetAttributes().GetRequest().GetHttp()
	var names []string
	for name := range hr.GetHeaders() {
		names = append(names, name)
	}
	if len(names) == 0 {
		for _, hv := range hr.GetHeaderMap().GetHeaders() {
			names = append(names, hv.GetKey())
		}
	}
	return names
}
