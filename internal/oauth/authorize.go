package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Limits on an authorization request, so that one cannot make us parse,
// store in a form or sign megabytes.
const (
	maxAuthorizeRequest = 8 << 10 // bytes of query or body
	maxStateLength      = 2048
	maxNonceLength      = 512
	pkceChallengeLength = 43 // base64url of a SHA-256 digest, RFC 7636 4.2
)

// authorizeParams are the parameters the authorization endpoint reads
// (RFC 6749 4.1.1, RFC 7636 4.3, RFC 8707 2, OIDC Core 3.1.2.1). Others are
// ignored (RFC 6749 3.1) and not carried to the login and consent steps.
var authorizeParams = []string{
	"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state",
	"code_challenge", "code_challenge_method", "nonce", "prompt", "max_age", "resource",
	"request", "request_uri", "claims", "acr_values", "dpop_jkt",
}

// authzRequest is a validated authorization request.
type authzRequest struct {
	params      url.Values // the recognised parameters, as received
	client      *auth.Client
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	audiences   []string
	prompt      map[string]bool
	maxAge      int    // seconds; -1 when absent
	requestURI  string // of a pushed request (par.go); "" for none

	idTokenClaims []string // the claims parameter's, for the ID token (prompt.go)
	wantsMFA      bool     // acr_values or claims ask for auth.ACRMFA (mfa.go)
	dpopJKT       string   // RFC 9449 10: the DPoP key the code is bound to
}

// encode is the canonical form of the request that travels through the
// login and consent forms and is bound into their CSRF tokens. A pushed
// request travels as its client_id and request_uri alone (par.go).
func (q *authzRequest) encode() string {
	if q.requestURI != "" {
		return url.Values{"client_id": {q.client.ID}, "request_uri": {q.requestURI}}.Encode()
	}
	return q.params.Encode()
}

// redirectOrigin is the CSP source of the redirect URI: the form of a
// login or consent page may end in a redirect there, and browsers apply
// form-action to such redirects.
func (q *authzRequest) redirectOrigin() string { return cspOrigin(q.redirectURI) }

func cspOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

// parseAuthorizeValues parses a query string or form body of an
// authorization request, dropping empty values (RFC 6749 3.1: a parameter
// without a value counts as omitted) and keeping only the recognised
// parameters. Repeated parameters are kept, for parseAuthorize to refuse.
func parseAuthorizeValues(raw string) (url.Values, error) {
	if len(raw) > maxAuthorizeRequest {
		return nil, errInvalidRequest("The authorization request is too large.")
	}
	all, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errInvalidRequest("The authorization request is not a valid query string.")
	}
	q := url.Values{}
	for _, name := range authorizeParams {
		for _, v := range all[name] {
			if v != "" {
				q[name] = append(q[name], v)
			}
		}
	}
	return q, nil
}

// parseAuthorize validates an authorization request. The client and its
// redirect URI are checked first; while either is in doubt the returned
// request is nil and the error must be shown to the user, never
// redirected (RFC 6749 4.1.2.1, RFC 9700 4.11). After that, a non-nil
// error goes back to the request's redirect URI. A pushed request or a
// request object stands in for the parameters (expandRequest, par.go).
func (s *Server) parseAuthorize(ctx context.Context, q url.Values) (*authzRequest, error) {
	if len(q["client_id"]) != 1 {
		return nil, errInvalidRequest("The request must have exactly one client_id.")
	}
	c, err := s.clients.Lookup(ctx, q.Get("client_id"))
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, errInvalidRequest("The client_id is not a registered client.")
		}
		return nil, err
	}
	q, requestURI, err := s.expandRequest(ctx, c, q)
	if err != nil {
		return nil, err
	}
	// The response mode is the pushed request's or the request object's,
	// like every other parameter.
	noteResponseMode(ctx, q)
	return s.parseClientRequest(c, q, requestURI)
}

