package admin

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// handleVerify serves POST /v1/keys/verify, for services that check the keys
// their callers present. Every outcome of a well-formed request is a 200
// with a code, malformed and unknown keys included, except RATE_LIMITED,
// which is a 429 with Retry-After so that callers that only look at the
// status still back off. USAGE_EXCEEDED and IP_NOT_ALLOWED are 200s like the
// other refusals: they are facts about the key, and retrying soon changes
// neither (credits come back at the next refill, which is no delay a
// Retry-After could promise). The answer carries the credits left for a
// key with credits. A "cost" outside 1..apikey.MaxCost or an "ip" that is
// not an address is a 400. The RateLimit-* headers follow
// draft-ietf-httpapi-ratelimit-headers: limit, remaining, and the delay in
// seconds until the bucket is full.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	if err := s.allowSource(w, r); err != nil {
		return err
	}
	var req VerifyRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	if req.Key == "" {
		return auth.Errorf(auth.EINVALID, "The member \"key\" is required.")
	}
	check := apikey.Request{Key: req.Key, Scopes: req.Scopes}
	if req.Cost != nil {
		if *req.Cost < 1 || *req.Cost > apikey.MaxCost {
			return auth.Errorf(auth.EINVALID, "The member \"cost\" must be an integer from 1 to %d.", apikey.MaxCost)
		}
		check.Cost = *req.Cost
	}
	if req.IP != "" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil || ip.Zone() != "" {
			return auth.Errorf(auth.EINVALID, "The member \"ip\" must be an IPv4 or IPv6 address such as \"203.0.113.7\" or \"2001:db8::7\".")
		}
		check.IP = ip
	}
	res, err := s.keys.Check(r.Context(), check)
	if err != nil {
		return fmt.Errorf("admin: verify key: %w", err)
	}
	if res.Key != nil {
		infoOf(r).keyID = res.Key.ID
	}
	h := w.Header()
	setRateLimitHeaders(h, res.RateLimit)
	status := http.StatusOK
	if res.Code == apikey.CodeRateLimited {
		setRetryAfter(h, res.RateLimit)
		status = http.StatusTooManyRequests
	}
	s.writeJSON(w, r, status, verifyResponse(res))
	return nil
}

// allowSource takes one token from the bucket of the request's source
// address (VerifyLimit, kept by VerifyLimiter: shared by the nodes through
// Redis when set; the public endpoints share it), before the body is read:
// a refused caller costs neither decoding nor a store read. It answers
// ERATELIMITED, with Retry-After, when the bucket is empty.
func (s *Server) allowSource(w http.ResponseWriter, r *http.Request) error {
	if s.verifyLimit.Unlimited() {
		return nil
	}
	peer, ok := ratelimit.PeerAddr(r.RemoteAddr)
	if !ok {
		return nil // not a network peer (a Unix socket): nothing to count by
	}
	src := ratelimit.SourceKey(ratelimit.ClientAddr(peer, r.Header.Values("X-Forwarded-For"), s.trusted))
	a := src.Addr().As16()
	key, now := string(a[:]), s.now()
	d, err := s.sourceLim.Allow(r.Context(), key, s.verifyLimit, now)
	if err != nil {
		// The caller went away, or a shared limiter failed without a
		// fallback: this node's own bucket decides.
		d = s.sources.Allow(key, s.verifyLimit, now)
	}
	if d.Allowed {
		return nil
	}
	setRetryAfter(w.Header(), apikey.RateLimitState{RetryAfter: d.RetryAfter})
	return auth.Errorf(auth.ERATELIMITED, "Too many verification requests from this address; retry after the Retry-After delay.")
}

// setRateLimitHeaders sets RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset (seconds until the bucket is full) when the key has a
// limit.
func setRateLimitHeaders(h http.Header, rl apikey.RateLimitState) {
	ratelimit.SetHeaders(h, rl.Limit, rl.Remaining, rl.Reset)
}

// setRetryAfter sets Retry-After in whole seconds (RFC 9110 section 10.2.3),
// at least 1: a refused request must not invite an immediate retry.
func setRetryAfter(h http.Header, rl apikey.RateLimitState) {
	h.Set("Retry-After", strconv.FormatInt(max(ratelimit.CeilSeconds(rl.RetryAfter), 1), 10))
}
