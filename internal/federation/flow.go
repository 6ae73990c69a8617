package federation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Purposes of an upstream flow.
const (
	PurposeLogin = "login" // sign in, then continue the authorization request
	PurposeLink  = "link"  // link the upstream identity to the signed-in user
)

// Pending is what a flow carries from its start to its callback, besides
// the protocol values: why it was started and where it goes on.
type Pending struct {
	Purpose string `json:"purpose"`
	// Request is the encoded authorization request a login continues.
	Request string `json:"request,omitempty"`
	// Session is the binding of the session a link flow was started in
	// (the hex of its hash); UserID its user.
	Session string `json:"session,omitempty"`
	UserID  string `json:"user_id,omitempty"`
	// Return is the same-server path a link flow returns to.
	Return string `json:"return,omitempty"`
}

// maxPendingRequest bounds the authorization request the flow cookie
// carries (a browser keeps about 4 KiB per cookie).
const maxPendingRequest = 2500

// flowState is the content of the flow cookie, sealed (encrypted and
// authenticated) with the service's sealer.
type flowState struct {
	Provider string  `json:"p"`
	State    string  `json:"s"`
	Nonce    string  `json:"n"`
	Verifier string  `json:"v"` // the PKCE code verifier (RFC 7636 4.1)
	Expires  int64   `json:"x"` // unix seconds
	Pending  Pending `json:"w"`
}

// flowKID is the additional data of the sealed flow cookie: its own
// purpose, so a sealed client secret never opens as a cookie.
const flowKID = "federation-flow"

// Cookie names of the pending flow.
const (
	cookieName         = "__Host-gatehouse-federation"
	cookieNameInsecure = "gatehouse-federation"
)

func (s *Service) cookieName() string {
	if s.cfg.InsecureCookies {
		return cookieNameInsecure
	}
	return cookieName
}

