package verify

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/problem"
)

type ctxKey int

const (
	claimsKey ctxKey = iota
	keyInfoKey
	realmKey
)

// NewContext returns a copy of ctx carrying c.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey, c)
}

// FromContext returns the claims Middleware verified for this request.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey).(*Claims)
	return c, ok && c != nil
}

// KeyFromContext returns the API key APIKeyVerifier.Middleware verified for
// this request.
func KeyFromContext(ctx context.Context) (*KeyInfo, bool) {
	k, ok := ctx.Value(keyInfoKey).(*KeyInfo)
	return k, ok && k != nil
}

// challengeInfo is how the middleware that authenticated a request
// answers refusals, so that RequireScopes further down answers alike.
type challengeInfo struct{ scheme, realm, algs string }

func challengeFrom(ctx context.Context) challengeInfo {
	if c, ok := ctx.Value(realmKey).(challengeInfo); ok {
		return c
	}
	return challengeInfo{"Bearer", DefaultRealm, ""}
}

// BearerToken returns the token of the request's one "Authorization: Bearer
// <token>" header (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110
// §11.1). It reports false when there is no such header, when there are
// several Authorization headers, or when the token is empty or not a
// token68 (RFC 9110 §11.2).
func BearerToken(r *http.Request) (string, bool) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return "", false
	}
	return parseBearer(vals[0])
}

func parseBearer(v string) (string, bool) {
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimLeft(v[len(scheme):], " ")
	if tok == "" || !isToken68(tok) {
		return "", false
	}
	return tok, true
}

// isToken68 reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
// / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// AccessTokenRefusal is why AccessToken found no token in r: no
// Authorization header, or one of another scheme, is ReasonMissing (RFC
// 6750 §3.1: no error code); several headers, or a Bearer or DPoP value
// that is not a token68, are ReasonMalformed.
func AccessTokenRefusal(r *http.Request) *Error {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return refuse(ReasonMissing, "no Authorization header")
	}
	if len(vals) > 1 {
		return refuse(ReasonMalformed, "several Authorization headers")
	}
	if v := vals[0]; len(v) >= 6 && strings.EqualFold(v[:6], "bearer") || len(v) >= 4 && strings.EqualFold(v[:4], "dpop") {
		return refuse(ReasonMalformed, "the credentials are not a token")
	}
	return refuse(ReasonMissing, "no bearer token")
}

// Middleware verifies the request's access token, requires every one of
// scopes, and calls next with the claims in the request context (see
// FromContext). The token comes in the Bearer scheme or, bound to a key,
// in the DPoP scheme with a proof of that key (RFC 9449 7), which
// Config.DPoP checks: without it, DPoP-bound tokens are refused. Refusals
// are answered by WriteError (WriteDPoPError for a DPoP-bound token or
// the DPoP scheme), with Config.Realm, and logged at debug level with
// their reason (never the token).
func (v *Verifier) Middleware(scopes ...string) func(http.Handler) http.Handler {
	scopes = append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, dpop, ok := AccessToken(r)
			ch := challengeInfo{"Bearer", v.cfg.Realm, ""}
			if dpop {
				ch = v.dpopChallenge()
			}
			if !ok {
				v.refuse(w, r, ch, AccessTokenRefusal(r), scopes)
				return
			}
			c, err := v.Verify(r.Context(), tok)
			if err != nil {
				v.refuse(w, r, ch, err, scopes)
				return
			}
			if dpop || c.JKT != "" {
				ch = v.dpopChallenge()
				if err := v.cfg.DPoP.CheckRequest(r, tok, dpop, c); err != nil {
					v.refuse(w, r, ch, err, scopes)
					return
				}
			}
			if v.cfg.RequireMFA {
				if err := c.CheckMFA(); err != nil {
					v.refuse(w, r, ch, err, scopes)
					return
				}
			}
			if !c.HasScopes(scopes) {
				v.refuse(w, r, ch, &Error{Reason: ReasonInsufficientScope, detail: "a required scope is missing"}, scopes)
				return
			}
			ctx := context.WithValue(NewContext(r.Context(), c), realmKey, ch)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// dpopChallenge is the challenge of refusals that concern DPoP.
func (v *Verifier) dpopChallenge() challengeInfo {
	algs := strings.Join(DefaultDPoPAlgorithms, " ")
	if v.cfg.DPoP != nil {
		algs = v.cfg.DPoP.algList
	}
	return challengeInfo{"DPoP", v.cfg.Realm, algs}
}

func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, ch challengeInfo, err error, scopes []string) {
	v.log.DebugContext(r.Context(), "verify: request refused", "reason", string(ReasonOf(err)), "err", err)
	if ch.scheme == "DPoP" && ReasonOf(err) == ReasonUseDPoPNonce {
		w.Header().Set(HeaderDPoPNonce, v.cfg.DPoP.Nonce())
	}
	writeRefusal(w, ch, err, scopes)
}

