package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
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

// BenchmarkProxyPost forwards a small JSON POST (the common API call), its
// body declared with Content-Length or sent chunked, to an upstream that
// reads it.
func BenchmarkProxyPost(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(up.Close)
	tr := NewTransport(256)
	b.Cleanup(tr.CloseIdleConnections)
	p, err := New(Options{Upstreams: []string{up.URL}, StripPrefix: "/api", Transport: tr})
	if err != nil {
		b.Fatal(err)
	}
	payload := `{"customer":"c_123","items":[` + strings.Repeat(`{"sku":"A-1","qty":1},`, 40) + `{"sku":"B-2","qty":2}]}`
	for _, chunked := range []bool{false, true} {
		name := "content_length"
		if chunked {
			name = "chunked"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "http://gateway.test/api/orders", strings.NewReader(payload))
					if chunked {
						req.ContentLength = -1
						req.TransferEncoding = []string{"chunked"}
					}
					w := httptest.NewRecorder()
					p.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}
