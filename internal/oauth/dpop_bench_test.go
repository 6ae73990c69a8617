package oauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

// BenchmarkTokenDPoP measures, in the same run, client-credentials
// issuance plain and DPoP-bound (a fresh ES256 proof per request, made
// before the timer starts: signing proofs is the client's work). The
// dpop cases (ES256 proofs; EdDSA and RS256 besides) report ratio, their
// throughput over plain's (issue 14's target: at least 0.7). The DPoP path adds a go-jose parse, one ES256
// verification, the thumbprint and the in-memory replay cache to the
// ES256 signature the plain path already makes.
func BenchmarkTokenDPoP(b *testing.B) {
	ts := buildTestServer(b)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	h := ts.Handler()
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"read write"}}.Encode()
	var plainNs, lastNs float64
	run := func(name string, alg jose.SignatureAlgorithm) {
		dpop := alg != ""
		var dc *dpoptest.Client
		if dpop {
			dc = dpoptest.MustNew(alg)
			dc.Now = ts.Clock.Now
		}
		b.Run(name, func(b *testing.B) {
			var proofs []string
			if dpop {
				proofs = make([]string, b.N)
				for i := range proofs {
					proofs[i] = dc.Proof("POST", ts.URL+PathToken, dpoptest.Options{})
				}
			}
			var next atomic.Int64
			runtime.GC() // the proofs' garbage is not the server's
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, PathToken, strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(c.ID, secret)
					if dpop {
						req.Header.Set("DPoP", proofs[next.Add(1)-1])
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			lastNs = ns
			if !dpop {
				plainNs = ns
			} else if plainNs > 0 {
				b.ReportMetric(plainNs/ns, "ratio")
			}
		})
		if !dpop {
			return
		}
		// The floor: the proof's signature check alone, standard library.
		var sigNs float64
		b.Run("signature_"+strings.ToLower(string(alg)), func(b *testing.B) {
			sig := dc.SignatureOnly(dc.Proof("POST", ts.URL+PathToken, dpoptest.Options{}))
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
			sigNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		if plainNs > 0 && sigNs > 0 {
			fmt.Printf("%s: floor_ratio %.2f (plain/(plain+signature)), over_sig %.2f ((dpop-plain)/signature)\n",
				name, plainNs/(plainNs+sigNs), (lastNs-plainNs)/sigNs)
		}
	}
	run("plain", "")
	run("dpop", jose.ES256)
	run("dpop_eddsa", jose.EdDSA)
	run("dpop_rs256", jose.RS256)
}
