package extauthz

import (
	"context"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc/peer"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// discard is a ResponseWriter that keeps nothing but the headers.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkCheck measures one decision for a cached API key: "decide" is
// the gateway's Decide alone on a ready request (the floor), "check" adds
// the conversions both ways, "grpc" a loopback gRPC call from a real
// client on top.
func BenchmarkCheck(b *testing.B) {
	e := newEnv(b, loopback)
	e.setRoutes(route("orders", "/orders", auth.PolicyAPIKey))
	_, key := e.createKey(apikey.CreateParams{Owner: "shop", Scopes: []string{"orders:read"}})
	req := checkRequest("GET", "/orders/7?x=1", "x-api-key", key, "accept", "application/json",
		"x-forwarded-for", "203.0.113.7", "x-forwarded-proto", "https", "x-envoy-expected-rq-timeout-ms", "200")
	if e.check(req).GetOkResponse() == nil {
		b.Fatal("refused")
	}

	b.Run("decide", func(b *testing.B) {
		b.ReportAllocs()
		w := &discard{h: http.Header{}}
		for b.Loop() {
			r, _ := http.NewRequest("GET", "https://shop.example.com/orders/7?x=1", nil)
			r.RemoteAddr = "127.0.0.1:5000"
			r.Header = http.Header{"X-Api-Key": {key}, "Accept": {"application/json"}, "User-Agent": {"curl/8"},
				"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}, "X-Request-Id": {"3b8f1c2e-envoy"},
				"X-Envoy-Expected-Rq-Timeout-Ms": {"200"}}
			clear(w.h)
			e.gw.Decide(w, r)
		}
	})
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		s := New(e.gw)
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}})
		for b.Loop() {
			if resp, _ := s.Check(ctx, req); resp.GetOkResponse() == nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("grpc", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			if resp, err := e.client.Check(ctx, req); err != nil || resp.GetOkResponse() == nil {
				b.Fatal("refused", err)
			}
		}
	})
	b.Run("grpc-parallel", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if resp, err := e.client.Check(ctx, req); err != nil || resp.GetOkResponse() == nil {
					b.Error("refused", err)
					return
				}
			}
		})
	})
}