// parseClientRequest is parseAuthorize once the client is known and the
// parameters are the ones that count: the redirect URI, then validate.
// The pushed authorization request endpoint (par.go) validates with it.
func (s *Server) parseClientRequest(c *auth.Client, q url.Values, requestURI string) (*authzRequest, error) {
	if len(q["redirect_uri"]) != 1 {
		// Required even when the client has one redirect URI: OIDC Core
		// 3.1.2.1 requires it, and it pins the URI the token request must
		// repeat.
		return nil, errInvalidRequest("The request must have exactly one redirect_uri.")
	}
	redirectURI := q.Get("redirect_uri")
	if !MatchRedirectURI(c, redirectURI) {
		return nil, errInvalidRequest("The redirect_uri is not registered for this client.")
	}
	req := &authzRequest{params: q, client: c, redirectURI: redirectURI, maxAge: -1, requestURI: requestURI}
	if len(q["state"]) == 1 {
		req.state = q.Get("state")
	}
	return req, req.validate(s)
}

// validate checks everything after the client and redirect URI, in the
// order of the specifications' error precedence.
func (q *authzRequest) validate(s *Server) error {
	p := q.params
	for name, vs := range p {
		if len(vs) > 1 && name != "resource" {
			return errInvalidRequest("The parameter %q appears more than once.", name)
		}
	}
	if len(q.state) > maxStateLength {
		q.state = ""
		return errInvalidRequest("The state is longer than %d bytes.", maxStateLength)
	}
	if m := p.Get("response_mode"); m != "" && m != "query" && m != responseModeFormPost {
		return errInvalidRequest("The response_mode must be query or form_post.")
	}
	if p.Get("response_mode") == responseModeFormPost && !formPostTarget(q.redirectURI) {
		return errInvalidRequest("The response_mode form_post needs an http or https redirect_uri; use the query response mode.")
	}
	switch rt := p.Get("response_type"); rt {
	case "":
		return errInvalidRequest("The response_type is missing.")
	case "code":
	default:
		// No implicit or hybrid flow (OAuth 2.1, RFC 9700 2.1.2).
		return errUnsupportedResponseType("Only the response_type code is supported.")
	}
	if !slices.Contains(q.client.GrantTypes, auth.GrantAuthorizationCode) {
		return errUnauthorizedClient("The client may not use the authorization code grant.")
	}
	// PKCE for every client (OAuth 2.1 4.1.1, RFC 9700 2.1.1), S256 only:
	// a missing method means plain (RFC 7636 4.3), which is refused.
	q.challenge = p.Get("code_challenge")
	if q.challenge == "" {
		return errInvalidRequest("The code_challenge is required (PKCE).")
	}
	if p.Get("code_challenge_method") != "S256" {
		return errInvalidRequest("The code_challenge_method must be S256.")
	}
	if !validChallenge(q.challenge) {
		return errInvalidRequest("The code_challenge must be 43 characters of base64url.")
	}
	var err error
	if q.scopes, err = s.grantScopes(q.client, p.Get("scope")); err != nil {
		return err
	}
	if q.audiences, err = s.resolveAudiences(q.client, p["resource"]); err != nil {
		return err
	}
	if q.dpopJKT, err = parseDPoPJKT(p); err != nil {
		return err
	}
	q.nonce = p.Get("nonce")
	if len(q.nonce) > maxNonceLength {
		return errInvalidRequest("The nonce is longer than %d bytes.", maxNonceLength)
	}
	// The nonce is stored with the code and must come back unchanged in
	// the ID token's JSON: NUL is refused by the stores and invalid UTF-8
	// would be replaced when encoded.
	if !utf8.ValidString(q.nonce) || strings.ContainsFunc(q.nonce, unicode.IsControl) {
		return errInvalidRequest("The nonce must be UTF-8 text without control characters.")
	}
	if q.prompt, err = parsePrompt(p.Get("prompt")); err != nil {
		return err
	}
	if v := p.Get("max_age"); v != "" {
		n, ok := parseDigits(v)
		if !ok {
			return errInvalidRequest("The max_age must be a number of seconds.")
		}
		q.maxAge = n
	}
	return q.applyOIDCRequest()
}

