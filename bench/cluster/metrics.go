package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text format: a metric's name, its
// labels as written ({group="token",code="200"}, or "") and its value.
type sample struct {
	name, labels string
	value        float64
}

// label returns the value of the label called name, or "".
func (s sample) label(name string) string {
	i := strings.Index(s.labels, name+`="`)
	if i < 0 {
		return ""
	}
	rest := s.labels[i+len(name)+2:]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return rest[:end]
}

// scrape reads every sample of the node's /metrics. The endpoint is
// Prometheus's text format, written by client_golang, without timestamps.
func scrape(ctx context.Context, hc *http.Client, base string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", base, resp.StatusCode)
	}
	var out []sample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:sp], ""
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		out = append(out, sample{name: name, labels: labels, value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", base, err)
	}
	return out, nil
}

// sum adds the samples of the metric called name that keep says to keep
// (nil: all).
func sum(samples []sample, name string, keep func(sample) bool) float64 {
	var total float64
	for _, s := range samples {
		if s.name == name && (keep == nil || keep(s)) {
			total += s.value
		}
	}
	return total
}

// procStatus returns a field of /proc/<pid>/status in kB (VmRSS), or an
// error when the process is gone.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
		}
		return kb, nil
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// openFiles counts the entries of /proc/<pid>/fd, and those of them that
// are sockets (connections and listeners).
func openFiles(pid int) (fds, sockets int, err error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		// A descriptor closed since ReadDir has no link: not counted as
		// a socket, as it is no longer one.
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return len(entries), sockets, nil
}
