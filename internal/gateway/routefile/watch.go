package routefile

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Version identifies the content of a routes file (its SHA-256).
type Version [sha256.Size]byte

// LoadVersion reads and parses the routes file at path, and returns the
// version of the bytes it parsed, for WatchFrom.
func LoadVersion(path string) ([]auth.Route, Version, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, Version{}, err
	}
	v := Version(sha256.Sum256(data))
	routes, err := Parse(data)
	if err != nil {
		return nil, v, fmt.Errorf("%s: %w", path, err)
	}
	return routes, v, nil
}

// Watch polls path every interval (default 1s) and calls fn with the new
// routes when the content changed, or with an error when the new content
// is invalid or the file unreadable (the caller keeps its old routes).
// The content it finds when it starts is taken as already loaded and not
// reported; use LoadVersion and WatchFrom to leave no gap between the
// initial load and the watch. It returns when ctx is done.
func Watch(ctx context.Context, path string, interval time.Duration, fn func([]auth.Route, error)) {
	var since Version
	if data, err := readFile(path); err == nil {
		since = Version(sha256.Sum256(data))
	}
	WatchFrom(ctx, path, interval, since, fn)
}

// WatchFrom is Watch from a known version of the file: content of that
// version is never reported.
//
// Changes are found by content, not modification time: editors and
// Kubernetes ConfigMaps replace the file by a rename or a symlink swap,
// which can keep or even lower the mtime. A change is reported once the
// same new content (or the same error) is read on two polls in a row, so
// that a file caught half-written, which could well be valid YAML with
// fewer routes, is never applied: a change takes one to two intervals to
// arrive. Each distinct invalid content and each distinct read error is
// reported once.
func WatchFrom(ctx context.Context, path string, interval time.Duration, since Version, fn func([]auth.Route, error)) {
	if interval <= 0 {
		interval = time.Second
	}
	w := &watcher{path: path, fn: fn, applied: since}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ctx.Err() == nil {
				w.poll()
			}
		}
	}
}

// watcher is the state of one Watch between polls.
type watcher struct {
	path string
	fn   func([]auth.Route, error)

	applied  Version // the content the caller has
	pending  Version // new content seen on the last poll
	hasPend  bool
	rejected Version // invalid content already reported
	hasRej   bool
	errSeen  string // read error of the last poll
	errSent  string // read error already reported
}

func (w *watcher) poll() {
	data, err := readFile(w.path)
	if err != nil {
		w.hasPend = false
		msg := err.Error()
		if msg == w.errSeen && msg != w.errSent {
			w.errSent = msg
			w.fn(nil, err)
		}
		w.errSeen = msg
		return
	}
	w.errSeen, w.errSent = "", ""

	v := Version(sha256.Sum256(data))
	if v == w.applied {
		w.hasPend = false
		return
	}
	if !w.hasPend || v != w.pending {
		w.pending, w.hasPend = v, true
		return
	}
	if w.hasRej && v == w.rejected {
		return
	}
	routes, err := Parse(data)
	if err != nil {
		w.rejected, w.hasRej = v, true
		w.fn(nil, fmt.Errorf("%s: %w", w.path, err))
		return
	}
	w.applied, w.hasPend, w.hasRej = v, false, false
	w.fn(routes, nil)
}
