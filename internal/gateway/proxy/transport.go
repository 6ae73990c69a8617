package proxy

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns the tuned transport shared by all routes. Idle
// connections per host are raised to maxIdlePerHost (default 256 if not
// positive): the default transport's 2 make a busy proxy open and close a
// connection for most requests, which halves its throughput on loopback.
// HTTP/2 is used with https upstreams that offer it; plain http upstreams
// get HTTP/1.1. Proxies from the environment are not used: upstreams are
// addressed directly.
func NewTransport(maxIdlePerHost int) *http.Transport {
	if maxIdlePerHost <= 0 {
		maxIdlePerHost = 256
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true, // a custom DialContext turns it off otherwise
		MaxIdleConns:          0,    // no global bound: the per-host one applies
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}
