package auth

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The one spelling of the values people type for keys, shared by the CLI's
// flags and the dashboard's forms: `--expires 30d` and an Expires field of
// 30d read alike (rates: ParseRate, in rate.go). The errors are plain and echo the input quoted: each
// caller words them for its transport (a flag name, a form field).

// maxDays is the most whole days a time.Duration holds (about 292 years).
const maxDays = uint64(math.MaxInt64 / int64(24*time.Hour))

// ParseDuration reads a Go duration ("90m", "720h") that may also count
// days: "30d", "1d12h". A day is 24 hours (no calendar, no time zones).
func ParseDuration(s string) (time.Duration, error) {
	days, rest := time.Duration(0), s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration like 30d, 12h or 90m", s)
		}
		// Checked before multiplying: time.Duration wraps silently, and
		// 213504d would otherwise come out as 25m26s.
		if n > maxDays {
			return 0, fmt.Errorf("%q is too long: at most %dd", s, maxDays)
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
		if rest == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		// time.ParseDuration refuses overflow itself ("invalid duration").
		return 0, fmt.Errorf("%q is not a duration like 30d, 12h or 90m, of at most %dd", s, maxDays)
	}
	if days > 0 && d < 0 {
		return 0, fmt.Errorf("%q mixes days with a negative duration", s)
	}
	total := days + d
	if days > 0 && total < days {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return total, nil
}

// FormatDuration writes a duration as people type it and ParseDuration
// reads it back: whole days as "30d", whole hours "12h", whole minutes
// "90m", anything else as time.Duration writes it.
func FormatDuration(d time.Duration) string {
	switch {
	case d != 0 && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d != 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d != 0 && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	default:
		return d.String()
	}
}

// ParseCredits reads a whole number of credits. The range (0 to
// MaxCredits) is CheckCredits's to enforce: one rule, in one place.
func ParseCredits(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a whole number of credits, like 1000", s)
	}
	return n, nil
}

// ParseRefill reads a credits refill, "N/day" or "N/month" (also N/d,
// N/mo): N credits at the start (UTC) of each day or month.
func ParseRefill(s string) (CreditRefill, error) {
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return CreditRefill{}, fmt.Errorf("%q: want an amount per day or month, like 1000/month", s)
	}
	n, err := ParseCredits(num)
	if err != nil {
		return CreditRefill{}, fmt.Errorf("%q: want an amount per day or month, like 1000/month", s)
	}
	switch unit {
	case "d", "day", "daily":
		return CreditRefill{Amount: n, Interval: RefillDaily}, nil
	case "mo", "month", "monthly":
		return CreditRefill{Amount: n, Interval: RefillMonthly}, nil
	}
	return CreditRefill{}, fmt.Errorf("%q: the interval must be day or month", s)
}

// SplitList reads a list typed by a person, separated by spaces or commas
// (scopes, networks). Scopes may contain commas (RFC 6749 allows them), so
// a scope with a comma cannot be given this way: only as a JSON list.
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}
