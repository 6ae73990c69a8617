package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// BenchmarkAddUsage times one flush of n distinct minute cells (3n rows
// with their hour and day roll-ups, most of them merged), the write a node
// makes every flush_interval.
func BenchmarkAddUsage(b *testing.B, s auth.Store, n int) {
	counts := make([]auth.UsageCount, n)
	start := time.Now().UTC().Truncate(time.Minute)
	for i := range counts {
		counts[i] = auth.UsageCount{
			UsageSubject: auth.UsageSubject{KeyID: fmt.Sprintf("key_%06d", i), Route: "orders", Owner: "billing"},
			Outcome:      "VALID", Start: start, Count: 1,
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AddUsage(b.Context(), counts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cell")
}
