package routefile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func routesDoc(names ...string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for _, n := range names {
		b.WriteString("  - name: " + n + "\n    upstreams: [http://" + n + "]\n    policy: public\n")
	}
	return b.String()
}

// calls records what a watcher reported.
type calls struct {
	mu  sync.Mutex
	got []string // route names joined, or "error: ..."
}

func (c *calls) fn(routes []auth.Route, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.got = append(c.got, "error: "+err.Error())
		return
	}
	var names []string
	for _, r := range routes {
		names = append(names, r.Name)
	}
	c.got = append(c.got, strings.Join(names, ","))
}

func (c *calls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newWatcher loads path like a caller and returns the watcher that would
// follow it, polled by hand so that no test depends on timing.
func newWatcher(t *testing.T, path string, c *calls) *watcher {
	t.Helper()
	_, v, err := LoadVersion(path)
	if err != nil {
		t.Fatal(err)
	}
	return &watcher{path: path, fn: c.fn, applied: v}
}

func expect(t *testing.T, c *calls, want ...string) {
	t.Helper()
	got := c.take()
	if len(got) != len(want) {
		t.Fatalf("reported %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("reported %q, want %q", got, want)
		}
	}
}

func TestWatchReportsAWriteOnceStable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, routesDoc("a"))
	var c calls
	w := newWatcher(t, path, &c)

	w.poll()
	expect(t, &c) // the initial content is not reported

	write(t, path, routesDoc("a", "b"))
	w.poll()
	expect(t, &c) // seen once: it may be half-written
	w.poll()
	expect(t, &c, "a,b")
	w.poll()
	expect(t, &c) // reported once
}

func TestWatchWaitsForAFileBeingWritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, routesDoc("a", "b", "c"))
	var c calls
	w := newWatcher(t, path, &c)

	full := routesDoc("a", "b", "c", "d")
	write(t, path, full[:len(routesDoc("a"))]) // a valid prefix: one route
	w.poll()
	write(t, path, full)
	w.poll()
	expect(t, &c) // changed between polls: not stable yet
	w.poll()
	expect(t, &c, "a,b,c,d")
}

func TestWatchSeesAnAtomicRenameAndASymlinkSwap(t *testing.T) {
	t.Parallel()
	t.Run("rename", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "routes.yaml")
		write(t, path, routesDoc("a"))
		var c calls
		w := newWatcher(t, path, &c)
		tmp := filepath.Join(dir, ".routes.yaml.tmp")
		write(t, tmp, routesDoc("renamed"))
		// Same modification time as the old file: only the content tells.
		old, _ := os.Stat(path)
		if err := os.Chtimes(tmp, old.ModTime(), old.ModTime()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		w.poll()
		w.poll()
		expect(t, &c, "renamed")
	})
	t.Run("kubernetes configmap symlink swap", func(t *testing.T) {
		// The kubelet's layout: routes.yaml -> ..data/routes.yaml, and
		// ..data -> ..<timestamp>, swapped by renaming a new link.
		dir := t.TempDir()
		for _, v := range []string{"..v1", "..v2"} {
			if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		write(t, filepath.Join(dir, "..v1", "routes.yaml"), routesDoc("v1"))
		write(t, filepath.Join(dir, "..v2", "routes.yaml"), routesDoc("v2"))
		if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "routes.yaml")
		if err := os.Symlink(filepath.Join("..data", "routes.yaml"), path); err != nil {
			t.Fatal(err)
		}
		var c calls
		w := newWatcher(t, path, &c)
		if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		w.poll()
		w.poll()
		expect(t, &c, "v2")
	})
}

func TestWatchReportsAnInvalidEditOnceThenTheFix(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, routesDoc("a"))
	var c calls
	w := newWatcher(t, path, &c)

	write(t, path, routesDoc("a")+"    retries: 3\n")
	for range 5 {
		w.poll()
	}
	expect(t, &c, "error: ")

	write(t, path, routesDoc("a", "fixed"))
	w.poll()
	w.poll()
	expect(t, &c, "a,fixed")

	// The same invalid content again, after a valid one: reported again.
	write(t, path, routesDoc("a")+"    retries: 3\n")
	w.poll()
	w.poll()
	expect(t, &c, "error: ")

	// Back to the content the caller has: nothing to report.
	write(t, path, routesDoc("a", "fixed"))
	w.poll()
	w.poll()
	expect(t, &c)
}

func TestWatchReportsAnUnreadableFileOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, routesDoc("a"))
	var c calls
	w := newWatcher(t, path, &c)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.poll()
	expect(t, &c) // may be an editor's rename dance
	w.poll()
	w.poll()
	expect(t, &c, "error: ")

	write(t, path, routesDoc("a")) // back as it was: nothing changed
	w.poll()
	w.poll()
	expect(t, &c)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.poll()
	write(t, path, routesDoc("a")) // gone for one poll only: not reported
	w.poll()
	w.poll()
	expect(t, &c)
}

func TestWatchLoopReportsChangesAndStopsWithItsContext(t *testing.T) {
	t.Parallel()
	// The file does not exist when Watch starts, and is written only once
	// Watch has reported it missing, so the test knows Watch has read the
	// initial state (the content present at the start is not reported:
	// see the watcher tests).
	path := filepath.Join(t.TempDir(), "routes.yaml")
	reported := make(chan string, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, path, 5*time.Millisecond, func(routes []auth.Route, err error) {
			var c calls
			c.fn(routes, err)
			reported <- c.take()[0]
		})
	}()
	deadline := time.After(10 * time.Second)
	// The missing file is reported: Watch has started and polled.
	select {
	case got := <-reported:
		if !strings.HasPrefix(got, "error: ") {
			t.Fatalf("reported %q, want the missing file", got)
		}
	case <-deadline:
		t.Fatal("the missing file was not reported")
	}
	for _, want := range []string{"a", "a,b"} {
		write(t, path, routesDoc(strings.Split(want, ",")...))
		select {
		case got := <-reported:
			if got != want {
				t.Fatalf("reported %q, want %q", got, want)
			}
		case <-deadline:
			t.Fatalf("%q not reported", want)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return")
	}
}

func TestLoadVersionAndWatchFromLeaveNoGap(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, routesDoc("a"))
	routes, v, err := LoadVersion(path)
	if err != nil || len(routes) != 1 {
		t.Fatal(routes, err)
	}
	// Changed after the load, before the watch starts.
	write(t, path, routesDoc("a", "b"))
	reported := make(chan string, 10)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go WatchFrom(ctx, path, 5*time.Millisecond, v, func(routes []auth.Route, err error) {
		var c calls
		c.fn(routes, err)
		reported <- c.take()[0]
	})
	select {
	case got := <-reported:
		if got != "a,b" {
			t.Fatalf("reported %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the change before the watch was missed")
	}
}
