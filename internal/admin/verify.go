package admin

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// handleVerify serves POST /v1/keys/verify, for services that check the keys
// their callers present. Every outcome of a well-formed request is a 200
// with a code, malformed and unknown keys included, except RATE_LIMITED,
// which is a 429 with Retry-After so that callers that only look at the
// status still back off. The RateLimit-* headers follow
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
	res, err := s.keys.Check(r.Context(), apikey.Request{Key: req.Key, Scopes: req.Scopes})
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
// address (VerifyLimit; the public endpoints share it), before the body is read: a refused caller costs
// neither decoding nor a store read. It answers ERATELIMITED, with
// Retry-After, when the bucket is empty.
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
	d := s.sources.Allow(string(a[:]), s.verifyLimit, s.now())
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
