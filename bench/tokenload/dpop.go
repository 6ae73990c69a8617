package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/bench/internal/loadtest"
	"github.com/gatehouse-dev/gatehouse/internal/dpoptest"
)

// compareDPoP drives plain issuance and DPoP-bound issuance with each
// proof algorithm, in rounds that each start at another target, and
// prints the medians as ratios to plain.
func compareDPoP(b *loadtest.Bench, plain loadtest.Request, rounds int) error {
	htu, err := tokenEndpoint(b.Gatehouse.URL)
	if err != nil {
		return err
	}
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}
	names := []string{"plain client credentials"}
	for _, a := range algs {
		names = append(names, "DPoP-bound, "+string(a)+" proof")
	}
	fmt.Printf("token endpoint, plain vs DPoP-bound: %s driver, %d connections, %s per target and round, %d rounds (medians), %d CPUs, proofs signed ahead\n",
		b.DriverName, b.Flags.Concurrency, b.Flags.Duration, rounds, runtime.NumCPU())
	all := make([][]loadtest.Result, len(names))
	rate := 0.0
	for round := range max(rounds, 1) {
		for k := range names {
			i := (k + round) % len(names)
			req := plain
			if i > 0 {
				c := dpoptest.MustNew(algs[i-1])
				// Enough proofs for the warm-up and the timed section at
				// 1.5 times the best rate seen so far.
				n := int(max(rate, 3000)*(b.Flags.Duration.Seconds()+1)*1.5) + 1000
				t0 := time.Now()
				req.Proofs = loadtest.ProofPool(n, func() string { return c.Proof(http.MethodPost, htu, dpoptest.Options{}) })
				fmt.Printf("  (up to %d %s proofs, signed in %s; signing stops after 20 s)\n", n, algs[i-1], time.Since(t0).Round(time.Millisecond))
				if err := loadtest.Check(req); err != nil {
					return fmt.Errorf("%s: %w", names[i], err)
				}
			}
			res, err := b.Drive(req, b.Flags.Concurrency, b.Flags.Duration)
			if err != nil {
				return fmt.Errorf("%s: %w", names[i], err)
			}
			rate = max(rate, res.RPS)
			all[i] = append(all[i], res)
		}
	}
	results := make([]loadtest.Result, len(names))
	for i := range names {
		results[i] = median(all[i])
		fmt.Printf("  %-34s rounds:", names[i])
		for _, r := range all[i] {
			fmt.Printf(" %.0f (%.2f)", r.RPS, r.RPS/median(all[0]).RPS)
		}
		fmt.Println()
	}
	loadtest.PrintTable(names, results)
	return nil
}

func tokenEndpoint(base string) (string, error) {
	resp, err := http.Get(base + "/.well-known/oauth-authorization-server")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var d struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || d.TokenEndpoint == "" {
		return "", fmt.Errorf("discovery: %v", err)
	}
	return d.TokenEndpoint, nil
}

// median takes the median of each figure on its own.
func median(rs []loadtest.Result) loadtest.Result {
	pick := func(get func(loadtest.Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return loadtest.Result{
		RPS: pick(func(r loadtest.Result) float64 { return r.RPS }),
		P50: time.Duration(pick(func(r loadtest.Result) float64 { return float64(r.P50) })),
		P99: time.Duration(pick(func(r loadtest.Result) float64 { return float64(r.P99) })),
	}
}
