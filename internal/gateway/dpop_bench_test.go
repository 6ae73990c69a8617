package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// BenchmarkGatewayDPoP measures, in the same run and as
// BenchmarkGateway does, the bare ReverseProxy, the gateway with a bearer
// JWT (cached), and for each proof algorithm (ES256, EdDSA, RS256): the
// proof's signature check alone with the standard library (the floor),
// the whole proof check (verify.DPoP.Check) and the gateway with a
// DPoP-bound JWT and a fresh proof per request (in-memory replay cache,
// one node). Proofs are made before the timer starts. ratio is a case's
// throughput over bare_proxy's (issue 14's target for dpop: at least
// 0.8). A summary line per algorithm gives floor_ratio, what dpop would
// reach if the signature were its only cost over bare_proxy, over_sig,
// what the DPoP path costs beyond the bearer path in signature checks
// (1.0: nothing but the signature), and check_over_sig, the proof check
// in signature checks.
func BenchmarkGatewayDPoP(b *testing.B) {
	var d *verify.DPoP
	e := newTestEnv(b, func(c *Config) {
		c.AccessLog = false
		var err error
		c.PublicURL = "http://gw.example.com"
		d, err = verify.NewDPoP(verify.DPoPConfig{Now: c.Now})
		if err != nil {
			b.Fatal(err)
		}
		c.DPoP = d
	})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "jwt", PathPrefix: "/jwt", Policy: auth.PolicyJWT, Upstreams: []string{up.URL}, AnyAudience: true})
	dc := dpoptest.MustNew(jose.ES256)
	dc.Now = e.clock.Now
	bound := e.boundToken(dc.JKT())
	bearer := e.token(tokenClaims{Sub: "bench", ClientID: "bench-app", Scope: "a b"})
	const htu = "http://gw.example.com/jwt"

	bare := e.bareProxy(up.URL)
	proofsFor := func(n int, tok string) []string {
		p := make([]string, n)
		for i := range p {
			p[i] = dc.Proof("GET", htu, dpoptest.Options{AccessToken: tok})
		}
		return p
	}

	ns := map[string]float64{}
	record := func(b *testing.B, name string) {
		v := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		ns[name] = v
		if bn := ns["bare_proxy"]; bn > 0 && name != "bare_proxy" {
			b.ReportMetric(bn/v, "ratio")
		}
	}
	run := func(name string, h http.Handler, scheme, tok string, dpop bool) {
		b.Run(name, func(b *testing.B) {
			var proofs []string
			if dpop {
				proofs = proofsFor(b.N, tok)
			}
			var next atomic.Int64
			runtime.GC() // the proofs' garbage is not the server's
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				for pb.Next() {
					r := httptest.NewRequest("GET", htu, nil)
					if tok != "" {
						r.Header.Set("Authorization", scheme+" "+tok)
					}
					if dpop {
						r.Header.Set("DPoP", proofs[next.Add(1)-1])
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
			record(b, name)
		})
	}
	run("bare_proxy", bare, "", "", false)
	run("jwt", e.gw, "Bearer", bearer, false)
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		suffix := strings.ToLower(string(alg))
		dc = dpoptest.MustNew(alg)
		dc.Now = e.clock.Now
		bound = e.boundToken(dc.JKT())
		b.Run("signature_"+suffix, func(b *testing.B) {
			sig := dc.SignatureOnly(proofsFor(1, bound)[0])
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !sig() {
						b.Error("signature does not verify")
						return
					}
				}
			})
			record(b, "signature_"+suffix)
		})
		b.Run("proof_check_"+suffix, func(b *testing.B) {
			proofs := proofsFor(b.N, bound)
			var next atomic.Int64
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := d.Check(context.Background(), proofs[next.Add(1)-1], verify.ProofRequest{Method: "GET", URL: htu, AccessToken: bound}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			record(b, "proof_check_"+suffix)
		})
		name := "dpop_" + suffix
		run(name, e.gw, "DPoP", bound, true)
		if sig := ns["signature_"+suffix]; sig > 0 {
			fmt.Printf("%s: ratio %.2f, floor_ratio %.2f (bare/(bare+signature)), over_sig %.2f ((dpop-jwt)/signature), check_over_sig %.2f\n",
				name, ns["bare_proxy"]/ns[name], ns["bare_proxy"]/(ns["bare_proxy"]+sig), (ns[name]-ns["jwt"])/sig, ns["proof_check_"+suffix]/sig)
		}
	}
}
