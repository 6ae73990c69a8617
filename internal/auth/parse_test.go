package auth

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute,
		"720h": 720 * time.Hour, "0": 0, "0s": 0, "1d30m": 24*time.Hour + 30*time.Minute,
		"106751d": 106751 * 24 * time.Hour, // the most whole days a duration holds
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "1d-1h", "30 days", "1x", "99999999999d",
		// Beyond what time.Duration holds, in every unit: none may wrap.
		"213504d", "106752d", "106751d24h", "106751d1000000h", "2562048h", "153722868m", "9223372037s",
		"9223372036854775808ns", "18446744073709551617d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseRefill(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]CreditRefill{
		"1000/month": {1000, RefillMonthly}, "5/mo": {5, RefillMonthly}, "10/day": {10, RefillDaily}, "1/d": {1, RefillDaily},
	} {
		if got, err := ParseRefill(in); err != nil || got != want {
			t.Errorf("ParseRefill(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1000", "x/day", "10/week"} {
		if got, err := ParseRefill(in); err == nil {
			t.Errorf("ParseRefill(%q) = %v, want an error", in, got)
		}
	}
}

func TestSplitList(t *testing.T) {
	t.Parallel()
	if got := SplitList(" read, write  admin,,"); !slices.Equal(got, []string{"read", "write", "admin"}) {
		t.Errorf("SplitList = %q", got)
	}
	if got := SplitList(" , "); len(got) != 0 {
		t.Errorf("SplitList of separators = %q, want none", got)
	}
}

// FuzzParseDuration: whatever is typed, a duration read with days never
// wraps around (a long one is refused, not turned into a short one), and
// days count 24 hours.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "90m", "106751d", "106752d", "213504d", "1d-1h", "-1h", "d", "1dd", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if days, rest, ok := strings.Cut(s, "d"); ok && !strings.HasPrefix(days, "-") && !strings.Contains(rest, "-") && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: wrapped around", s, d)
		}
	})
}

// FuzzParseRefill: the parsers read the shape and leave the range to
// CheckCredits (one rule, in one place), which refuses whatever is out of
// it: no negative amount or unknown interval ever passes both.
func FuzzParseRefill(f *testing.F) {
	for _, s := range []string{"1000/month", "5/d", "1/mo", "0/day", "-1/day", "1e3/day", "x", "/", "99999999999999999999/day"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, cerr := ParseCredits(s)
		r, rerr := ParseRefill(s)
		if rerr != nil {
			r = CreditRefill{}
		}
		if cerr != nil {
			n = 0
		}
		c := &Credits{Remaining: n, Refill: r}
		if CheckCredits(c) == nil && (c.Remaining < 0 || c.Refill.Amount < 0 ||
			(c.Refill.Amount > 0) != (c.Refill.Interval == RefillDaily || c.Refill.Interval == RefillMonthly)) {
			t.Fatalf("CheckCredits passed %+v read from %q", c, s)
		}
	})
}

func TestFormatDurationReadsBack(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * 24 * time.Hour: "30d", 36 * time.Hour: "36h", 90 * time.Minute: "90m",
		1500 * time.Millisecond: "1.5s", 0: "0s", -2 * time.Hour: "-2h",
	} {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
}