// cookie has the attributes of every Gatehouse cookie; SameSite=Lax so
// that the upstream's top-level redirect to the callback carries it.
func (s *Service) cookie(value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name: s.cookieName(), Value: value, Path: "/", HttpOnly: true,
		Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// randomValue is 256 bits from crypto/rand, base64url: state, nonce and
// code verifier (43 characters, RFC 7636 4.1).
func randomValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Start begins a sign-in at the enabled provider name: it sets the sealed
// flow cookie (state, nonce, PKCE verifier and p) on w and returns the
// upstream authorization URL to send the browser to. ENOTFOUND for an
// unknown or disabled provider.
func (s *Service) Start(ctx context.Context, w http.ResponseWriter, name string, p Pending) (string, error) {
	prov, err := s.enabled(ctx, name)
	if err != nil {
		return "", err
	}
	if len(p.Request) > maxPendingRequest {
		return "", auth.Errorf(auth.EINVALID, "The authorization request is too large to go through a provider; push it first (PAR).")
	}
	m, err := s.endpoints(ctx, prov)
	if err != nil {
		return "", err
	}
	st := flowState{
		Provider: name, State: randomValue(), Nonce: randomValue(), Verifier: randomValue(),
		Expires: s.now().Add(s.cfg.FlowTTL).Unix(), Pending: p,
	}
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	sealed := base64.RawURLEncoding.EncodeToString(s.cfg.Sealer.Seal(flowKID, plain))
	http.SetCookie(w, s.cookie(sealed, s.cfg.FlowTTL))

	u, err := url.Parse(m.AuthorizationEndpoint)
	if err != nil {
		return "", refused(ReasonUnavailable, "authorization endpoint: "+err.Error())
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", prov.ClientID)
	q.Set("redirect_uri", s.RedirectURI(name))
	if len(prov.Scopes) > 0 {
		q.Set("scope", strings.Join(prov.Scopes, " "))
	}
	q.Set("state", st.State)
	sum := sha256.Sum256([]byte(st.Verifier))
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	if prov.Kind == auth.ProviderOIDC {
		q.Set("nonce", st.Nonce)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Result is a finished upstream sign-in.
type Result struct {
	Provider *auth.Provider
	Identity *Identity
	Pending  Pending
}

// maxCallbackValue bounds the parameters a callback may carry.
const maxCallbackValue = 4096

// CallbackParams are the parameters of an authorization response
// (RFC 6749 4.1.2 and 4.1.2.1, RFC 9207 2).
type CallbackParams struct {
	Code, State, Iss, Error string
}

// ParseCallback reads the authorization response from a callback's query:
// each parameter at most once and at most maxCallbackValue bytes.
func ParseCallback(rawQuery string) (CallbackParams, error) {
	if len(rawQuery) > 4*maxCallbackValue {
		return CallbackParams{}, refused(ReasonInvalidIdentity, "the callback query is too long")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return CallbackParams{}, refused(ReasonInvalidIdentity, "the callback query is malformed")
	}
	var out CallbackParams
	for name, dst := range map[string]*string{"code": &out.Code, "state": &out.State, "iss": &out.Iss, "error": &out.Error} {
		vs := q[name]
		if len(vs) > 1 {
			return CallbackParams{}, refused(ReasonInvalidIdentity, "a callback parameter appears twice")
		}
		if len(vs) == 1 {
			if len(vs[0]) > maxCallbackValue {
				return CallbackParams{}, refused(ReasonInvalidIdentity, "a callback parameter is too long")
			}
			*dst = vs[0]
		}
	}
	return out, nil
}

// Finish completes the sign-in that the request's flow cookie belongs to,
// at the callback of provider name: it drops the cookie (a flow is
// finished once), checks state and the RFC 9207 iss, exchanges the code
// with the PKCE verifier, and reads the identity (a verified ID token, or
// the userinfo document). The error is an *Error for a refused sign-in.
func (s *Service) Finish(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) (*Result, error) {
	http.SetCookie(w, s.cookie("", 0))
	st, err := s.readFlow(r)
	if err != nil {
		return nil, err
	}
	if st.Provider != name {
		return nil, refused(ReasonStateMismatch, "the flow was started for another provider")
	}
	params, err := ParseCallback(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	prov, err := s.enabled(ctx, name)
	if err != nil {
		return nil, refused(ReasonProviderChanged, "the provider is gone or disabled")
	}
	// state first: a response that is not ours says nothing we act on.
	if params.State == "" || subtle.ConstantTimeCompare([]byte(params.State), []byte(st.State)) != 1 {
		return nil, refused(ReasonStateMismatch, "state does not match the flow")
	}
	m, err := s.endpoints(ctx, prov)
	if err != nil {
		return nil, err
	}
	// RFC 9207 2.4: an iss that is not the provider's is a mix-up; a
	// provider that promises iss must send it.
	if params.Iss != "" && params.Iss != m.Issuer {
		return nil, refused(ReasonIssuerMismatch, "the iss parameter names another issuer")
	}
	if params.Iss == "" && m.IssParameterSupported {
		return nil, refused(ReasonIssuerMismatch, "the provider promises an iss parameter, and none came")
	}
	if params.Error != "" {
		e := refused(ReasonUpstreamError, "the provider answered "+safeCode(params.Error))
		if params.Error == "access_denied" {
			e.Message = "The sign-in was cancelled at the provider."
		}
		return nil, e
	}
	if params.Code == "" {
		return nil, refused(ReasonExchangeFailed, "no code")
	}
	tok, err := s.exchange(ctx, prov, m, params.Code, st.Verifier)
	if err != nil {
		return nil, err
	}
	var id *Identity
	if prov.Kind == auth.ProviderOIDC {
		id, err = s.oidcIdentity(ctx, prov, m, tok, st.Nonce)
	} else {
		id, err = s.oauth2Identity(ctx, prov, m, tok)
	}
	if err != nil {
		return nil, err
	}
	return &Result{Provider: prov, Identity: id, Pending: st.Pending}, nil
}

// readFlow opens the request's flow cookie and checks its expiry.
func (s *Service) readFlow(r *http.Request) (*flowState, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 8192 {
		return nil, refused(ReasonNoPending, "no flow cookie")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, refused(ReasonNoPending, "the flow cookie is malformed")
	}
	plain, err := s.cfg.Sealer.Open(flowKID, sealed)
	if err != nil {
		return nil, refused(ReasonNoPending, "the flow cookie does not open")
	}
	var st flowState
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, refused(ReasonNoPending, "the flow cookie is malformed")
	}
	if s.now().Unix() >= st.Expires {
		e := refused(ReasonExpired, "the flow expired")
		e.Message = "The sign-in took too long. Please try again."
		return nil, e
	}
	return &st, nil
}

// safeCode keeps an upstream error code printable and short for the log.
func safeCode(c string) string {
	if len(c) > 64 {
		c = c[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, c)
}

// tokenResponse is the token endpoint's answer (RFC 6749 5.1).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	IDToken     string `json:"id_token"`
	Error       string `json:"error"`
}

// exchange redeems the code at the token endpoint (RFC 6749 4.1.3) with
// the PKCE verifier, authenticating as the provider's AuthMethod says.
func (s *Service) exchange(ctx context.Context, p *auth.Provider, m *metadata, code, verifier string) (*tokenResponse, error) {
	secret, err := s.clientSecret(p)
	if err != nil {
		return nil, refused(ReasonExchangeFailed, err.Error())
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {s.RedirectURI(p.Name)}, "code_verifier": {verifier},
	}
	basic := secret != "" && p.AuthMethod != auth.AuthMethodSecretPost
	if !basic {
		form.Set("client_id", p.ClientID)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, refused(ReasonExchangeFailed, err.Error())
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 2.3.1: both parts form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(secret))
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, refused(ReasonUnavailable, "token endpoint: "+err.Error())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return nil, refused(ReasonUnavailable, "token endpoint: "+err.Error())
	}
	var tr tokenResponse
	jerr := json.Unmarshal(body, &tr)
	if resp.StatusCode != http.StatusOK || jerr != nil || tr.Error != "" || tr.AccessToken == "" {
		return nil, refused(ReasonExchangeFailed, fmt.Sprintf("token endpoint: status %d, error %q", resp.StatusCode, safeCode(tr.Error)))
	}
	return &tr, nil
}

// oidcIdentity verifies the ID token (signature with the provider's JWKS,
// iss, aud, exp through verify; then nonce and azp) and maps its claims.
// The userinfo document fills in claims the token lacks, if its sub is
// the token's (OIDC Core 5.3.2).
func (s *Service) oidcIdentity(ctx context.Context, p *auth.Provider, m *metadata, tok *tokenResponse, nonce string) (*Identity, error) {
	if tok.IDToken == "" {
		return nil, refused(ReasonInvalidIDToken, "the token response has no id_token")
	}
	v, err := s.verifierFor(ctx, p, m)
	if err != nil {
		return nil, err
	}
	c, err := v.Verify(ctx, tok.IDToken)
	if err != nil {
		return nil, refused(ReasonInvalidIDToken, err.Error())
	}
	claims, err := verifiedPayload(tok.IDToken)
	if err != nil {
		return nil, refused(ReasonInvalidIDToken, err.Error())
	}
	got, _ := claims["nonce"].(string)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return nil, refused(ReasonNonceMismatch, "the ID token's nonce is not the flow's")
	}
	// OIDC Core 3.1.3.7: with several audiences, azp must be us; an azp
	// naming another party is refused in any case.
	azp, hasAZP := claims["azp"].(string)
	if (len(c.Audience) > 1 && !hasAZP) || (hasAZP && azp != p.ClientID) {
		return nil, refused(ReasonInvalidIDToken, "the ID token was issued to another party (azp)")
	}
	if m.UserinfoEndpoint != "" && claims[p.Mapped(auth.ClaimEmail)] == nil {
		info, err := s.userinfo(ctx, m.UserinfoEndpoint, tok.AccessToken)
		if err == nil {
			if sub, _ := info["sub"].(string); sub == c.Subject {
				for k, v := range info {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
			}
		} else {
			s.log.WarnContext(ctx, "federation: userinfo", "provider", p.Name, "err", err)
		}
	}
	return identityFrom(p, claims)
}

// verifiedPayload decodes the claims of a token whose signature verify
// has just checked: the payload segment of that same string, decoded
// strictly (no duplicate names), numbers kept as json.Number.
func verifiedPayload(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	if err := jsonv2.Unmarshal(b, new(map[string]jsontext.Value)); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// oauth2Identity reads a plain OAuth 2.0 provider's userinfo document with
// the access token and maps it; with an EmailsURL (GitHub's /user/emails:
// [{email, primary, verified}]) the primary address and its verification
// come from there.
func (s *Service) oauth2Identity(ctx context.Context, p *auth.Provider, m *metadata, tok *tokenResponse) (*Identity, error) {
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		return nil, refused(ReasonExchangeFailed, "the access token is not a bearer token")
	}
	info, err := s.userinfo(ctx, m.UserinfoEndpoint, tok.AccessToken)
	if err != nil {
		return nil, refused(ReasonUnavailable, "userinfo: "+err.Error())
	}
	id, err := identityFrom(p, info)
	if err != nil {
		return nil, err
	}
	if p.EmailsURL == "" {
		return id, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.EmailsURL, nil)
	if err != nil {
		return nil, refused(ReasonUnavailable, err.Error())
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := s.getJSON(req, &emails); err != nil {
		s.log.WarnContext(ctx, "federation: emails", "provider", p.Name, "err", err)
		id.EmailVerified = false
		return id, nil
	}
	id.Email, id.EmailVerified = "", false
	for _, e := range emails {
		if e.Primary && e.Email != "" && len(e.Email) <= maxClaimValue && auth.CheckText("email", e.Email) == nil {
			id.Email, id.EmailVerified = e.Email, e.Verified
		}
	}
	return id, nil
}

// userinfo GETs a userinfo document with the access token.
func (s *Service) userinfo(ctx context.Context, endpoint, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var info map[string]any
	if err := s.getJSON(req, &info); err != nil {
		return nil, err
	}
	if info == nil {
		return nil, fmt.Errorf("userinfo is not an object")
	}
	return info, nil
}
