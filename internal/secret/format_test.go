package secret_test

import (
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func generate(t testing.TB, prefix string) string {
	t.Helper()
	s, err := secret.Generate(prefix)
	if err != nil {
		t.Fatalf("Generate(%q): %v", prefix, err)
	}
	return s
}

// withChecksum appends s's checksum the way the format defines it (CRC-32
// IEEE as 6 base62 digits, most significant first), written apart from the
// package's own code so that the two check each other.
func withChecksum(s string) string {
	c := crc32.ChecksumIEEE([]byte(s))
	digits := make([]byte, secret.ChecksumLength)
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = base62[c%62]
		c /= 62
	}
	return s + string(digits)
}

func TestGoldenSecrets(t *testing.T) {
	t.Parallel()
	// The format is a wire format: secrets already issued (API keys,
	// refresh tokens, client secrets) must stay valid. Computed
	// independently with Python's zlib.crc32 and a base62 loop.
	for _, tc := range []struct{ prefix, s string }{
		{"sk_test_", "sk_test_00000000000000000000000000000000127lYz"},
		{"sk_live_", "sk_live_Fw3kQ0bZ8Lr2hT5xNc7Ym1pVa9Ud4Ej622rHWf"},
		{"gate_cs_", "gate_cs_000000000000000000000000000000004ZECUm"},
		{"gate_rt_", "gate_rt_abcdefghijklmnopqrstuvwxyz0123451FNji5"},
	} {
		if !secret.Valid(tc.prefix, tc.s) {
			t.Errorf("Valid(%q, %s) = false", tc.prefix, tc.s)
		}
		if body := tc.s[:len(tc.s)-secret.ChecksumLength]; withChecksum(body) != tc.s {
			t.Errorf("the checksum of %s's body is %s", tc.s, withChecksum(body))
		}
	}
}

func TestGenerateFormat(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for _, prefix := range []string{"gate_ac_", "gate_rt_", "gate_cs_", "gate_ss_", "sk_live_", ""} {
		for range 100 {
			s := generate(t, prefix)
			if len(s) != len(prefix)+secret.TailLength || !strings.HasPrefix(s, prefix) {
				t.Fatalf("Generate(%q) = %q", prefix, s)
			}
			if !secret.IsBase62(s[len(prefix):]) || !secret.ChecksumValid(s) || !secret.Valid(prefix, s) {
				t.Fatalf("generated %q is not valid", s)
			}
			if seen[s] {
				t.Fatalf("Generate returned %q twice", s)
			}
			seen[s] = true
		}
	}
}

func TestValidRefuses(t *testing.T) {
	t.Parallel()
	good := generate(t, "gate_cs_")
	bad := map[string]string{
		"another kind":       "gate_rt_" + good[len("gate_cs_"):],
		"no prefix":          good[len("gate_cs_"):],
		"empty":              "",
		"one character less": good[:len(good)-1],
		"one character more": good + "0",
		"wrong checksum":     good[:len(good)-1] + string(rune(good[len(good)-1]^1)),
		"not base62":         good[:10] + "_" + good[11:],
		"non-ASCII":          good[:10] + "é" + good[12:],
		"upper-cased prefix": "GATE_CS_" + good[len("gate_cs_"):],
	}
	for name, s := range bad {
		if secret.Valid("gate_cs_", s) {
			t.Errorf("%s: Valid(%q) = true", name, s)
		}
	}
	if secret.ChecksumValid("abc") {
		t.Error("ChecksumValid accepts a string shorter than a checksum")
	}
}

func TestValidDetectsEverySingleCharacterTypo(t *testing.T) {
	t.Parallel()
	for range 20 {
		s := generate(t, "gate_ac_")
		for i := range len(s) {
			for c := byte(' '); c <= '~'; c++ {
				if c == s[i] {
					continue
				}
				if typo := s[:i] + string([]byte{c}) + s[i+1:]; secret.Valid("gate_ac_", typo) {
					t.Fatalf("Valid accepted %q, which is %q with position %d changed", typo, s, i)
				}
			}
		}
	}
}

func TestValidAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	s := generate(t, "gate_rt_")
	for _, v := range []string{s, s[:len(s)-1] + "x", "", "gate_rt_\x00"} {
		if n := testing.AllocsPerRun(100, func() { secret.Valid("gate_rt_", v) }); n != 0 {
			t.Errorf("Valid allocates %.0f times per call", n)
		}
	}
}

func TestEntropyIsAtLeast160Bits(t *testing.T) {
	t.Parallel()
	bits := float64(secret.BodyLength) * math.Log2(62)
	if bits < 160 || secret.EntropyBits > bits || secret.EntropyBits < 160 {
		t.Fatalf("body of %d base62 characters = %.1f bits, EntropyBits = %d; want both >= 160 and consistent",
			secret.BodyLength, bits, secret.EntropyBits)
	}
}

func TestGenerateIsUniform(t *testing.T) {
	t.Parallel()
	// A modulo instead of rejection sampling makes 8 of the 62 characters
	// 25% more likely, which this chi-squared test sees at once.
	var counts [256]int
	const secrets = 8000
	for range secrets {
		s := generate(t, "sk_")
		for _, c := range []byte(s[3 : 3+secret.BodyLength]) {
			counts[c]++
		}
	}
	expected := float64(secrets*secret.BodyLength) / 62
	chi2 := 0.0
	for _, c := range []byte(base62) {
		d := float64(counts[c]) - expected
		chi2 += d * d / expected
	}
	// 61 degrees of freedom: P(chi2 > 125) is about 1e-6.
	if chi2 > 125 {
		t.Fatalf("chi-squared = %.1f over 61 degrees of freedom: the body is not uniform over base62", chi2)
	}
}

func FuzzValid(f *testing.F) {
	for _, prefix := range []string{"gate_ac_", "gate_cs_"} {
		s := generate(f, prefix)
		f.Add(s)
		f.Add(s[:len(s)-1])
		f.Add(strings.ToUpper(s))
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if !secret.Valid("gate_cs_", s) {
			return
		}
		// Only what Generate can make is valid: the prefix, a base62
		// body and its checksum.
		body := s[len("gate_cs_") : len(s)-secret.ChecksumLength]
		if len(body) != secret.BodyLength || strings.Trim(body, base62) != "" ||
			withChecksum("gate_cs_"+body) != s {
			t.Fatalf("Valid accepted %q", s)
		}
	})
}
