package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// maxDocumentSize caps the discovery and JWKS responses read: a key set is
// a few KiB, and an issuer (or whoever answers in its place) must not be
// able to make every service buffer gigabytes.
const maxDocumentSize = 1 << 20

// run loads the key set at start and refreshes it every RefreshInterval. A
// failed fetch keeps the keys already loaded and is retried sooner, after
// 1s, 2s, 4s... up to RefreshInterval, or up to MinRefetchInterval while no
// key set has loaded yet.
func (v *Verifier) run() {
	defer close(v.stopped)
	failures := 0
	for {
		c := v.startFetch()
		select {
		case <-c.done:
		case <-v.ctx.Done():
			<-c.done
			return
		}
		wait := v.cfg.RefreshInterval
		if c.err != nil {
			failures++
			wait = min(v.retryBase<<min(failures-1, 20), v.cfg.RefreshInterval)
			if v.keys.Load() == nil {
				// Without any key set every request is refused with 503:
				// retry as often as an unknown kid may, so that a service
				// started before its issuer recovers soon after it.
				wait = min(wait, v.cfg.MinRefetchInterval)
			}
			v.log.Warn("verify: fetching the key set failed; keeping the previous one", "err", c.err, "retry_in", wait)
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-v.ctx.Done():
			t.Stop()
			return
		}
	}
}

// startFetch starts a fetch, or returns the one in flight: concurrent
// callers share a single request (singleflight).
func (v *Verifier) startFetch() *fetchCall {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	return v.startFetchLocked()
}

func (v *Verifier) startFetchLocked() *fetchCall {
	if c := v.inflight; c != nil {
		return c
	}
	c := &fetchCall{done: make(chan struct{})}
	v.inflight = c
	v.lastFetch = v.cfg.Now()
	go func() {
		ctx, cancel := context.WithTimeout(v.ctx, v.fetchTimeout)
		c.err = v.fetch(ctx)
		cancel()
		v.fetchMu.Lock()
		v.inflight = nil
		v.fetchMu.Unlock()
		// Ready only once the fetch is over: a refetch asked for right
		// after Ready (a token with a new kid) must start a fetch of its
		// own, not join this one, which read the set before it.
		if c.err == nil {
			v.readyOnce.Do(func() { close(v.ready) })
		}
		close(c.done)
	}()
	return c
}

// refetchForUnknownKID fetches the key set again for a token whose kid is
// not in it — the issuer may have rotated — unless the last fetch started
// less than MinRefetchInterval ago: tokens with made-up kids then fail at
// once, so a flood of them costs the issuer at most one request per
// interval. A fetch already in flight is joined. It returns the current
// set (the new one after a fetch), or nil if the fetch failed or ctx ended
// first.
func (v *Verifier) refetchForUnknownKID(ctx context.Context) *keySet {
	v.fetchMu.Lock()
	c := v.inflight
	if c == nil {
		if v.closed || v.cfg.Now().Sub(v.lastFetch) < v.cfg.MinRefetchInterval {
			v.fetchMu.Unlock()
			// No fetch now; but one may have installed a newer set since
			// the caller read its own.
			return v.keys.Load()
		}
		c = v.startFetchLocked()
	}
	v.fetchMu.Unlock()
	select {
	case <-c.done:
		if c.err != nil {
			return nil
		}
		return v.keys.Load()
	case <-ctx.Done():
		return nil
	}
}

// fetch discovers the jwks_uri if needed, downloads the key set and
// installs it.
func (v *Verifier) fetch(ctx context.Context) error {
	v.fetches.Add(1)
	uri := v.cfg.JWKSURI
	if uri == "" {
		if v.jwksURI == "" {
			u, err := v.discover(ctx)
			if err != nil {
				return err
			}
			v.jwksURI = u
		}
		uri = v.jwksURI
	}
	doc, err := v.get(ctx, uri)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	prev := v.keys.Load()
	set, err := parseKeySet(doc, strconv.FormatInt(v.fetches.Load(), 10), v.cfg.Algorithms, prev)
	if err != nil {
		return err
	}
	v.keys.Store(set)
	return nil
}

// discover reads jwks_uri from the issuer's OpenID Provider metadata. The
// metadata's issuer must be exactly the configured one (OIDC Discovery
// §4.3): otherwise a document served at that address could point at
// another issuer's keys.
func (v *Verifier) discover(ctx context.Context) (string, error) {
	doc, err := v.get(ctx, strings.TrimSuffix(v.cfg.Issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := jsonv2.Unmarshal(doc, &meta); err != nil {
		return "", fmt.Errorf("discovery: the metadata is not a JSON object of the expected types")
	}
	if meta.Issuer != v.cfg.Issuer {
		return "", fmt.Errorf("discovery: the metadata's issuer %q is not %q", meta.Issuer, v.cfg.Issuer)
	}
	if meta.JWKSURI == "" {
		return "", errors.New("discovery: the metadata has no jwks_uri")
	}
	if err := checkURL(meta.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri: %w", err)
	}
	return meta.JWKSURI, nil
}

// get fetches a JSON document of at most maxDocumentSize bytes.
func (v *Verifier) get(ctx context.Context, uri string) ([]byte, error) {
	return getDocument(ctx, v.cfg.HTTPClient, http.MethodGet, uri, nil)
}

func getDocument(ctx context.Context, client *http.Client, method, uri string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, uri, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d", method, uri, resp.StatusCode)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, uri, err)
	}
	if len(doc) > maxDocumentSize {
		return nil, fmt.Errorf("%s %s: the response exceeds %d bytes", method, uri, maxDocumentSize)
	}
	return doc, nil
}

// checkURL accepts https URLs, and http ones only to a loopback host (for
// tests and sidecars): keys fetched in clear text over a network could be
// replaced by anyone on the path, and with them every token accepted.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL without credentials", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%q: only https, or http to a loopback host, is allowed", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// defaultHTTPClient has a timeout and follows a redirect only to a URL
// checkURL accepts: a redirect must not downgrade the key fetch to http.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkURL(req.URL.String())
		},
	}
}
