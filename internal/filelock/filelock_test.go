package filelock

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestMain lets a test run this binary as a process that holds a lock.
func TestMain(m *testing.M) {
	if path := os.Getenv("FILELOCK_TEST_HOLD"); path != "" {
		l, err := Shared(path)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		// Held until the process is killed: the test never closes stdin.
		io.Copy(io.Discard, os.Stdin)
		runtime.KeepAlive(l)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSharedLocksCoexistAndExcludeAnExclusiveOne(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.lock")
	a, err := Shared(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Shared(path)
	if err != nil {
		t.Fatalf("a second shared lock: %v", err)
	}
	if _, err := Exclusive(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("an exclusive lock beside shared ones = %v; want ErrLocked", err)
	}
	a.Close()
	if _, err := Exclusive(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("an exclusive lock beside one shared lock = %v; want ErrLocked", err)
	}
	b.Close()
	x, err := Exclusive(path)
	if err != nil {
		t.Fatalf("an exclusive lock once every shared one is released: %v", err)
	}
	if _, err := Shared(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("a shared lock beside an exclusive one = %v; want ErrLocked", err)
	}
	if _, err := Exclusive(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second exclusive lock = %v; want ErrLocked", err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("closing twice: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the lock file: %v, mode %v; want it kept, mode 0600", err, st.Mode().Perm())
	}
}

// TestAKilledHolderLeavesNoStaleLock: a process holding a lock is killed
// with SIGKILL; the lock is free at once.
func TestAKilledHolderLeavesNoStaleLock(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gatehouse.lock")
	cmd := holdInAnotherProcess(t, path)
	if _, err := Exclusive(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("an exclusive lock while another process holds a shared one = %v; want ErrLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Exclusive(path)
	if err != nil {
		t.Fatalf("the lock after its holder was killed: %v", err)
	}
	l.Close()
}

// TestWaitExclusiveWaitsForTheHolderUntilItsContextEnds: while a shared
// lock is held, WaitExclusive does not take the lock; when its context ends
// it says why (the lock was held, and the deadline or the cancellation),
// and it holds nothing afterwards.
func TestWaitExclusiveWaitsForTheHolderUntilItsContextEnds(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "migrate.lock")
	held, err := Shared(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if l, err := WaitExclusive(ctx, path, time.Millisecond); !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		l.Close()
		t.Fatalf("WaitExclusive while a shared lock is held = %v; want ErrLocked and the deadline", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if l, err := WaitExclusive(ctx, path, time.Millisecond); !errors.Is(err, ErrLocked) || !errors.Is(err, context.Canceled) {
		l.Close()
		t.Fatalf("WaitExclusive with a cancelled context = %v; want ErrLocked and the cancellation", err)
	}
	held.Close()
	l, err := Exclusive(path)
	if err != nil {
		t.Fatalf("the lock after the waiters gave up: %v; want it free", err)
	}
	l.Close()
}

// TestWaitExclusiveTakesTheLockWhenTheHolderReleasesIt: a waiter blocked
// behind an exclusive holder gets the lock once it is released, and then
// excludes everyone else.
func TestWaitExclusiveTakesTheLockWhenTheHolderReleasesIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "migrate.lock")
	held, err := Exclusive(path)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   *Lock
		err error
	}
	got := make(chan result, 1)
	go func() {
		l, err := WaitExclusive(t.Context(), path, time.Millisecond)
		got <- result{l, err}
	}()
	held.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("WaitExclusive once the holder released the lock: %v", r.err)
	}
	defer r.l.Close()
	if _, err := Shared(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("a shared lock beside the waiter's exclusive one = %v; want ErrLocked", err)
	}
}

// TestWaitExclusiveWaitsForAnotherProcess: the lock a process holds keeps a
// waiter in this one out until that process dies.
func TestWaitExclusiveWaitsForAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "migrate.lock")
	cmd := holdInAnotherProcess(t, path)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if l, err := WaitExclusive(ctx, path, time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		l.Close()
		t.Fatalf("WaitExclusive while another process holds the lock = %v; want it to wait until the deadline", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := WaitExclusive(t.Context(), path, time.Millisecond)
	if err != nil {
		t.Fatalf("WaitExclusive after the holder died: %v", err)
	}
	l.Close()
}

// holdInAnotherProcess runs this test binary as a process that holds a
// shared lock on path until it is killed, and returns once it holds it.
func holdInAnotherProcess(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FILELOCK_TEST_HOLD="+path)
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("the holder process said %q", line)
	}
	return cmd
}
