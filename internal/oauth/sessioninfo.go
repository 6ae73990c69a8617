package oauth

import (
	"net/http"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// What a session records about the browser that signed in, and how the
// consent page shows it. A session is bound to its cookie only: the
// recorded User-Agent and address are not checked on later requests
// (both are trivially copied by whoever steals the cookie, and change
// legitimately), but showing them lets a user notice a session that
// someone else started.

// Bounds of the recorded text: a User-Agent is usually 100 to 200 bytes;
// the address is an IP, or the raw RemoteAddr when that is not one.
const (
	maxRecordedUserAgent = 256
	maxRecordedAddress   = 64
)

// recordedText returns s as stored with a session: valid UTF-8 without
// control characters (invalid bytes and controls are dropped), cut to at
// most max bytes on a character boundary. The stores refuse NUL and
// invalid UTF-8, and the consent page must show nothing that could break
// the line it is on.
func recordedText(s string, max int) string {
	if len(s) > 4*max {
		s = s[:4*max] // enough after dropping; the loop stays short
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// recordedAddress is the client address recorded with a session: the IP
// that login throttling counts failures against (web.ClientAddress), without
// its port.
func recordedAddress(r *http.Request) string {
	a := web.ClientAddress(r)
	if ap, err := netip.ParseAddrPort(a); err == nil {
		return ap.Addr().Unmap().String()
	}
	if ip, err := netip.ParseAddr(a); err == nil {
		return ip.Unmap().String()
	}
	return recordedText(a, maxRecordedAddress)
}

// sessionInfo is what the consent page says about the session's sign-in.
// Pages run no script, so the time is shown in UTC, named.
func sessionInfo(sess *browserSession) *web.SessionInfo {
	if sess.CreatedAt.IsZero() {
		return nil
	}
	return web.DescribeSession(sess.CreatedAt, sess.Address, sess.UserAgent)
}
