package gateway

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway/proxy"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/tracing"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/problem"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// Realm is the realm of the gateway's WWW-Authenticate challenges.
const Realm = "gatehouse"

// Refusal reasons of the gateway's own making, beside verify's.
const (
	reasonInvalidKey  verify.Reason = "invalid_key"
	reasonNoRoute                   = "no_route"
	reasonUnavailable               = "unavailable"
	reasonBadPath                   = "bad_path"
	reasonRouteHeld                 = "route_held"
	// reasonKeyEnvironment: an API key of another environment than the
	// route's key_environment.
	reasonKeyEnvironment verify.Reason = "wrong_key_environment"
)

// detailPathParams is the refusal of a path with ";parameters".
const detailPathParams = "Path parameters (';') are not accepted."

// headerAPIKey is apikey.HeaderAPIKey in canonical form, for direct map
// access ("X-API-Key" is not how net/http stores it).
const headerAPIKey = "X-Api-Key"

// Values of X-Gatehouse-Auth.
const (
	authAPIKey = "api_key"
	authJWT    = "jwt"
)

// identity is who a request's credential proved the caller to be.
type identity struct {
	auth       string // authAPIKey, authJWT, or "" on public routes
	subject    string
	client     string
	scopes     []string
	act        *verify.Actor // the act claim of the caller's token, if any (RFC 8693 4.1)
	amr        []string      // how the caller's user signed in (its token's amr and acr), passed on in internal JWTs
	acr        string
	keyID      string
	keyEnv     string                // API key: its environment (live, test)
	keyInAuthz bool                  // the API key came in Authorization: it must not be forwarded
	keyLimit   apikey.RateLimitState // the key's own limit, for the headers
	// token: a bearer JWT was presented (its verification is counted in
	// Config.Usage); tokenClient and tokenUser name its client and user
	// once its signature is verified, refused or not.
	token                  bool
	tokenClient, tokenUser string
	dpop                   bool // the token is DPoP-bound or came in the DPoP scheme: refusals challenge DPoP
	// sentPath and sentRawPath are the request's path as the client sent
	// it, before the route folded its prefix: the path of a DPoP proof.
	sentPath, sentRawPath string
	// sentScheme is the scheme the client used, as a trusted proxy asking
	// for a decision tells it (X-Forwarded-Proto); "" on the gateway's
	// own requests.
	sentScheme string
	// keyReq and keyRes: an API key that passed apikey.Service.Authorize,
	// whose credits are spent (Settle) only once the route's limits and
	// the internal token have let the request through.
	keyReq     apikey.Request
	keyRes     apikey.Result
	keyPending bool
}

// exchange is one request's state, pooled: the hot path allocates little.
type exchange struct {
	rec      recorder
	id       identity
	route    *route
	reqID    string
	clientIP string // clientAddr's text, or the peer's when it is not an address
	reason   string
	// clientAddr is the caller's address (see Gateway.clientIP); the zero
	// Addr when unknown.
	clientAddr netip.Addr
	// decision: a question to the decision API, not a request to forward.
	decision bool
	start    time.Time // when the request arrived
	// verbatim: the proxy that asked forwards the client's headers as
	// they are (the HTTP decision API), not without those the gateway
	// removes (Envoy's gRPC ext_authz, told which to remove).
	verbatim bool
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// ServeHTTP authenticates r according to its route and forwards it. It
// works on r itself (headers are removed and added before forwarding): the
// gateway is meant to be the last handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := begin(w)
	defer g.end(x, r)
	g.serve(&x.rec, r, x)
}

// begin takes a pooled exchange for a request answered on w; end records
// the request (metrics, access log) and returns the exchange to the pool.
func begin(w http.ResponseWriter) *exchange {
	x := exchanges.Get().(*exchange)
	x.start = time.Now()
	x.rec.ResponseWriter, x.rec.status = w, 0
	return x
}

func (g *Gateway) end(x *exchange, r *http.Request) {
	x.finish(g, r, x.start)
	*x = exchange{}
	exchanges.Put(x)
}

