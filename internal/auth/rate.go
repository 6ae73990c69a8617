package auth

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseRate reads a rate as people write it, "N/s", "N/m", "N/h" or "N/d"
// ("N" alone is per second), as requests per second: the one spelling of
// a rate limit in the CLI's flags and the dashboard's forms. Zero is
// allowed: it means no limit. Whether the rate is within bounds is the
// record's rule (Route.Normalize, the key's), not the parser's.
func ParseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		unit = "s"
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q: want a number per s, m, h or d, like 100/s", s)
	}
	switch unit {
	case "s", "sec", "second":
		return n, nil
	case "m", "min", "minute":
		return n / 60, nil
	case "h", "hour":
		return n / 3600, nil
	case "d", "day":
		return n / 86400, nil
	}
	return 0, fmt.Errorf("%q: the unit must be s, m, h or d", s)
}
