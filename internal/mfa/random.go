package mfa

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
)

func readRandom(b []byte) error {
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("mfa: random: %w", err)
	}
	return nil
}

// auditAddress is the client address as the audit log keeps it: the IP
// without port, or at most 64 bytes of valid text.
func auditAddress(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		return ip.Unmap().String()
	}
	if len(addr) > 64 {
		addr = addr[:64]
	}
	return strings.ToValidUTF8(strings.ReplaceAll(addr, "\x00", ""), "")
}