// serve is the gateway's own path: the decision (admit), then the
// upstream.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, x *exchange) {
	rt := g.admit(w, r, x)
	if rt == nil {
		return
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		// A body that trickles in would hold this request and an upstream
		// connection for as long as the client likes: it must arrive
		// within the route's timeout (a WebSocket has no body, and
		// hijacking clears the deadline).
		timeout := rt.cfg.Timeout
		if timeout == 0 {
			timeout = auth.DefaultRouteTimeout
		}
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	}
	if g.tracer != nil {
		// The upstream's parent is the gateway's span; off, the caller's
		// traceparent and tracestate pass unchanged.
		tracing.Inject(r.Context(), r.Header)
	}
	rt.proxy.ServeHTTP(w, r)
}

// admit decides whether r may pass, the one decision shared by the
// gateway and the decision API (decision.go): it cleans what no caller
// may send, matches the route, authenticates, applies the rate limits,
// counts usage, spends credits and sets the identity to forward on r's
// headers. It returns the route of a request that may pass; otherwise it
// has answered the refusal on w and returns nil.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, x *exchange) *route {
	h := r.Header
	methodOverride := stripInbound(h)
	// Declared trailers too: their values arrive after the body, and an
	// upstream that merges trailers into headers must not find ours there.
	if stripInbound(r.Trailer) {
		stripMethodOverride(r.Trailer, false)
	}
	stripGatehouseCookies(h)
	protectFromConnection(h)
	x.clientAddr, x.clientIP = g.clientIP(r)
	x.reqID = requestID(r)
	// One allocation for the three headers; each slice is capped at its
	// own element, so an Add to one cannot overwrite another.
	ids := []string{x.reqID, x.reqID, x.clientIP}
	h[HeaderRequestID] = ids[0:1:1]
	w.Header()[HeaderRequestID] = ids[1:2:2]
	h[headerRealIP] = ids[2:3:3]

	rt := g.route(w, r, x, methodOverride) // sets x.route
	if g.tracer != nil {
		nameSpan(r, x.route)
	}
	if rt == nil {
		return nil
	}
	stripNamed(h, rt.cfg.StripHeaders)

	now := g.now()
	if err := g.authenticate(r, rt, x); err != nil {
		g.countToken(x, tokenOutcome(err), now)
		g.refuse(w, x, err, rt.cfg.Scopes)
		return nil
	}
	if !g.rateLimit(r.Context(), w, x, now) {
		g.countToken(x, apikey.CodeRateLimited, now)
		if x.id.keyPending {
			// Refused here: the key spends no credits, and is counted as
			// rate limited, as a token would be.
			_, _ = g.cfg.Keys.Settle(r.Context(), x.id.keyReq, x.id.keyRes, apikey.CodeRateLimited)
		}
		return nil
	}
	g.countToken(x, apikey.CodeValid, now)
	if err := g.forwardIdentity(r, rt, &x.id, now); err != nil {
		g.log.ErrorContext(r.Context(), "gateway: internal token", slog.String("route", rt.name), slog.Any("err", err))
		// A pending key is left unsettled: nothing spent and, like a
		// token whose check could not finish, nothing counted.
		g.refuse(w, x, &verify.Error{Reason: verify.ReasonKeysUnavailable}, nil)
		x.reason = reasonUnavailable
		return nil
	}
	if x.id.keyPending {
		// Last, so that no refusal of the gateway's own spends credits.
		if err := g.settleKey(r, rt, &x.id); err != nil {
			g.refuse(w, x, err, rt.cfg.Scopes)
			return nil
		}
	}
	return rt
}