// RequireScopes refuses, with 403 insufficient_scope, a request whose
// verified credentials (bearer claims from Middleware, or an API key from
// APIKeyVerifier.Middleware) lack one of scopes. A request that went
// through neither middleware is refused with 401: a route mounted without
// authentication must fail closed.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	scopes = append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ch := challengeFrom(r.Context())
			var held []string
			if c, ok := FromContext(r.Context()); ok {
				held = c.Scopes
			} else if k, ok := KeyFromContext(r.Context()); ok {
				held = k.Scopes
			} else {
				writeRefusal(w, ch, refuse(ReasonMissing, "no verified credentials"), scopes)
				return
			}
			if !hasAll(held, scopes) {
				writeRefusal(w, ch, refuse(ReasonInsufficientScope, "a required scope is missing"), scopes)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// RequireMFA refuses, with 401 insufficient_user_authentication (RFC
// 9470 3), a request whose token, verified by Middleware, comes from a
// sign-in without a second factor (Claims.CheckMFA), for the routes that
// need one when the others do not (Config.RequireMFA asks it of every
// request):
//
//	mux.Handle("POST /transfers", v.Middleware("payments")(verify.RequireMFA()(transfer)))
//
// A request authenticated with an API key (APIKeyVerifier.Middleware) is
// refused alike, with a Bearer challenge: a key proves no one's sign-in.
// A request that went through neither middleware is refused with 401: a
// route mounted without authentication must fail closed.
func RequireMFA() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ch := challengeFrom(r.Context())
			c, ok := FromContext(r.Context())
			if !ok {
				if _, key := KeyFromContext(r.Context()); key {
					ch.scheme = "Bearer"
					writeRefusal(w, ch, refuse(ReasonInsufficientUserAuthentication, "an API key proves no sign-in"), nil)
					return
				}
				writeRefusal(w, ch, refuse(ReasonMissing, "no verified credentials"), nil)
				return
			}
			if err := c.CheckMFA(); err != nil {
				writeRefusal(w, ch, err, nil)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refusal is how one reason is answered: the problem kind and a generic
// detail. The detail is the same for every invalid credential: which check
// failed is for the logs, and would only help a forger.
type refusal struct {
	kind   problem.Kind
	detail string
}

// The answers WriteError gives; docs/problems.md lists their types.
var (
	refusalMissing = refusal{problem.Kind{Name: "credentials_missing", Status: http.StatusUnauthorized, Title: "Unauthorized"},
		"Authentication is required."}
	refusalInvalid = refusal{problem.Kind{Name: "credentials_invalid", Status: http.StatusUnauthorized, Title: "Unauthorized"},
		"The credentials are not valid."}
	refusalScope = refusal{problem.Kind{Name: "insufficient_scope", Status: http.StatusForbidden, Title: "Forbidden"},
		"The credentials do not grant access to this resource."}
	refusalUnavailable = refusal{problem.Unavailable(),
		"Credentials cannot be verified right now; retry shortly."}
	refusalRateLimited = refusal{problem.RateLimited(),
		"Too many requests; retry later."}
	// Not a rate: the key's credits stay spent until its next refill (or
	// an operator's top-up), so no Retry-After is promised.
	refusalUsageExceeded = refusal{problem.UsageExceeded(),
		"The API key's usage quota is exhausted."}
	refusalIPNotAllowed = refusal{problem.IPNotAllowed(),
		"The API key may not be used from this address."}
	// RFC 9470 3: the caller can do something about it, sign in again
	// with a second factor, so the answer says what is needed.
	refusalUserAuthentication = refusal{problem.Kind{Name: string(ReasonInsufficientUserAuthentication), Status: http.StatusUnauthorized, Title: "Unauthorized"},
		mfaDescription}
)

// mfaDescription is the detail and the error_description of the
// insufficient_user_authentication refusal.
const mfaDescription = "A sign-in with a second factor is required."

// refusals is the one table from a reason to its answer. A reason not in
// it (another package's own, or an error that is not a refusal) is
// answered as an invalid credential: fail closed, never a 500.
var refusals = map[Reason]refusal{
	ReasonMissing:           refusalMissing,
	ReasonMalformed:         refusalInvalid,
	ReasonExpired:           refusalInvalid,
	ReasonNotYetValid:       refusalInvalid,
	ReasonBadSignature:      refusalInvalid,
	ReasonUnknownKID:        refusalInvalid,
	ReasonWrongIssuer:       refusalInvalid,
	ReasonWrongAudience:     refusalInvalid,
	ReasonWrongType:         refusalInvalid,
	ReasonRevoked:           refusalInvalid,
	ReasonInsufficientScope: refusalScope,
	ReasonKeysUnavailable:   refusalUnavailable,
	ReasonRateLimited:       refusalRateLimited,
	ReasonUsageExceeded:     refusalUsageExceeded,
	ReasonIPNotAllowed:      refusalIPNotAllowed,
	ReasonInvalidDPoPProof:  refusalInvalid,
	ReasonDPoPReplayed:      refusalInvalid,
	ReasonUseDPoPNonce:      refusalInvalid,
	ReasonDPoPBinding:       refusalInvalid,

	ReasonInsufficientUserAuthentication: refusalUserAuthentication,
}

func refusalFor(r Reason) refusal {
	if f, ok := refusals[r]; ok {
		return f
	}
	return refusalInvalid
}

// Problems lists the kinds of problem WriteError answers with, for
// documentation and tests: a service that documents its errors can list
// these.
func Problems() []problem.Kind {
	return []problem.Kind{refusalMissing.kind, refusalInvalid.kind, refusalScope.kind, refusalUnavailable.kind, refusalRateLimited.kind,
		refusalUsageExceeded.kind, refusalIPNotAllowed.kind, refusalUserAuthentication.kind}
}

// WriteError writes the refusal for err (an *Error, or anything else,
// which is answered as an invalid token: never a 500) as
// application/problem+json with a generic detail (package problem; the
// types are urn:gatehouse:problem:<name>), and the WWW-Authenticate header
// of RFC 6750 §3:
//
//   - missing: 401 credentials_missing, Bearer realm="<realm>" (no error code, §3.1)
//   - insufficient_scope: 403 insufficient_scope, Bearer realm="..", error="insufficient_scope", scope="a b"
//   - keys_unavailable: 503 unavailable, with Retry-After: 1
//   - rate_limited: 429 rate_limited, with Retry-After (the server's, at least 1s)
//   - usage_exceeded: 429 usage_exceeded (the key's credits are spent), no Retry-After
//   - ip_not_allowed: 403 ip_not_allowed (the caller's address is outside the key's networks)
//   - insufficient_user_authentication: 401 insufficient_user_authentication, Bearer realm="..",
//     error="insufficient_user_authentication", error_description="..", acr_values="urn:gatehouse:acr:mfa" (RFC 9470 3)
//   - anything else: 401 credentials_invalid, Bearer realm="..", error="invalid_token"
//
// Every answer has Cache-Control: no-store.
func WriteError(w http.ResponseWriter, realm string, err error, scopes []string) {
	writeRefusal(w, challengeInfo{"Bearer", realm, ""}, err, scopes)
}

// WriteDPoPError is WriteError for a request that concerns DPoP (a
// DPoP-bound token, or the DPoP scheme): the challenge is in the DPoP
// scheme with the accepted proof algorithms (RFC 9449 7.1), and its error
// is invalid_dpop_proof for a bad or replayed proof, use_dpop_nonce when
// the proof lacks the server's nonce (send one in a DPoP-Nonce header),
// and invalid_token for the rest (a bound token presented as Bearer, or
// with another key's proof, included):
//
//	WWW-Authenticate: DPoP realm="api", error="invalid_dpop_proof", algs="ES256 EdDSA RS256"
func WriteDPoPError(w http.ResponseWriter, realm string, algs []string, err error, scopes []string) {
	writeRefusal(w, challengeInfo{"DPoP", realm, strings.Join(algs, " ")}, err, scopes)
}

// errorCode is the error parameter of a challenge for an invalid
// credential (RFC 6750 3.1, RFC 9449 7.1).
func errorCode(r Reason) string {
	switch r {
	case ReasonInvalidDPoPProof, ReasonDPoPReplayed:
		return "invalid_dpop_proof"
	case ReasonUseDPoPNonce:
		return "use_dpop_nonce"
	}
	return "invalid_token"
}

func writeRefusal(w http.ResponseWriter, ch challengeInfo, err error, scopes []string) {
	var e *Error
	if !errors.As(err, &e) {
		e = refuse(ReasonMalformed, "")
	}
	ans := refusalFor(e.Reason)
	status := ans.kind.Status
	h := w.Header()
	scheme := ch.scheme
	challenge := scheme + ` realm="` + quote(ch.realm) + `"`
	algs := ""
	if ch.algs != "" {
		algs = `, algs="` + quote(ch.algs) + `"`
	}
	switch {
	case status == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case e.Reason == ReasonUsageExceeded, e.Reason == ReasonIPNotAllowed:
		// The credential is valid: no challenge to answer differently.
	case status == http.StatusTooManyRequests:
		secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	case scheme != "Bearer" && scheme != "DPoP" || e.Reason == ReasonMissing:
		h.Set("WWW-Authenticate", challenge+algs)
	case e.Reason == ReasonInsufficientUserAuthentication:
		h.Set("WWW-Authenticate", challenge+`, error="insufficient_user_authentication", error_description="`+mfaDescription+
			`", acr_values="`+ACRMFA+`"`+algs)
	case e.Reason == ReasonInsufficientScope:
		if e.scopes != nil {
			scopes = e.scopes
		}
		h.Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+quote(strings.Join(scopes, " "))+`"`+algs)
	default:
		h.Set("WWW-Authenticate", challenge+`, error="`+errorCode(e.Reason)+`"`+algs)
	}
	problem.Write(w, ans.kind.With(ans.detail))
}

// quote escapes a value for an HTTP quoted-string (RFC 9110 §5.6.4), and
// drops control characters, which no quoted-string may hold.
func quote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 && c != '\t' || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
