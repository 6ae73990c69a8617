package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// MaxAPIKeySize caps the keys APIKeyVerifier sends to Gatehouse; Gatehouse's
// keys are well under 100 bytes.
const MaxAPIKeySize = 512

// APIKeyConfig configures an APIKeyVerifier. Only Endpoint is required.
type APIKeyConfig struct {
	Endpoint   string        // Gatehouse base URL: https, or http to a loopback host
	HTTPClient *http.Client  // default: a client with a 10s timeout
	CacheTTL   time.Duration // how long a VALID answer is reused; default 10s (a revoked key is refused within it); <0 disables
	CacheSize  int           // default 1000
	Now        func() time.Time
	Logger     *slog.Logger
	Realm      string // realm of the Middleware's challenges; default "api"
}

// KeyInfo is what Gatehouse says of a valid API key. Shared and read-only
// when served from the cache.
type KeyInfo struct {
	KeyID, Owner string
	// Environment is the key's environment, "live" or "test" ("" from a
	// Gatehouse older than key environments).
	Environment string
	Scopes      []string
	ExpiresAt   time.Time // zero: the key does not expire
}

// APIKeyVerifier verifies API keys through Gatehouse's endpoint POST
// {Endpoint}/v1/keys/verify, and reuses VALID answers for CacheTTL. It is
// safe for concurrent use.
type APIKeyVerifier struct {
	cfg   APIKeyConfig
	url   string
	cache *cache[*KeyInfo]
}

