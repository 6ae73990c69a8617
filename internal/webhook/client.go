package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Bounds of one delivery attempt.
const (
	// AttemptTimeout bounds an attempt from connecting to reading the
	// answer, so one slow endpoint cannot hold the dispatcher.
	AttemptTimeout = 10 * time.Second
	// maxResponseBytes is how much of an answer is read: enough to reuse
	// the connection after a normal answer, never an unbounded amount.
	maxResponseBytes = 64 << 10
	// maxExcerpt is how much of a failed answer (or an error) is kept.
	maxExcerpt = 256
)

// ErrForbiddenAddress is the error of a connection refused because the
// destination is not a public address.
var ErrForbiddenAddress = errors.New("webhook: the destination resolves to a loopback, private, link-local or otherwise internal address (webhooks.allow_private allows it)")

// NewClient returns the HTTP client that delivers webhooks. Unless
// allowPrivate, every connection is checked against auth.PublicAddr when
// it is made, after name resolution (net.Dialer.Control sees the address
// actually dialled), so a host name that resolves, or is made to resolve
// (DNS rebinding), to an internal address is refused. It uses no proxy
// (a proxy would connect on our behalf, unchecked) and follows no
// redirect (a redirect could point anywhere; a 3xx is a failed attempt).
func NewClient(allowPrivate bool) *http.Client {
	if allowPrivate {
		return newClient(nil)
	}
	return newClient(refuseInternal)
}

// NewLoopbackClient is NewClient(false) that also connects to loopback
// addresses (and no other internal ones): for receivers on a developer's
// own machine, as back-channel logout allows in --dev.
func NewLoopbackClient() *http.Client {
	return newClient(func(network, address string, c syscall.RawConn) error {
		if host, _, err := net.SplitHostPort(address); err == nil {
			if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
				return nil
			}
		}
		return refuseInternal(network, address, c)
	})
}

func newClient(control func(network, address string, c syscall.RawConn) error) *http.Client {
	dialer := &net.Dialer{Timeout: AttemptTimeout, KeepAlive: 30 * time.Second, Control: control}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    AttemptTimeout,
		ResponseHeaderTimeout:  AttemptTimeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   AttemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// refuseInternal is a net.Dialer.Control: it runs for each address the
// dialer tries, after resolution and before connecting.
func refuseInternal(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrForbiddenAddress, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !auth.PublicAddr(a) {
		return ErrForbiddenAddress
	}
	return nil
}
