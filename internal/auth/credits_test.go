package auth

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseAllowedIPs(t *testing.T) {
	t.Parallel()
	got, err := ParseAllowedIPs([]string{"203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "2001:db8::1", "203.0.113.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "203.0.113.0/24 2001:db8::/32 198.51.100.7/32 2001:db8::1/128"; strings.Join(FormatAllowedIPs(got), " ") != want {
		t.Fatalf("ParseAllowedIPs = %v, want %s (duplicates dropped, addresses as single hosts)", got, want)
	}
	if got, err := ParseAllowedIPs(nil); got != nil || err != nil {
		t.Fatalf("ParseAllowedIPs(nil) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "203.0.113.0/33", "203.0.113.7/24", "2001:db8::1/32", "example.com", "10.0.0.0/8/8",
		"fe80::1%eth0", "fe80::/64%eth0", "::ffff:203.0.113.0/120", "::ffff:1.2.3.4", " 10.0.0.0/8", "010.0.0.0/8",
		strings.Repeat("1", 100)} {
		if _, err := ParseAllowedIPs([]string{bad}); ErrorCode(err) != EINVALID {
			t.Errorf("ParseAllowedIPs(%q): err %v, want EINVALID", bad, err)
		}
	}
	many := make([]string, MaxAllowedIPs+1)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 0}).String() + "/24"
	}
	if _, err := ParseAllowedIPs(many); ErrorCode(err) != EINVALID {
		t.Errorf("%d networks: err %v, want EINVALID", len(many), err)
	}
	if _, err := ParseAllowedIPs(many[:MaxAllowedIPs]); err != nil {
		t.Errorf("%d networks: %v", MaxAllowedIPs, err)
	}
}

func TestAllowsIP(t *testing.T) {
	t.Parallel()
	nets, _ := ParseAllowedIPs([]string{"203.0.113.0/24", "2001:db8::/32"})
	for addr, want := range map[string]bool{
		"203.0.113.1": true, "::ffff:203.0.113.1": true, "2001:db8::9": true,
		"203.0.114.1": false, "2001:db9::": false, "": false,
	} {
		var a netip.Addr
		if addr != "" {
			a = netip.MustParseAddr(addr)
		}
		if got := AllowsIP(nets, a); got != want {
			t.Errorf("AllowsIP(%q) = %v, want %v", addr, got, want)
		}
	}
	if !AllowsIP(nil, netip.Addr{}) {
		t.Error("no restriction refused an unknown address")
	}
}

func TestCheckCredits(t *testing.T) {
	t.Parallel()
	for _, c := range []*Credits{
		nil, {}, {Remaining: MaxCredits}, {Remaining: 1, Refill: CreditRefill{Amount: MaxCredits, Interval: RefillMonthly}},
		{Refill: CreditRefill{Amount: 1, Interval: RefillDaily}},
	} {
		if err := CheckCredits(c); err != nil {
			t.Errorf("CheckCredits(%+v): %v", c, err)
		}
	}
	for _, c := range []*Credits{
		{Remaining: -1}, {Remaining: MaxCredits + 1},
		{Refill: CreditRefill{Amount: 1}}, {Refill: CreditRefill{Interval: RefillDaily}},
		{Refill: CreditRefill{Amount: 1, Interval: "week"}}, {Refill: CreditRefill{Amount: -1, Interval: RefillDaily}},
		{Refill: CreditRefill{Amount: MaxCredits + 1, Interval: RefillDaily}},
	} {
		if err := CheckCredits(c); ErrorCode(err) != EINVALID {
			t.Errorf("CheckCredits(%+v): err %v, want EINVALID", c, err)
		}
	}
}

func TestCreditsAt(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := Credits{Remaining: 3, Refill: CreditRefill{Amount: 10, Interval: RefillMonthly}, RefilledAt: at("2030-01-31T23:00:00Z")}
	if got := c.At(at("2030-01-31T23:59:59.999999Z")); got.Remaining != 3 {
		t.Errorf("before the month ends: %+v", got)
	}
	// A time in another zone that is still January in UTC.
	if got := c.At(at("2030-02-01T00:30:00+01:00")); got.Remaining != 3 {
		t.Errorf("January in UTC, February in the zone: %+v", got)
	}
	if got := c.At(at("2030-02-01T00:00:00Z")); got.Remaining != 10 || !got.RefilledAt.Equal(at("2030-02-01T00:00:00Z")) {
		t.Errorf("at the start of February: %+v", got)
	}
	if got := (Credits{Remaining: 0}).At(at("2099-01-01T00:00:00Z")); got.Remaining != 0 {
		t.Errorf("credits without a refill were refilled: %+v", got)
	}
	if got := PeriodStart(RefillDaily, at("2030-03-04T05:06:07+09:00")); !got.Equal(at("2030-03-03T00:00:00Z")) {
		t.Errorf("PeriodStart(day) = %v", got)
	}
}

// FuzzParseAllowedIPs: whatever the admin API is sent, what ParseAllowedIPs
// accepts passes CheckAllowedIPs (what the stores check) and reads back
// the same from its text (what the stores keep).
func FuzzParseAllowedIPs(f *testing.F) {
	for _, s := range []string{"203.0.113.0/24", "2001:db8::/32", "198.51.100.7", "::ffff:1.2.3.4", "fe80::1%eth0", "10.0.0.1/8", "1.2.3.4/0", "::/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAllowedIPs([]string{s})
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseAllowedIPs(%q): %v, want EINVALID", s, err)
			}
			return
		}
		if err := CheckAllowedIPs(got); err != nil {
			t.Fatalf("ParseAllowedIPs(%q) = %v, which CheckAllowedIPs refuses: %v", s, got, err)
		}
		again, err := ParseAllowedIPs(FormatAllowedIPs(got))
		if err != nil || len(again) != 1 || again[0] != got[0] {
			t.Fatalf("%q: %v reads back as %v, %v", s, got, again, err)
		}
	})
}
