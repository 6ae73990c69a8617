package auth

import "testing"

func TestParseRate(t *testing.T) {
	t.Parallel()
	good := map[string]float64{"100": 100, "100/s": 100, "6000/m": 100, "3600/h": 1, "86400/d": 1, "0": 0, "0.5/sec": 0.5}
	for in, want := range good {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1/s", "NaN", "Inf/s", "1/w", "1/", "/s"} {
		if got, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, got)
		}
	}
}