// NewAPIKeyVerifier checks cfg and fills in its defaults.
func NewAPIKeyVerifier(cfg APIKeyConfig) (*APIKeyVerifier, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("verify: Endpoint is required")
	}
	if err := checkURL(cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("verify: Endpoint: %w", err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	a := &APIKeyVerifier{cfg: cfg, url: strings.TrimSuffix(cfg.Endpoint, "/") + "/v1/keys/verify"}
	if cfg.CacheTTL > 0 && cfg.CacheSize > 0 {
		a.cache = newCache[*KeyInfo](cfg.CacheSize)
	}
	return a, nil
}

// verifyAnswer is the endpoint's answer (internal/admin VerifyResponse);
// members this package does not use are ignored.
type verifyAnswer struct {
	Valid       bool      `json:"valid"`
	Code        string    `json:"code"`
	KeyID       string    `json:"key_id"`
	Environment string    `json:"environment"`
	Owner       string    `json:"owner"`
	Scopes      []string  `json:"scopes"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Credits is present for keys with credits, whose answers are never
	// cached: each request must spend its credit.
	Credits *struct {
		Remaining int64 `json:"remaining"`
	} `json:"credits"`
}

// Verify checks key and that it holds every one of scopes. Errors are
// *Error: missing (empty key), malformed (too long, or Gatehouse answered
// INVALID: malformed or unknown), expired, revoked, insufficient_scope,
// rate_limited (429), usage_exceeded (the key's credits are spent),
// ip_not_allowed (the key is restricted to networks: this verifier sends
// no caller address, so such keys are refused here), and keys_unavailable when the endpoint cannot be
// reached or answers anything unexpected.
//
// A VALID answer is cached (unless the key has credits, each of which a
// request must spend at Gatehouse), by the SHA-256 of the key, for CacheTTL (and
// never past the key's expiry); scopes are checked against the cached key's
// scopes. Requests answered from the cache do not reach Gatehouse, so they
// neither see a revocation made within the TTL nor count against the key's
// rate limit there.
func (a *APIKeyVerifier) Verify(ctx context.Context, key string, scopes []string) (*KeyInfo, error) {
	if key == "" {
		return nil, refuse(ReasonMissing, "no API key")
	}
	if len(key) > MaxAPIKeySize {
		return nil, refuse(ReasonMalformed, "API key too long")
	}
	var h [32]byte
	if a.cache != nil {
		h = hashOf(key)
		if info, ok := a.cache.get(h, a.cfg.Now()); ok {
			return checkKeyScopes(info, scopes)
		}
	}
	ans, retryAfter, err := a.ask(ctx, key, scopes)
	if err != nil {
		a.cfg.Logger.WarnContext(ctx, "verify: the API key endpoint is unavailable", "err", err)
		return nil, refuse(ReasonKeysUnavailable, "the verification endpoint is unavailable")
	}
	switch ans.Code {
	case "VALID":
		if !ans.Valid {
			break
		}
		info := &KeyInfo{KeyID: ans.KeyID, Owner: ans.Owner, Environment: ans.Environment, Scopes: ans.Scopes, ExpiresAt: ans.ExpiresAt}
		if a.cache != nil && ans.Credits == nil {
			now := a.cfg.Now()
			until := now.Add(a.cfg.CacheTTL)
			if !info.ExpiresAt.IsZero() && info.ExpiresAt.Before(until) {
				until = info.ExpiresAt
			}
			a.cache.put(h, info, until, now)
		}
		return checkKeyScopes(info, scopes)
	case "INVALID":
		return nil, refuse(ReasonMalformed, "Gatehouse does not know the key")
	case "EXPIRED":
		return nil, refuse(ReasonExpired, "the key has expired")
	case "REVOKED":
		return nil, refuse(ReasonRevoked, "the key is revoked")
	case "INSUFFICIENT_SCOPE":
		return nil, &Error{Reason: ReasonInsufficientScope, detail: "a required scope is missing", scopes: slices.Clone(scopes)}
	case "RATE_LIMITED":
		return nil, &Error{Reason: ReasonRateLimited, detail: "the key's rate limit is exhausted", RetryAfter: retryAfter}
	case "USAGE_EXCEEDED":
		return nil, refuse(ReasonUsageExceeded, "the key's credits are spent")
	case "IP_NOT_ALLOWED":
		return nil, refuse(ReasonIPNotAllowed, "the key may not be used from this address")
	}
	a.cfg.Logger.WarnContext(ctx, "verify: unexpected answer of the API key endpoint", "code", ans.Code, "valid", ans.Valid)
	return nil, refuse(ReasonKeysUnavailable, "the verification endpoint gave an unexpected answer")
}

func checkKeyScopes(info *KeyInfo, scopes []string) (*KeyInfo, error) {
	if !hasAll(info.Scopes, scopes) {
		return nil, &Error{Reason: ReasonInsufficientScope, detail: "a required scope is missing", scopes: slices.Clone(scopes)}
	}
	return info, nil
}

// ask posts the key to the endpoint. A 200, or a 429 (RATE_LIMITED, with
// Retry-After), carries an answer; a 400 means Gatehouse refused the request
// itself and is answered INVALID; anything else is an error.
func (a *APIKeyVerifier) ask(ctx context.Context, key string, scopes []string) (verifyAnswer, time.Duration, error) {
	body, err := jsonv2.Marshal(struct {
		Key    string   `json:"key"`
		Scopes []string `json:"scopes,omitempty"`
	}{key, scopes})
	if err != nil {
		return verifyAnswer{}, 0, fmt.Errorf("encode the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return verifyAnswer{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return verifyAnswer{}, 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusTooManyRequests:
	case http.StatusBadRequest:
		return verifyAnswer{Code: "INVALID"}, 0, nil
	default:
		return verifyAnswer{}, 0, fmt.Errorf("POST %s: status %d", a.url, resp.StatusCode)
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return verifyAnswer{}, 0, fmt.Errorf("POST %s: %w", a.url, err)
	}
	if len(doc) > maxDocumentSize {
		return verifyAnswer{}, 0, fmt.Errorf("POST %s: the response exceeds %d bytes", a.url, maxDocumentSize)
	}
	var ans verifyAnswer
	if err := jsonv2.Unmarshal(doc, &ans); err != nil {
		return verifyAnswer{}, 0, fmt.Errorf("POST %s: the answer is not the expected JSON", a.url)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		ans.Code = "RATE_LIMITED"
	}
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(min(s, 3600)) * time.Second
	}
	return ans, retryAfter, nil
}

// Middleware verifies the request's one X-API-Key header, requires every
// one of scopes, and calls next with the key in the request context (see
// KeyFromContext). Refusals are problem+json like WriteError's, with an
// "APIKey" challenge.
func (a *APIKeyVerifier) Middleware(scopes ...string) func(http.Handler) http.Handler {
	scopes = append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var info *KeyInfo
			vals := r.Header.Values("X-API-Key")
			var err error
			switch len(vals) {
			case 0:
				err = refuse(ReasonMissing, "no X-API-Key header")
			case 1:
				info, err = a.Verify(r.Context(), vals[0], scopes)
			default:
				err = refuse(ReasonMalformed, "several X-API-Key headers")
			}
			if err != nil {
				a.cfg.Logger.DebugContext(r.Context(), "verify: request refused", "reason", string(ReasonOf(err)), "err", err)
				writeRefusal(w, challengeInfo{"APIKey", a.cfg.Realm, ""}, err, scopes)
				return
			}
			ctx := context.WithValue(r.Context(), keyInfoKey, info)
			ctx = context.WithValue(ctx, realmKey, challengeInfo{"APIKey", a.cfg.Realm, ""})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
