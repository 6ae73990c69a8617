package ratelimit

import (
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.9", []string{"198.51.100.1"}, "203.0.113.9"},                    // untrusted peer: its header is not believed
		{"10.0.0.1", []string{"198.51.100.1"}, "198.51.100.1"},                      // trusted proxy
		{"10.0.0.1", []string{"198.51.100.1, 10.0.0.2"}, "198.51.100.1"},            // two trusted hops
		{"10.0.0.1", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},             // the left-most is the caller's to write
		{"10.0.0.1", []string{"6.6.6.6", "198.51.100.1, 10.0.0.3"}, "198.51.100.1"}, // several header lines
		{"10.0.0.1", []string{"garbage, 10.0.0.2"}, "10.0.0.2"},                     // garbage stops at the last trusted hop
		{"10.0.0.1", nil, "10.0.0.1"},                                               // no header: the proxy itself
		{"::ffff:10.0.0.1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},        // mapped forms unmapped
		{"fd00::1", []string{"2001:db8::7"}, "2001:db8::7"},
	} {
		got := ClientAddr(netip.MustParseAddr(tc.peer), tc.xff, trusted)
		if got.String() != tc.want {
			t.Errorf("ClientAddr(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if got := ClientAddr(netip.MustParseAddr("10.0.0.1"), []string{"198.51.100.1"}, nil); got.String() != "10.0.0.1" {
		t.Errorf("without trusted proxies the peer is the client, got %s", got)
	}
}

func TestPeerAddr(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.1:443": "192.0.2.1", "[::ffff:192.0.2.1]:80": "192.0.2.1", "[2001:db8::1]:80": "2001:db8::1", "192.0.2.7": "192.0.2.7"} {
		if a, ok := PeerAddr(in); !ok || a.String() != want {
			t.Errorf("PeerAddr(%q) = %s, %v; want %s", in, a, ok, want)
		}
	}
	if _, ok := PeerAddr("@unix"); ok {
		t.Error("PeerAddr accepted a non-address")
	}
}

func TestSourceKeyGroupsAnIPv6Slash64(t *testing.T) {
	a := SourceKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := SourceKey(netip.MustParseAddr("2001:db8:1:2:bbbb::9"))
	c := SourceKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Errorf("SourceKey: %s %s %s; one /64 must share a key, another must not", a, b, c)
	}
	if v4 := SourceKey(netip.MustParseAddr("::ffff:192.0.2.1")); v4.String() != "192.0.2.1/32" {
		t.Errorf("SourceKey(v4-mapped) = %s", v4)
	}
}
