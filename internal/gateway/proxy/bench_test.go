package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// The two benchmarks forward the same request to the same upstream with
// the same transport, ServeHTTP called directly so that the client side
// does not blur the difference: BenchmarkProxy over
// BenchmarkBareReverseProxy is the cost of this package's layer (round
// robin, health, header timer, retry bookkeeping).

func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(up.Close)
	return up
}

func benchServe(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "http://gateway.test/api/orders/7?x=1", nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b)
	tr := NewTransport(256)
	b.Cleanup(tr.CloseIdleConnections)
	p, err := New(Options{Upstreams: []string{up.URL}, StripPrefix: "/api", Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, p)
}

func BenchmarkBareReverseProxy(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	tr := NewTransport(256)
	b.Cleanup(tr.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	benchServe(b, rp)
}
