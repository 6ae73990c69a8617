package ratelimit

import (
	"net/netip"
	"strings"
)

// PeerAddr returns the address of a request's peer from its RemoteAddr
// ("IP:port", or a bare IP), unmapped from IPv4-in-IPv6; false when it is
// not an address (a Unix socket, a test).
func PeerAddr(remoteAddr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// Trusted reports whether addr is in one of the prefixes.
func Trusted(addr netip.Addr, trusted []netip.Prefix) bool {
	addr = addr.Unmap()
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr works out the caller behind a peer: the peer itself unless it
// is a trusted proxy, and then the right-most X-Forwarded-For entry
// (forwardedFor holds the header's values in order) that is not itself a
// trusted proxy. An unparsable entry stops the walk at the last trusted
// hop: fail closed, never believe what is left of garbage.
func ClientAddr(peer netip.Addr, forwardedFor []string, trusted []netip.Prefix) netip.Addr {
	addr := peer.Unmap()
	if len(trusted) == 0 || !Trusted(addr, trusted) {
		return addr
	}
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		v := forwardedFor[i]
		for v != "" {
			var part string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				part, v = v[j+1:], v[:j]
			} else {
				part, v = v, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return addr
			}
			a = a.Unmap()
			if !Trusted(a, trusted) {
				return a
			}
			addr = a
		}
	}
	return addr
}

// SourceKey names the bucket of a source address in per-source limits: the
// address for IPv4, its /64 for IPv6, since one host commonly holds a whole
// /64 and could otherwise walk through fresh addresses.
func SourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.Prefix(64)
	return p
}