// parsePrompt reads the OIDC prompt parameter: none, login, consent and
// select_account, space-separated; none with anything else is an error
// (OIDC Core 3.1.2.1). select_account asks nothing more of us: a browser
// holds one session.
func parsePrompt(v string) (map[string]bool, error) {
	out := map[string]bool{}
	if v == "" {
		return out, nil
	}
	for _, p := range strings.Split(v, " ") {
		switch p {
		case "none", "login", "consent", "select_account":
			out[p] = true
		default:
			return nil, errInvalidRequest("The prompt value is not supported.")
		}
	}
	if out["none"] && len(out) > 1 {
		return nil, errInvalidRequest("The prompt none cannot be combined with other values.")
	}
	return out, nil
}

// parseDigits reads a non-negative decimal of at most 9 digits.
func parseDigits(v string) (int, bool) {
	if v == "" || len(v) > 9 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

func validChallenge(c string) bool {
	if len(c) != pkceChallengeLength {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// readAuthorizeRequest returns the raw parameters of a GET (the query) or a
// POST (the form body, OIDC Core 3.1.2.1) to the authorization endpoint.
func readAuthorizeRequest(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return parseAuthorizeValues(r.URL.RawQuery)
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, errInvalidRequest("The Content-Type must be application/x-www-form-urlencoded.")
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAuthorizeRequest+1))
		if err != nil || len(body) > maxAuthorizeRequest {
			return nil, errInvalidRequest("The authorization request is too large.")
		}
		return parseAuthorizeValues(string(body))
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	e := errInvalidRequest("The authorization endpoint accepts GET and POST.")
	e.Status = http.StatusMethodNotAllowed
	return nil, e
}

// handleAuthorize is the authorization endpoint (RFC 6749 4.1.1, OIDC Core
// 3.1.2). A valid request from a browser with a fresh enough session goes
// to consent (or straight to the code if consent is remembered); without
// one, to the login page, carrying the request in its URL.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	raw, err := readAuthorizeRequest(w, r)
	if err == nil {
		err = s.startPushedRequest(ctx, raw) // RFC 9126 4: one use of a request_uri (par.go)
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	req, err := s.parseAuthorize(ctx, raw)
	if req == nil {
		s.errorPage(w, r, err)
		return
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	if s.needsLogin(req, sess) {
		if req.prompt["none"] {
			s.redirectError(w, r, req.redirectURI, req.state, errLoginRequired("The user is not signed in."))
			return
		}
		web.SetHeaders(w.Header(), nil)
		http.Redirect(w, r, s.url(PathLogin)+"?"+req.encode(), http.StatusSeeOther)
		return
	}
	if req.prompt["select_account"] {
		// The login page offers the current account or another (login.go).
		web.SetHeaders(w.Header(), nil)
		http.Redirect(w, r, s.url(PathLogin)+"?"+req.encode(), http.StatusSeeOther)
		return
	}
	s.proceed(w, r, req, sess)
}

// needsLogin reports whether the user must sign in (again) before this
// request can go on: no session, prompt=login, or a sign-in older than
// max_age (OIDC Core 3.1.2.1).
func (s *Server) needsLogin(req *authzRequest, sess *browserSession) bool {
	if sess == nil || req.prompt["login"] {
		return true
	}
	return req.maxAge >= 0 && s.now().Sub(sess.AuthTime) > time.Duration(req.maxAge)*time.Second
}

// proceed continues an authorization request for a signed-in user: a
// step-up first when the request needs a second factor the session lacks
// (login_factor.go); then the code at once for a first-party client, or
// when a remembered consent covers every requested scope (unless
// prompt=consent), else the consent page.
func (s *Server) proceed(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *browserSession) {
	ctx := r.Context()
	if !s.stepUp(w, r, &signInNext{flow: flowAuthorize, req: req}, sess) {
		return
	}
	if s.firstParty[req.client.ID] {
		// Even prompt=consent: there is no third party to consent to.
		s.issueCode(w, r, req, sess)
		return
	}
	if !req.prompt["consent"] {
		covered, err := s.consentCovers(ctx, sess.user.ID, req.client.ID, req.scopes)
		if err != nil {
			s.redirectError(w, r, req.redirectURI, req.state, err)
			return
		}
		if covered {
			s.issueCode(w, r, req, sess)
			return
		}
	}
	if req.prompt["none"] {
		s.redirectError(w, r, req.redirectURI, req.state, errConsentRequired("The user has not allowed this client these scopes."))
		return
	}
	s.renderConsent(w, req, sess)
}

// issueCode creates an authorization code for the request and sends the
// browser back to the client with it (RFC 6749 4.1.2), the state, and the
// issuer (RFC 9207).
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, sess *browserSession) {
	ctx := r.Context()
	if s.mfaRequired(req) && !auth.HasMFA(sess.AMR) {
		// Every path here went through proceed's step-up; a form that
		// did not (a consent form kept from before the policy changed)
		// gets no code.
		s.errorPage(w, r, forbidden("This application needs a second factor. Please start again from the application."))
		return
	}
	if err := s.consumePushedRequest(ctx, req); err != nil { // one code per request_uri (par.go)
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	code, hash, err := s.hasher.New(PrefixAuthCode)
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	family, err := newFamilyID()
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	now := s.now()
	ac := &auth.AuthCode{
		Hash:          hash,
		ClientID:      req.client.ID,
		UserID:        sess.user.ID,
		RedirectURI:   req.redirectURI,
		Scopes:        req.scopes,
		Audiences:     req.audiences,
		CodeChallenge: req.challenge,
		Nonce:         req.nonce,
		AuthTime:      sess.AuthTime,
		SessionID:     sid(sess.Hash),
		FamilyID:      family,
		IDTokenClaims: req.idTokenClaims,
		ACR:           acrOf(sess.AMR),
		AMR:           sess.AMR,
		DPoPJKT:       req.dpopJKT,
		CreatedAt:     now,
		ExpiresAt:     now.Add(s.cfg.AuthCodeTTL),
	}
	if err := s.recordSessionClient(ctx, sess, req.client.ID); err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	if err := s.store.CreateAuthCode(ctx, ac); err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, fmt.Errorf("oauth: store code: %w", err))
		return
	}
	resp := url.Values{"code": {code}, "iss": {s.issuer}}
	if req.state != "" {
		resp.Set("state", req.state)
	}
	s.sendAuthzResponse(w, r, req.redirectURI, resp)
}

