package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// BenchmarkGatewayPost sends a small JSON POST (the common API call)
// through ServeHTTP in process, on a public route, to an upstream that
// reads the body: its Content-Length declared, or chunked.
func BenchmarkGatewayPost(b *testing.B) {
	e := newTestEnv(b, func(c *Config) { c.AccessLog = false })
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "public", PathPrefix: "/public", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})
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
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					r := httptest.NewRequest("POST", "http://gw.example.com/public/orders", strings.NewReader(payload))
					if chunked {
						r.ContentLength = -1
						r.TransferEncoding = []string{"chunked"}
					}
					clear(w.h)
					w.status = 0
					e.gw.ServeHTTP(w, r)
					if w.status != 0 && w.status != 200 {
						b.Errorf("status %d", w.status)
						return
					}
				}
			})
		})
	}
}
