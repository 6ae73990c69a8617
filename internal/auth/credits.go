package auth

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Credits is a key's usage quota (what Unkey calls "remaining"): each
// successful verification spends some (one by default), and a key whose
// credits cannot pay for a request is refused. A nil *Credits on a key
// means no quota.
type Credits struct {
	Remaining int64 // credits left in the current period, 0..MaxCredits
	Refill    CreditRefill
	// RefilledAt is when Remaining was last set: by its creation or an
	// admin update (the time of the change) or by a refill (the UTC start
	// of the period it refilled for). A refill happens lazily, at the
	// first spend after the start of a period later than RefilledAt.
	RefilledAt time.Time
	// Version counts the admin changes of Remaining: a copy of the
	// credits kept elsewhere (Redis) that was made from an older version
	// is replaced, and one made from this version is the newer state.
	Version int64
	// ExhaustedFor is the ExhaustedMarker of the credits when
	// key.usage_exceeded was last recorded: the event is recorded once
	// per version and period, at the first spend that leaves 0 or cannot
	// be paid. "" before any.
	ExhaustedFor string
}

// ExhaustedMarker names the version and period of c (as they stand after
// a spend), for ExhaustedFor: "version:refilled at in Unix µs" (0 for
// none), the form the stores and the Redis script both write.
func ExhaustedMarker(c Credits) string {
	var at int64
	if !c.RefilledAt.IsZero() {
		at = c.RefilledAt.UnixMicro()
	}
	return strconv.FormatInt(c.Version, 10) + ":" + strconv.FormatInt(at, 10)
}

// CreditRefill tops the credits up to Amount at the UTC start of every
// Interval. Amount 0 means no refill (and Interval is "").
type CreditRefill struct {
	Amount   int64
	Interval string // RefillDaily or RefillMonthly
}

// Refill intervals.
const (
	RefillDaily   = "day"
	RefillMonthly = "month"
)

// Limits on credits and allowed networks.
const (
	// MaxCredits bounds Remaining and Refill.Amount: far beyond any real
	// quota, and exact in a float64 (Redis scripts compute in doubles).
	MaxCredits = 1_000_000_000_000
	// MaxAllowedIPs bounds the networks a key may be restricted to, so that
	// the check on each request stays a short loop.
	MaxAllowedIPs = 100
)

// CheckCredits returns EINVALID, naming the field, unless c is nil or a
// quota every node can enforce: Remaining and Refill.Amount within
// 0..MaxCredits, and a refill either absent (amount 0, no interval) or an
// amount above 0 with interval "day" or "month".
func CheckCredits(c *Credits) error {
	if c == nil {
		return nil
	}
	if c.Remaining < 0 || c.Remaining > MaxCredits {
		return Errorf(EINVALID, "credits.remaining must be between 0 and %d", int64(MaxCredits))
	}
	r := c.Refill
	if r.Amount < 0 || r.Amount > MaxCredits {
		return Errorf(EINVALID, "credits.refill.amount must be between 1 and %d", int64(MaxCredits))
	}
	switch {
	case r.Amount == 0 && r.Interval == "":
		return nil
	case r.Amount == 0:
		return Errorf(EINVALID, "credits.refill.amount must be between 1 and %d", int64(MaxCredits))
	case r.Interval != RefillDaily && r.Interval != RefillMonthly:
		return Errorf(EINVALID, "credits.refill.interval must be %q or %q", RefillDaily, RefillMonthly)
	}
	return nil
}

// PeriodStart returns the UTC start of the refill period (day or month)
// that holds t; the zero time for an interval that is not one.
func PeriodStart(interval string, t time.Time) time.Time {
	t = t.UTC()
	switch interval {
	case RefillDaily:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case RefillMonthly:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// At returns the credits as they stand at now: refilled to Refill.Amount
// (with RefilledAt the period's start) when a refill is due, unchanged
// otherwise. It is the rule the stores and the Redis script apply when
// they spend.
func (c Credits) At(now time.Time) Credits {
	if c.Refill.Amount > 0 {
		if start := PeriodStart(c.Refill.Interval, now); c.RefilledAt.Before(start) {
			c.Remaining, c.RefilledAt = c.Refill.Amount, start
		}
	}
	return c
}

// ParseAllowedIPs parses networks in CIDR notation ("203.0.113.0/24",
// "2001:db8::/32"), or single addresses (a /32 or /128), and returns them
// with exact duplicates removed, in the order given. EINVALID, naming the
// entry, for anything else, for more than MaxAllowedIPs entries, for a
// network with host bits set ("203.0.113.7/24": refused rather than
// silently widened, since the operator may have meant the address alone),
// for IPv4-mapped IPv6 ("::ffff:203.0.113.7", which the check would never
// match: callers' addresses are unmapped) and for zones.
func ParseAllowedIPs(list []string) ([]netip.Prefix, error) {
	if len(list) > MaxAllowedIPs {
		return nil, Errorf(EINVALID, "allowed_ips may have at most %d entries", MaxAllowedIPs)
	}
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := parseAllowedIP(s)
		if err != nil {
			return nil, Errorf(EINVALID, "allowed_ips[%d] %s", i, err.Error())
		}
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out, nil
}

type ipError string

func (e ipError) Error() string { return string(e) }

func parseAllowedIP(s string) (netip.Prefix, error) {
	const bad = ipError("must be a network in CIDR notation (203.0.113.0/24, 2001:db8::/32) or a single address")
	if len(s) > 64 {
		return netip.Prefix{}, bad
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, bad
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, bad
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	switch {
	case p.Addr().Is4In6():
		return netip.Prefix{}, ipError("must not be an IPv4-mapped IPv6 network: give the IPv4 network")
	case p.Masked() != p:
		return netip.Prefix{}, ipError("has host bits set: write the network address (" + p.Masked().String() + ") or a single address")
	}
	return p, nil
}

// CheckAllowedIPs returns EINVALID unless every prefix is one
// ParseAllowedIPs would return, and there are at most MaxAllowedIPs.
func CheckAllowedIPs(list []netip.Prefix) error {
	if len(list) > MaxAllowedIPs {
		return Errorf(EINVALID, "allowed_ips may have at most %d entries", MaxAllowedIPs)
	}
	for i, p := range list {
		if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Masked() != p {
			return Errorf(EINVALID, "allowed_ips[%d] must be a network in CIDR notation without host bits", i)
		}
	}
	return nil
}

// AllowsIP reports whether a request from addr may use a key restricted to
// allowed: always when the list is empty; otherwise only when addr is
// known (valid) and inside one of the networks. IPv4-mapped IPv6 addresses
// are compared as the IPv4 address they carry.
func AllowsIP(allowed []netip.Prefix, addr netip.Addr) bool {
	if len(allowed) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false // unknown: fail closed
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range allowed {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// FormatAllowedIPs returns the networks as text, for the wire and storage.
func FormatAllowedIPs(list []netip.Prefix) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.String()
	}
	return out
}
