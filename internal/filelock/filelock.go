// Package filelock holds advisory locks on files: a mark, held by a process
// for as long as it runs, that others can test without waiting (or wait for,
// with WaitExclusive). Servers hold a shared lock on their data folder's
// lock file and a restore takes it exclusively, so a restore refuses to
// replace a database a server has open and a server refuses to start in the
// middle of a restore. Processes opening one SQLite file take turns
// migrating it under an exclusive lock beside it.
//
// The locks are flock(2) on Unix and LockFileEx on Windows: the operating
// system drops them when the process ends, however it ends, so a crash never
// leaves a stale lock behind. They belong to an open file, not a process:
// two Locks on one path in one process conflict like those of two processes.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrLocked says the lock is held by another holder in a mode that excludes
// the one asked for.
var ErrLocked = errors.New("filelock: held by another process")

// Lock is a held lock; Close releases it.
type Lock struct {
	f *os.File
}

// Shared takes a shared lock on path, creating the file (mode 0600) if
// needed, without waiting. Any number of shared locks may be held at once;
// ErrLocked if an exclusive lock is held.
func Shared(path string) (*Lock, error) { return take(path, false) }

// Exclusive takes an exclusive lock on path, creating the file (mode 0600)
// if needed, without waiting. ErrLocked if any other lock is held.
func Exclusive(path string) (*Lock, error) { return take(path, true) }

// WaitExclusive takes an exclusive lock on path, creating the file (mode
// 0600) if needed, trying again every poll while another holder has it,
// until ctx ends. flock and LockFileEx can block, but not in a way a
// context can stop, hence the polling. When ctx ends first the error wraps
// both ErrLocked and ctx.Err(), so a caller can tell a deadline (the holder
// took too long) from a cancellation.
func WaitExclusive(ctx context.Context, path string, poll time.Duration) (*Lock, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		err := lock(f, true)
		if err == nil {
			return &Lock{f: f}, nil
		}
		if !errors.Is(err, ErrLocked) {
			f.Close()
			return nil, fmt.Errorf("filelock: %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("filelock: %s: %w while waiting: %w", path, ErrLocked, ctx.Err())
		case <-t.C:
		}
	}
}

func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("filelock: %w", err)
	}
	return f, nil
}

func take(path string, exclusive bool) (*Lock, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := lock(f, exclusive); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("filelock: %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Close releases the lock. The file stays: removing it would let a new
// holder lock a new file while an old one still holds the removed one.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only descriptor releases the lock
	l.f = nil
	return err
}
