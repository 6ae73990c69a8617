package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// soakSample is one node's resources at one moment.
type soakSample struct {
	at         time.Duration // since the soak began
	rssKB      int64         // /proc/<pid>/status VmRSS
	goroutines float64       // go_goroutines of /metrics
	fds        int           // entries of /proc/<pid>/fd
	sockets    int           // of which sockets: shown, as connections come and go with the load
	heap       float64       // go_memstats_heap_inuse_bytes, shown to tell the heap from the rest of VmRSS
}

// sampleNodes reads every node's resources.
func (f *fixture) sampleNodes(ctx context.Context, at time.Duration) ([]soakSample, error) {
	out := make([]soakSample, len(f.c.Nodes))
	for i, n := range f.c.Nodes {
		pid := n.PID()
		if pid == 0 {
			return nil, fmt.Errorf("%s is not running", n.Name)
		}
		rss, err := procStatusKB(pid, "VmRSS")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name, err)
		}
		fds, sockets, err := openFiles(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name, err)
		}
		s, err := scrape(ctx, f.hc, n.APIURL)
		if err != nil {
			return nil, err
		}
		out[i] = soakSample{at: at, rssKB: rss, goroutines: sum(s, "go_goroutines", nil), fds: fds, sockets: sockets,
			heap: sum(s, "go_memstats_heap_inuse_bytes", nil)}
	}
	return out, nil
}

// flatness is the tolerated growth of a resource after warm-up (see
// growth).
const flatness = 0.10

// growth compares the lowest reading of the last third of xs to the lowest
// of its first third: 0.05 is a floor 5 % higher at the end. Floors, not
// means: goroutines and descriptors follow the connections open at the
// moment of a reading (HAProxy's pool to each node, the gateway's to the
// upstream, each with a goroutine or two and a descriptor), which swing by
// a fifth from one reading to the next; what leaks raises the floor.
func growth(xs []float64) float64 {
	n := max(len(xs)/3, 1)
	first, last := slices.Min(xs[:n]), slices.Min(xs[len(xs)-n:])
	if first == 0 {
		return 0
	}
	return last/first - 1
}

// judgeSoak prints the samples of every node (samples[i] is the i-th
// reading of all nodes) and returns the violations: a resource that grew
// by more than flatness after the warm-up readings.
func (f *fixture) judgeSoak(w *strings.Builder, samples [][]soakSample, warmup int) []string {
	var violations []string
	for j, n := range f.c.Nodes {
		fmt.Fprintf(w, "\n%s:\n| at | VmRSS | Go heap in use | goroutines | open fds | of which sockets |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n", n.Name)
		var rss, gor, fds []float64
		for i, s := range samples {
			x := s[j]
			mark := ""
			if i < warmup {
				mark = " (warm-up)"
			} else {
				rss, gor, fds = append(rss, float64(x.rssKB)), append(gor, x.goroutines), append(fds, float64(x.fds))
			}
			fmt.Fprintf(w, "| %s%s | %.1f MiB | %.1f MiB | %.0f | %d | %d |\n", x.at.Round(time.Second), mark, float64(x.rssKB)/1024, x.heap/(1<<20), x.goroutines, x.fds, x.sockets)
		}
		if len(rss) < 2 {
			violations = append(violations, fmt.Sprintf("%s: fewer than two readings after warm-up; run the soak longer", n.Name))
			continue
		}
		for _, m := range []struct {
			name string
			xs   []float64
		}{{"resident memory", rss}, {"goroutines", gor}, {"open file descriptors", fds}} {
			g := growth(m.xs)
			fmt.Fprintf(w, "%s %s: %+.1f %% (lowest reading of the last third over the lowest of the first, after warm-up)\n", n.Name, m.name, 100*g)
			if g > flatness {
				violations = append(violations, fmt.Sprintf("%s: %s grew %.1f %% after warm-up (more than %.0f %%)", n.Name, m.name, 100*g, 100*flatness))
			}
		}
	}
	return violations
}