// route chooses the request's route, or answers the refusal and returns
// nil: a path refused by auth.CheckPath (400), no route (404), a method
// the path's route does not take (405, also when a method-override header
// names it), or a held route (503). With methodOverride, the request
// carries a method-override header, which the route removes or checks.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request, x *exchange, methodOverride bool) *route {
	x.route = g.none
	check := auth.CheckPath(r.URL.Path)
	if check == auth.PathBad {
		g.refuseProblem(w, x, kindBadPath, "The request path is not in canonical form.")
		return nil
	}
	t := g.table.Load()
	path := r.URL.Path
	if check == auth.PathParams {
		if !t.pathParams {
			g.refuseProblem(w, x, kindBadPath, detailPathParams)
			return nil
		}
		// Chosen as a servlet container will read the path.
		path = auth.WithoutParams(path)
	}
	host := hostOf(r)
	rt, allow := t.match(host, path, r.Method)
	if rt == nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			g.refuseProblem(w, x, kindMethodNotAllowed, "This method is not allowed here.")
			return nil
		}
		g.refuseProblem(w, x, kindNoRoute, "No route matches this request.")
		return nil
	}
	x.route = rt
	if rt.held {
		g.refuseProblem(w, x, kindRouteHeld, "This route is out of service until its configuration is mended.")
		return nil
	}
	if check == auth.PathParams && !rt.cfg.AllowPathParams {
		g.refuseProblem(w, x, kindBadPath, detailPathParams)
		return nil
	}
	if methodOverride {
		var methods []string
		if x.verbatim {
			// The proxy that asked forwards the request as it is, with
			// every method-override header the client wrote, whatever the
			// route says: the method each names must be one it takes.
			methods = overrideMethods(r.Header)
		} else {
			methods = stripMethodOverride(r.Header, rt.cfg.ForwardMethodOverride)
		}
		for _, m := range methods {
			// The method the upstream will run must be one this very
			// route takes for this path: not merely one of its methods,
			// since another route may own that method here.
			if other, _ := t.match(host, path, m); other != rt {
				allowed := r.Method
				if len(rt.cfg.Methods) > 0 {
					allowed = strings.Join(rt.cfg.Methods, ", ")
				}
				w.Header().Set("Allow", allowed)
				g.refuseProblem(w, x, kindMethodNotAllowed, "The method named by the method-override header is not allowed here.")
				return nil
			}
		}
	}
	x.id.sentPath, x.id.sentRawPath = r.URL.Path, r.URL.RawPath
	if rt.fold {
		r.URL.Path, r.URL.RawPath = canonicalPrefix(rt.cfg.PathPrefix, r.URL.Path, r.URL.RawPath)
	}
	if check == auth.PathParams && rt.fwd.strip != "" && !auth.MatchesPrefix(rt.cfg.PathPrefix, r.URL.Path, rt.fold) {
		// A parameter inside the prefix to strip ("/api;x/y"): what is
		// left would not start at a segment boundary.
		g.refuseProblem(w, x, kindBadPath, "Path parameters (';') are not accepted in the route's prefix.")
		return nil
	}
	return rt
}

