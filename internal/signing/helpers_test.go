package signing

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// newClock is the settable test clock every package's tests share.
func newClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

func testSealer(t testing.TB, secret string) *Sealer {
	t.Helper()
	s, err := NewSealer(DeriveMasterKey([]byte(secret)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testSecret = "a server secret of at least thirty-two bytes"

func testOptions(c *testenv.Clock) Options {
	return Options{
		RotationPeriod: 30 * 24 * time.Hour,
		MaxTokenTTL:    time.Hour,
		Leeway:         30 * time.Second,
		ReloadInterval: 30 * time.Second,
		Now:            c.Now,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

func newKeyring(t testing.TB, store auth.SigningKeyStore, opts Options) *Keyring {
	t.Helper()
	k, err := New(context.Background(), store, testSealer(t, testSecret), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

// current returns the entry that signs now.
func (k *Keyring) currentEntry() *entry { return k.snap.Load().current(k.now()) }

// newStore returns the store the tests run against: a real SQLite
// database in a temporary directory.
func newStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, _ := newStoreAt(t)
	return db
}

// newStoreAt also returns the database file's path, for tests that damage
// rows behind the store's back.
func newStoreAt(t testing.TB) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}
