package apikey_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestHasherIsHMACSHA256(t *testing.T) {
	t.Parallel()
	secret := testSecret(7)
	h, err := apikey.NewHasher(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "sk_live_x", generate(t, "sk_live_"), string(bytes.Repeat([]byte("k"), 1000))} {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(key))
		want := mac.Sum(nil)
		got := h.Sum(key)
		if !bytes.Equal(got[:], want) {
			t.Fatalf("Sum(%d-byte key) = %x, want HMAC-SHA-256 %x", len(key), got, want)
		}
		if again := h.Sum(key); again != got {
			t.Fatalf("Sum is not deterministic: %x, then %x", got, again)
		}
	}
}

func TestHasherDependsOnTheSecret(t *testing.T) {
	t.Parallel()
	a, _ := apikey.NewHasher(testSecret(1))
	b, _ := apikey.NewHasher(testSecret(2))
	key := generate(t, "sk_live_")
	if a.Sum(key) == b.Sum(key) {
		t.Fatal("two secrets give the same hash")
	}
}

func TestHasherKeepsItsOwnCopyOfTheSecret(t *testing.T) {
	t.Parallel()
	secret := testSecret(3)
	h, _ := apikey.NewHasher(secret)
	key := generate(t, "sk_live_")
	before := h.Sum(key)
	clear(secret)
	if h.Sum(key) != before {
		t.Fatal("changing the caller's secret slice changed the hashes")
	}
}

func TestNewHasherRejectsShortSecrets(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 16, 31} {
		if _, err := apikey.NewHasher(make([]byte, n)); err == nil {
			t.Errorf("NewHasher accepted a %d-byte secret", n)
		}
	}
}

func TestHasherConcurrentUse(t *testing.T) {
	t.Parallel()
	h, _ := apikey.NewHasher(testSecret(4))
	keys := make([]string, 64)
	want := make([][32]byte, len(keys))
	for i := range keys {
		keys[i] = generate(t, "sk_live_")
		want[i] = h.Sum(keys[i])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				j := (i + g) % len(keys)
				if h.Sum(keys[j]) != want[j] {
					t.Error("concurrent Sum returned a wrong hash")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHasherSumAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	h, _ := apikey.NewHasher(testSecret(5))
	key := generate(t, "sk_live_")
	h.Sum(key)
	if n := testing.AllocsPerRun(1000, func() { h.Sum(key) }); n != 0 {
		t.Fatalf("Sum allocates %.1f times per call", n)
	}
}