// hostOf is the request's host, lower case, without port.
func hostOf(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// authenticate checks the credential rt's policy asks for and fills id.
// Errors are *verify.Error.
func (g *Gateway) authenticate(r *http.Request, rt *route, x *exchange) error {
	id := &x.id
	switch rt.cfg.Policy {
	case auth.PolicyPublic:
		return nil
	case auth.PolicyAPIKey:
		return g.authAPIKey(r, rt, x)
	case auth.PolicyJWT:
		return g.authJWT(r, rt, id)
	case auth.PolicyAny:
		if _, ok := r.Header[headerAPIKey]; ok {
			return g.authAPIKey(r, rt, x)
		}
		tok, _, ok := verify.AccessToken(r)
		switch {
		case ok && strings.Count(tok, ".") == 2:
			return g.authJWT(r, rt, id)
		case ok && looksLikeAPIKey(tok):
			return g.authAPIKey(r, rt, x)
		}
		return &verify.Error{Reason: verify.ReasonMissing}
	}
	// Normalize admits no other policy; fail closed all the same.
	return &verify.Error{Reason: verify.ReasonMalformed}
}

// authorizationCarriesKey reports whether one of the Authorization values
// holds a credential in the API key format, whatever its scheme and
// spacing.
func authorizationCarriesKey(vals []string) bool {
	for _, v := range vals {
		v = strings.Trim(v, " \t")
		if i := strings.IndexAny(v, " \t"); i >= 0 {
			v = strings.Trim(v[i:], " \t")
		}
		if looksLikeAPIKey(v) {
			return true
		}
	}
	return false
}

// looksLikeAPIKey reports whether s has the API key format (prefix, body
// and checksum), without any lookup.
func looksLikeAPIKey(s string) bool {
	_, err := apikey.Parse(s)
	return err == nil
}

func (g *Gateway) authAPIKey(r *http.Request, rt *route, x *exchange) error {
	id := &x.id
	key, ok := apikey.Extract(r)
	if !ok {
		if r.Header[headerAPIKey] == nil && r.Header["Authorization"] == nil {
			return &verify.Error{Reason: verify.ReasonMissing}
		}
		return &verify.Error{Reason: verify.ReasonMalformed}
	}
	id.keyInAuthz = r.Header[headerAPIKey] == nil
	if rt.cfg.RequireMFA {
		// An any route that requires a second factor: a key proves no
		// one's sign-in. Refused before any lookup, like a key of another
		// environment, so it spends nothing.
		return &verify.Error{Reason: verify.ReasonInsufficientUserAuthentication}
	}
	// The prefix names the key's environment (a stored key's prefix is the
	// presented one), so a key the route does not take is refused before
	// Verify: it must not spend the key's rate limit, nor count as a use.
	if env := rt.cfg.KeyEnvironment; env != "" {
		if prefix, err := apikey.Parse(key); err == nil && auth.KeyEnvironmentOf(prefix) != env {
			return &verify.Error{Reason: reasonKeyEnvironment}
		}
	}
	// The caller's address for keys restricted to networks: the one serve
	// worked out from the peer and trusted_proxies (clientIP); unknown (a
	// Unix socket) for such keys is refused.
	req := apikey.Request{Key: key, Scopes: rt.cfg.Scopes, Route: rt.name, IP: x.clientAddr}
	res, err := g.cfg.Keys.Authorize(r.Context(), req)
	if err != nil {
		g.log.ErrorContext(r.Context(), "gateway: API key verification failed", slog.String("route", rt.name), slog.Any("err", err))
		return &verify.Error{Reason: verify.ReasonKeysUnavailable}
	}
	if res.Code != apikey.CodeValid {
		// Refused already: counted now, nothing to spend.
		if res, err = g.cfg.Keys.Settle(r.Context(), req, res, ""); err != nil {
			g.log.ErrorContext(r.Context(), "gateway: API key verification failed", slog.String("route", rt.name), slog.Any("err", err))
			return &verify.Error{Reason: verify.ReasonKeysUnavailable}
		}
	}
	id.keyLimit = res.RateLimit
	if res.Key != nil {
		id.keyID = res.Key.ID
	}
	if err := keyRefusal(res.Code); err != nil {
		return err
	}
	id.keyReq, id.keyRes, id.keyPending = req, res, true
	id.auth = authAPIKey
	id.keyEnv = res.Key.Environment()
	id.subject = res.Key.Owner
	id.client = res.Key.Owner
	id.scopes = res.Key.Scopes
	return nil
}

// settleKey spends the credits of the key authAPIKey let through, and
// counts its outcome. Errors are *verify.Error.
func (g *Gateway) settleKey(r *http.Request, rt *route, id *identity) error {
	res, err := g.cfg.Keys.Settle(r.Context(), id.keyReq, id.keyRes, "")
	if err != nil {
		g.log.ErrorContext(r.Context(), "gateway: API key verification failed", slog.String("route", rt.name), slog.Any("err", err))
		return &verify.Error{Reason: verify.ReasonKeysUnavailable}
	}
	return keyRefusal(res.Code)
}

// keyRefusal is the refusal of a verification that did not pass; nil for
// CodeValid.
func keyRefusal(code apikey.Code) error {
	switch code {
	case apikey.CodeValid:
		return nil
	case apikey.CodeExpired:
		return &verify.Error{Reason: verify.ReasonExpired}
	case apikey.CodeRevoked:
		return &verify.Error{Reason: verify.ReasonRevoked}
	case apikey.CodeInsufficientScope:
		return &verify.Error{Reason: verify.ReasonInsufficientScope}
	case apikey.CodeRateLimited:
		return &verify.Error{Reason: verify.ReasonRateLimited}
	case apikey.CodeUsageExceeded:
		return &verify.Error{Reason: verify.ReasonUsageExceeded}
	case apikey.CodeIPNotAllowed:
		return &verify.Error{Reason: verify.ReasonIPNotAllowed}
	default:
		return &verify.Error{Reason: reasonInvalidKey}
	}
}

func (g *Gateway) authJWT(r *http.Request, rt *route, id *identity) error {
	if g.tracer != nil {
		return g.authJWTTraced(r, rt, id)
	}
	return g.checkJWT(r, rt, id)
}

// checkJWT is authJWT: it verifies the request's bearer JWT for rt.
func (g *Gateway) checkJWT(r *http.Request, rt *route, id *identity) error {
	tok, dpop, ok := verify.AccessToken(r)
	if !ok {
		if r.Header["Authorization"] == nil {
			return &verify.Error{Reason: verify.ReasonMissing}
		}
		return &verify.Error{Reason: verify.ReasonMalformed}
	}
	id.token = true
	v := rt.verifier
	if v == nil {
		v = g.own
	}
	c, err := v.Verify(r.Context(), tok)
	if err != nil {
		var ve *verify.Error
		if errors.As(err, &ve) {
			return ve
		}
		return &verify.Error{Reason: verify.ReasonMalformed}
	}
	id.tokenClient = c.ClientID
	if c.Subject != c.ClientID {
		// A client's own token (client credentials) has no user.
		id.tokenUser = c.Subject
	}
	if rt.verifier == nil && !g.revocationsFresh(r.Context()) {
		// The list may lack a revocation made through another node: fail
		// closed, as for keys whose store cannot be read.
		return &verify.Error{Reason: verify.ReasonKeysUnavailable}
	}
	if rt.verifier == nil && strings.HasPrefix(c.ID, internalJTIPrefix) {
		// An internal token minted for an upstream, replayed: it is meant
		// for that upstream, not for the gateway.
		return &verify.Error{Reason: verify.ReasonWrongType}
	}
	if err := g.checkDPoP(r, rt, tok, dpop, c, id); err != nil {
		return err
	}
	if rt.cfg.Audience != "" && !c.HasAudience(rt.cfg.Audience) {
		return &verify.Error{Reason: verify.ReasonWrongAudience}
	}
	if rt.cfg.RequireMFA {
		// verify's rule (amr holds "mfa" or acr is ACRMFA), answered with
		// RFC 9470's challenge; before the scopes, which a new sign-in may
		// bring as well.
		if err := c.CheckMFA(); err != nil {
			return err
		}
	}
	if !c.HasScopes(rt.cfg.Scopes) {
		return &verify.Error{Reason: verify.ReasonInsufficientScope}
	}
	if rt.verifier == nil && c.ClientID != "" && g.cfg.ClientActive != nil {
		active, err := g.cfg.ClientActive(r.Context(), c.ClientID)
		if err != nil {
			g.log.ErrorContext(r.Context(), "gateway: client check failed", slog.String("route", rt.name), slog.Any("err", err))
			return &verify.Error{Reason: verify.ReasonKeysUnavailable}
		}
		if !active {
			return &verify.Error{Reason: verify.ReasonRevoked}
		}
	}
	id.auth = authJWT
	id.subject = c.Subject
	id.client = c.ClientID
	id.scopes = c.Scopes
	id.act = c.Actor
	id.amr, id.acr = c.AMR, c.ACR
	return nil
}

// countToken counts the verification of the request's bearer JWT, if it
// had one, under its client, user and route. API keys are counted by
// apikey.Service.Check.
func (g *Gateway) countToken(x *exchange, code apikey.Code, now time.Time) {
	if !x.id.token || code == "" {
		return
	}
	g.cfg.Usage.Count(usage.Event{
		ClientID: x.id.tokenClient,
		UserID:   x.id.tokenUser,
		Route:    x.route.name,
		Outcome:  string(code),
	}, now)
}

// tokenOutcome is the verification code a JWT refusal is counted under,
// the API keys' vocabulary: "" for a refusal that is no verdict on the
// token (the keys or the revocation list unavailable).
func tokenOutcome(err error) apikey.Code {
	switch verify.ReasonOf(err) {
	case verify.ReasonExpired:
		return apikey.CodeExpired
	case verify.ReasonRevoked:
		return apikey.CodeRevoked
	case verify.ReasonInsufficientScope:
		return apikey.CodeInsufficientScope
	case verify.ReasonRateLimited:
		return apikey.CodeRateLimited
	case verify.ReasonKeysUnavailable:
		return ""
	}
	return apikey.CodeInvalid
}

// revocationsFresh reports whether the revocation list may be trusted,
// logging when that changes (not at every request of an outage).
func (g *Gateway) revocationsFresh(ctx context.Context) bool {
	if g.cfg.RevocationsFresh == nil {
		return true
	}
	fresh := g.cfg.RevocationsFresh()
	if g.revocationsStale.CompareAndSwap(fresh, !fresh) {
		if fresh {
			g.log.InfoContext(ctx, "gateway: the revocation list is fresh again; accepting Gatehouse tokens")
		} else {
			g.log.WarnContext(ctx, "gateway: the revocation list is stale (its store cannot be read); refusing Gatehouse tokens with 503")
		}
	}
	return fresh
}

// refuse answers with verify's refusal for err, the same body and
// WWW-Authenticate a service using the verify package would send.
func (g *Gateway) refuse(w http.ResponseWriter, x *exchange, err error, scopes []string) {
	reason := verify.ReasonOf(err)
	if reason == "" {
		reason = verify.ReasonMalformed
	}
	x.reason = string(reason)
	if reason == reasonKeyEnvironment && x.route != nil {
		// Not a bad credential, nor one short of a scope: say which
		// environment the route takes, so the caller knows which key to use.
		problem.Write(w, kindKeyEnvironment.With("This route accepts only "+x.route.cfg.KeyEnvironment+" API keys."))
		return
	}
	if reason == verify.ReasonRateLimited {
		ratelimit.SetHeaders(w.Header(), x.id.keyLimit.Limit, x.id.keyLimit.Remaining, x.id.keyLimit.Reset)
		writeRateLimited(w, x.id.keyLimit.RetryAfter)
		return
	}
	if x.id.dpop {
		g.writeDPoPRefusal(w, err, scopes)
		return
	}
	verify.WriteError(w, Realm, err, scopes)
}

// writeRateLimited answers 429 as every refusal is answered, with the
// bucket's Retry-After.
func writeRateLimited(w http.ResponseWriter, retryAfter time.Duration) {
	verify.WriteError(w, Realm, &verify.Error{Reason: verify.ReasonRateLimited, RetryAfter: retryAfter}, nil)
}

// The gateway's own refusals, the ones not about credentials (those are
// verify's table, answered by refuse): one problem kind each, named as the
// reason the metrics and logs record. docs/problems.md documents them.
var (
	kindBadPath          = problem.Kind{Name: reasonBadPath, Status: http.StatusBadRequest, Title: "Bad request"}
	kindMethodNotAllowed = problem.MethodNotAllowed()
	kindNoRoute          = problem.Kind{Name: reasonNoRoute, Status: http.StatusNotFound, Title: "Not found"}
	kindRouteHeld        = problem.Kind{Name: reasonRouteHeld, Status: http.StatusServiceUnavailable, Title: "Service unavailable"}
	// An API key of another environment than the route requires: not a
	// bad credential, nor one short of a scope.
	kindKeyEnvironment = problem.Kind{Name: string(reasonKeyEnvironment), Status: http.StatusForbidden, Title: "Forbidden"}
)

// Problems lists the kinds of problem the gateway answers with itself, for
// the documentation's test; credential refusals add verify.Problems, and
// the proxy's failures proxy.Problems.
func Problems() []problem.Kind {
	return []problem.Kind{kindBadPath, kindMethodNotAllowed, kindNoRoute, kindRouteHeld, kindKeyEnvironment,
		kindUntrustedCaller, kindNoOriginal}
}

// refuseProblem answers a refusal that is not about credentials (no route,
// wrong method) with the problem of kind, recording its name as the reason.
func (g *Gateway) refuseProblem(w http.ResponseWriter, x *exchange, kind problem.Kind, detail string) {
	x.reason = kind.Name
	problem.Write(w, kind.With(detail))
}

// rateLimit applies the route's limits, after authentication so that the
// per-client limit knows the client. It reports whether the request may go
// on; if not, it has answered 429. Passing requests get the RateLimit-*
// headers of the tightest limit applied.
func (g *Gateway) rateLimit(ctx context.Context, w http.ResponseWriter, x *exchange, now time.Time) bool {
	rt := x.route
	var tight ratelimit.Decision
	have := false
	consider := func(d ratelimit.Decision) {
		if d.Limit <= 0 {
			return
		}
		if !have || d.Remaining < tight.Remaining || (d.Remaining == tight.Remaining && d.Limit < tight.Limit) {
			tight, have = d, true
		}
	}
	if l := x.id.keyLimit; l.Limit > 0 {
		consider(ratelimit.Decision{Allowed: true, Limit: l.Limit, Remaining: l.Remaining, Reset: l.Reset})
	}
	check := func(key string, l auth.RateLimit) bool {
		if l.Unlimited() {
			return true
		}
		d, err := g.limiter.Allow(ctx, key, l, now)
		if err != nil {
			// The caller went away, or a shared limiter failed without a
			// fallback: this node's own bucket decides.
			d = g.limits.Allow(key, l, now)
		}
		if !d.Allowed {
			h := w.Header()
			ratelimit.SetHeaders(h, d.Limit, d.Remaining, d.Reset)
			x.reason = string(verify.ReasonRateLimited)
			writeRateLimited(w, d.RetryAfter)
			return false
		}
		consider(d)
		return true
	}
	if !check(rt.limitKey, rt.cfg.RateLimit) {
		return false
	}
	if !rt.cfg.ClientRateLimit.Unlimited() {
		key := rt.clientPfx + x.id.client
		switch {
		case x.id.auth == authJWT && rt.verifier != nil:
			// Another provider's subjects are its own namespace: a partner
			// user whose sub is a key owner's name must not spend that
			// owner's allowance (nor the reverse). NUL cannot start an
			// owner or a subject of ours.
			key = rt.clientPfx + "\x00ext\x00" + x.id.subject
		case x.id.auth == authJWT:
			key = rt.clientPfx + x.id.subject
		case x.id.auth == "":
			key = rt.clientPfx + x.clientIP
		}
		if !check(key, rt.cfg.ClientRateLimit) {
			return false
		}
	}
	if have {
		ratelimit.SetHeaders(w.Header(), tight.Limit, tight.Remaining, tight.Reset)
	}
	return true
}

// forwardIdentity sets the X-Gatehouse-* headers, removes the API key, and
// for InternalJWT routes replaces Authorization by an internal token.
func (g *Gateway) forwardIdentity(r *http.Request, rt *route, id *identity, now time.Time) error {
	h := r.Header
	delete(h, headerAPIKey)
	// The key itself, or another one beside X-API-Key, on any policy and
	// in any Authorization value (there may be several, in any spelling
	// of the scheme): none may reach the upstream.
	if id.keyInAuthz || authorizationCarriesKey(h["Authorization"]) {
		delete(h, "Authorization")
	}
	if id.auth == "" {
		return nil
	}
	// The values share one allocation, each slice capped at its element.
	v := []string{id.auth, id.subject, id.client, "", id.keyID, id.keyEnv}
	h[HeaderAuth] = v[0:1:1]
	if id.subject != "" {
		h[HeaderSubject] = v[1:2:2]
	}
	if id.client != "" {
		h[HeaderClient] = v[2:3:3]
	}
	if len(id.scopes) > 0 {
		v[3] = strings.Join(id.scopes, " ")
		h[HeaderScopes] = v[3:4:4]
	}
	if id.keyID != "" {
		h[HeaderKeyID] = v[4:5:5]
	}
	if id.keyEnv != "" {
		h[HeaderKeyEnvironment] = v[5:6:6]
	}
	if rt.cfg.InternalJWT {
		tok, err := g.internalToken(rt, id, now)
		if err != nil {
			return err
		}
		h["Authorization"] = []string{"Bearer " + tok}
	}
	return nil
}

// onUpstreamError counts and logs a failure to reach an upstream.
func (g *Gateway) onUpstreamError(name string, m *routeMetrics) func(*http.Request, string, proxy.ErrorKind, error) {
	return func(r *http.Request, upstream string, kind proxy.ErrorKind, err error) {
		m.upstreamError(string(kind))
		g.log.WarnContext(r.Context(), "gateway: upstream error",
			slog.String("route", name), slog.String("upstream", upstream),
			slog.String("kind", string(kind)), slog.Any("err", err))
	}
}

// finish records the request in the metrics and the access log.
func (x *exchange) finish(g *Gateway, r *http.Request, start time.Time) {
	rt := x.route
	if rt == nil {
		rt = g.none
	}
	status := x.rec.status
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	elapsed := time.Since(start)
	rt.m.request(status, elapsed.Seconds())
	if x.reason != "" {
		rt.m.refusal(x.reason)
	}
	if !g.cfg.AccessLog && x.reason == "" {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("request_id", x.reqID),
		slog.String("route", rt.name),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.String("client_ip", x.clientIP),
	)
	if x.id.auth != "" {
		attrs = append(attrs, slog.String("auth", x.id.auth))
	}
	if x.id.keyID != "" {
		attrs = append(attrs, slog.String("key_id", x.id.keyID))
	} else if x.id.subject != "" {
		attrs = append(attrs, slog.String("subject", x.id.subject))
	}
	if x.reason != "" {
		attrs = append(attrs, slog.String("reason", x.reason))
	}
	level := slog.LevelInfo
	if !g.cfg.AccessLog {
		// Without an access log, refusals are still worth a debug line.
		level = slog.LevelDebug
	}
	msg := "gateway request"
	if x.decision {
		msg = "gateway decision"
	}
	g.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// recorder remembers the status a response was given. It unwraps, so
// http.ResponseController reaches the real writer for Flush (streams) and
// Hijack (WebSocket upgrades), which the proxy needs.
//
// It also keeps Gatehouse's own cookies out of interim (1xx) responses,
// which the proxy writes through it; final responses, 101 included, are
// filtered as they come from the upstream (setCookieGuard).
type recorder struct {
	http.ResponseWriter
	status int
}

func (rec *recorder) WriteHeader(code int) {
	if code < http.StatusOK && code != http.StatusSwitchingProtocols {
		// The proxy copies an upstream's interim headers here; final
		// ones were filtered on arrival.
		stripGatehouseSetCookies(rec.Header())
	}
	// 1xx are interim (except 101, which ends the exchange).
	if rec.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.ResponseWriter.Write(b)
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// Hijack is how the proxy takes over an upgraded connection: it writes
// the upstream's 101 on the raw connection, never through WriteHeader, so
// the status is recorded here.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err == nil && rec.status == 0 {
		rec.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

// Flush is forwarded for handlers that type-assert http.Flusher rather
// than use http.ResponseController.
func (rec *recorder) Flush() {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	_ = http.NewResponseController(rec.ResponseWriter).Flush()
}
