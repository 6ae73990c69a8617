package secret_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, secret.MinServerSecretLength) }

func TestHasherIsHMACSHA256(t *testing.T) {
	t.Parallel()
	serverSecret := testSecret(7)
	h, err := secret.NewHasher(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "sk_live_x", generate(t, "gate_cs_"), string(bytes.Repeat([]byte("k"), 1000))} {
		mac := hmac.New(sha256.New, serverSecret)
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

func TestHasherOutputIsPinned(t *testing.T) {
	t.Parallel()
	// Stored hashes of keys, codes, tokens, client secrets and sessions
	// must keep matching: these values were computed independently (Python's
	// hmac module), for a server secret of 32 bytes of 7.
	h, err := secret.NewHasher(testSecret(7))
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]string{
		"gate_cs_000000000000000000000000000000004ZECUm": "dbeca125d6bc5294b39e02b9ed5e2b250a8e6cac6450ffa92952c1b21ec8868c",
		"sk_live_Fw3kQ0bZ8Lr2hT5xNc7Ym1pVa9Ud4Ej622rHWf": "607e70c6a1a6ddb2877d09db98b482e38bb2068aaed4f519c4960136f7f90558",
	} {
		if sum := h.Sum(s); hex.EncodeToString(sum[:]) != want {
			t.Errorf("Sum(%s) = %x, want %s", s, sum, want)
		}
	}
}

func TestHasherDependsOnTheSecret(t *testing.T) {
	t.Parallel()
	a, _ := secret.NewHasher(testSecret(1))
	b, _ := secret.NewHasher(testSecret(2))
	key := generate(t, "gate_cs_")
	if a.Sum(key) == b.Sum(key) {
		t.Fatal("two secrets give the same hash")
	}
}

func TestHasherKeepsItsOwnCopyOfTheSecret(t *testing.T) {
	t.Parallel()
	serverSecret := testSecret(3)
	h, _ := secret.NewHasher(serverSecret)
	key := generate(t, "gate_cs_")
	before := h.Sum(key)
	clear(serverSecret)
	if h.Sum(key) != before {
		t.Fatal("changing the caller's secret slice changed the hashes")
	}
}

func TestNewHasherRejectsShortSecrets(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 16, 31} {
		if _, err := secret.NewHasher(make([]byte, n)); err == nil {
			t.Errorf("NewHasher accepted a %d-byte secret", n)
		}
	}
}

func TestHasherConcurrentUse(t *testing.T) {
	t.Parallel()
	h, _ := secret.NewHasher(testSecret(4))
	keys := make([]string, 64)
	want := make([][32]byte, len(keys))
	for i := range keys {
		keys[i] = generate(t, "gate_cs_")
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
	h, _ := secret.NewHasher(testSecret(5))
	key := generate(t, "gate_cs_")
	h.Sum(key)
	if n := testing.AllocsPerRun(1000, func() { h.Sum(key) }); n != 0 {
		t.Fatalf("Sum allocates %.1f times per call", n)
	}
}

// New is the one way issued secrets are made: a valid secret of the prefix,
// and the hash Sum gives for it.
func TestHasherNew(t *testing.T) {
	t.Parallel()
	h, err := secret.NewHasher(testSecret(7))
	if err != nil {
		t.Fatal(err)
	}
	a, hash, err := h.New("gate_rt_")
	if err != nil {
		t.Fatal(err)
	}
	if !secret.Valid("gate_rt_", a) {
		t.Errorf("New made %q, which is not a valid gate_rt_ secret", a)
	}
	if sum := h.Sum(a); !bytes.Equal(hash, sum[:]) {
		t.Errorf("New's hash %x, Sum %x", hash, sum)
	}
	if b, _, _ := h.New("gate_rt_"); a == b {
		t.Errorf("New made %q twice", a)
	}
}