// appendQuery adds params to uri, keeping its own query as it is (RFC 6749
// 3.1.2: the query component of a redirect URI must be retained).
func appendQuery(uri string, params url.Values) string {
	base, _, _ := strings.Cut(uri, "#") // a redirect URI has no fragment (RFC 6749 3.1.2)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return base + sep + params.Encode()
}

// errorPage shows an error that must not go to a redirect URI. Server
// faults get a generic message; their cause is logged.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	s.logError(r, e)
	title, msg := "Invalid request", e.Description
	switch e.Code {
	case CodeServerError:
		title, msg = "Something went wrong", "The server could not complete the request. Please try again later."
	case CodeTemporarilyUnavailable:
		title, msg = "Temporarily unavailable", "The server is temporarily unavailable. Please try again later."
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	web.RenderError(w, status, web.ErrorPage{Stylesheet: s.url(PathStylesheet), Title: title, Message: msg})
}

// requestFromForm rebuilds the pending authorization request carried by a
// login or consent form.
func (s *Server) requestFromForm(ctx context.Context, encoded string) (*authzRequest, error) {
	raw, err := parseAuthorizeValues(encoded)
	if err != nil {
		return nil, err
	}
	req, err := s.parseAuthorize(ctx, raw)
	if req == nil && err == nil {
		err = errors.New("oauth: no request")
	}
	return req, err
}
