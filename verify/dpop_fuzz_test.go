package verify

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

// FuzzDPoPProof feeds the proof parser what a client may send in a DPoP
// header: it must never panic, and whatever it accepts must be a proof for
// the request with a well-formed thumbprint.
func FuzzDPoPProof(f *testing.F) {
	clk := newClock()
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256} {
		c := dpoptest.MustNew(alg)
		c.Now = clk.Now
		f.Add(c.Proof("POST", testHTU, dpoptest.Options{}), "")
		f.Add(c.Proof("GET", testHTU, dpoptest.Options{AccessToken: "tok"}), "tok")
		f.Add(c.Proof("POST", testHTU, dpoptest.Options{Typ: "JWT", Claims: map[string]any{"iat": 1e300}}), "")
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.", "")
	f.Add("..", "")
	f.Fuzz(func(t *testing.T, proof, token string) {
		d, err := NewDPoP(DPoPConfig{Now: clk.Now, Window: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		method := "POST"
		if token != "" {
			method = "GET"
		}
		p, err := d.Check(context.Background(), proof, ProofRequest{Method: method, URL: testHTU, AccessToken: token})
		if err != nil {
			if ReasonOf(err) != ReasonInvalidDPoPProof {
				t.Fatalf("reason %q for a proof", ReasonOf(err))
			}
			return
		}
		if !ValidJKT(p.JKT) || p.JTI == "" {
			t.Fatalf("accepted proof with jkt %q jti %q", p.JKT, p.JTI)
		}
	})
}

// FuzzNormalizeHTU: normalising is idempotent and keeps no query.
func FuzzNormalizeHTU(f *testing.F) {
	for _, s := range []string{testHTU, "HTTPS://A:443/%7e/./b/../c?q#f", "http://[::1]:80/", "https://x/%2f%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := NormalizeHTU(s)
		if !ok {
			return
		}
		again, ok := NormalizeHTU(n)
		if !ok || again != n {
			t.Fatalf("NormalizeHTU(%q) = %q, then %q (%v)", s, n, again, ok)
		}
	})
}

// FuzzAccessToken: the Authorization header, in either scheme.
func FuzzAccessToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "DPoP abc", "dpop  a.b.c", "DPoP ", "Bearer a=b", "DPoPabc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, _, ok := parseAccessToken(v)
		if ok && (tok == "" || !isToken68(tok)) {
			t.Fatalf("accepted %q from %q", tok, v)
		}
	})
}

func TestCanonicalDPoPHeader(t *testing.T) {
	if http.CanonicalHeaderKey(HeaderDPoP) != canonicalDPoP {
		t.Fatal(http.CanonicalHeaderKey(HeaderDPoP))
	}
}
