// Package verify lets a Go service check Gatehouse credentials: JWT access
// tokens (RFC 9068) locally, against the issuer's published keys, and API
// keys through Gatehouse's verify endpoint.
//
// # Access tokens
//
// A Verifier fetches the issuer's JWK Set (from Config.JWKSURI, or the
// jwks_uri of the issuer's OpenID Provider metadata, whose "issuer" must be
// exactly Config.Issuer), refreshes it in the background, and checks each
// token without a network round trip. It fails closed:
//
//   - tokens over 8 KiB are refused before parsing; a token is a compact JWS
//     with one signature whose header holds only alg, kid and typ (jwk, jku,
//     x5u, x5c, crit and the rest are refused: a token never chooses its own
//     key);
//   - alg must be one of Config.Algorithms (HMAC and "none" cannot be
//     configured) and fit the key: its type and curve, and its own "alg"
//     member if it has one; keys whose use is not "sig" are ignored; a kid
//     is required when the set has several keys;
//   - the claims are decoded strictly (case-sensitive names, no duplicates);
//     exp is required; exp, nbf and iat are checked with Config.Leeway; iss
//     must equal Config.Issuer; typ must be one of Config.Types ("at+jwt");
//     aud must hold Config.Audience when it is set.
//
// Only https URLs are fetched, or http to a loopback host, and responses
// are capped at 1 MiB. Until the first key set is loaded, Verify answers
// ReasonKeysUnavailable at once (503, not 401); Ready waits for it. A token
// with an unknown kid makes the verifier fetch the set again — the issuer
// may have rotated — but at most once per Config.MinRefetchInterval, and
// concurrent callers share that one fetch, so tokens with made-up kids
// cannot turn a service into a flood of requests to the issuer.
//
// # Caching and revocation
//
// A verified token's claims are kept, keyed by the token's SHA-256 (never
// the token itself), until its exp: a repeated token costs a hash and a map
// look-up instead of a signature check. An entry is used only while the
// key set still holds the key that verified it, so removing a compromised
// key from the issuer's JWKS invalidates its tokens at the next refresh
// (RefreshInterval) or unknown-kid refetch. A JWT stays valid until its
// exp: revoking one before that takes Config.Revoked, which is consulted
// on every Verify, cache hits included (feed it from Gatehouse's
// revocation events or introspection). Without it a revoked token is
// accepted until it expires — keep access tokens short-lived.
//
// API keys are verified by Gatehouse. An APIKeyVerifier reuses a VALID
// answer for APIKeyConfig.CacheTTL (10s by default): within that time a
// revoked key is still accepted, and requests answered from the cache do
// not count against the key's rate limit at Gatehouse. Set CacheTTL below
// zero when either matters more than a round trip per request.
//
// # DPoP
//
// A token bound to a client's key (RFC 9449: a cnf.jkt claim) is accepted
// by Middleware only in the "DPoP" Authorization scheme with a DPoP header
// holding a fresh proof of that key for the request's method and URL and
// for this token (ath). Give the Verifier a checker, Config.DPoP from
// NewDPoP, to accept such tokens; without one they are refused. A proof
// is accepted once within its window (DPoPConfig.Window): the default
// replay cache is this process's memory, so several instances of a
// service need a shared ReplayCache. Refusals carry a DPoP challenge,
// WWW-Authenticate: DPoP error="invalid_token" or "invalid_dpop_proof",
// with the accepted algorithms; a bound token is never accepted as Bearer.
//
// # Second factors
//
// Claims.AMR and Claims.ACR hold the amr (RFC 8176) and acr claims of the
// user's sign-in. Claims.HasMFA is the rule the Gatehouse gateway applies
// on its require_mfa routes: amr holds "mfa", or acr is ACRMFA
// ("urn:gatehouse:acr:mfa"). Config.RequireMFA makes Middleware refuse
// every other token, and RequireMFA does it for one handler (API keys
// included), with 401 and RFC 9470's step-up challenge:
//
//	WWW-Authenticate: Bearer realm="api", error="insufficient_user_authentication",
//	  error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa"
//
// # Usage
//
//	v, err := verify.New(verify.Config{
//		Issuer:   "https://auth.example.com",
//		Audience: "https://api.example.com",
//	})
//	if err != nil {
//		return err
//	}
//	defer v.Close()
//	mux := http.NewServeMux()
//	mux.Handle("GET /orders", v.Middleware("orders:read")(listOrders))
//
// and in the handler:
//
//	claims, _ := verify.FromContext(r.Context())
//	log.Print(claims.Subject, claims.ClientID)
//
// Refusals are answered by WriteError: problem+json (package problem) whose
// type is urn:gatehouse:problem:<name> (credentials_missing,
// credentials_invalid, insufficient_scope, rate_limited, unavailable; see
// Problems and docs/problems.md) with a generic detail, and the
// WWW-Authenticate challenge of RFC 6750 §3. The exact reason (an *Error's
// Reason) is for logs and metrics only.
package verify
