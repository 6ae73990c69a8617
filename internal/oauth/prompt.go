package oauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// OpenID Connect request parameters beyond the core authorization request:
// acr_values and the claims parameter (OIDC Core 3.1.2.1, 5.5). prompt and
// max_age are read in authorize.go; select_account in login.go.

// ACRPassword is the authentication context class of a sign-in with one
// factor; auth.ACRMFA that of one with two. Every ID token and access
// token of a user names the class its sign-in met (acr) and its methods
// (amr); an essential acr request for any other value fails with
// unmet_authentication_requirements, and one naming auth.ACRMFA makes the
// user step up (mfa.go).
const ACRPassword = auth.ACRPassword

// maxClaimsParam bounds the claims parameter's JSON.
const maxClaimsParam = 4 << 10

// standardClaims are the claims the claims parameter may ask for and the
// scope whose consent covers each (OIDC Core 5.4).
var standardClaims = map[string]string{
	"name":               ScopeProfile,
	"preferred_username": ScopeProfile,
	"email":              ScopeEmail,
	"email_verified":     ScopeEmail,
}

// claimRequest is one member of the claims parameter's userinfo or
// id_token object: null, or {"essential", "value", "values"} (OIDC Core
// 5.5.1).
type claimRequest struct {
	Essential bool              `json:"essential"`
	Value     json.RawMessage   `json:"value"`
	Values    []json.RawMessage `json:"values"`
}

// claimsParam is the claims request parameter (OIDC Core 5.5).
type claimsParam struct {
	Userinfo map[string]*claimRequest `json:"userinfo"`
	IDToken  map[string]*claimRequest `json:"id_token"`
}

// parseClaimsParam reads the claims parameter; members other than
// userinfo and id_token, and claims it does not know, are ignored.
func parseClaimsParam(raw string) (*claimsParam, error) {
	if raw == "" {
		return &claimsParam{}, nil
	}
	if len(raw) > maxClaimsParam {
		return nil, errInvalidRequest("The claims parameter is longer than %d bytes.", maxClaimsParam)
	}
	var c claimsParam
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, errInvalidRequest("The claims parameter must be a JSON object with userinfo and id_token members (OIDC Core 5.5).")
	}
	return &c, nil
}

// stringValues are the JSON strings among a claim request's value and
// values.
func (c *claimRequest) stringValues() []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, raw := range append([]json.RawMessage{c.Value}, c.Values...) {
		var s string
		if len(raw) > 0 && json.Unmarshal(raw, &s) == nil {
			out = append(out, s)
		}
	}
	return out
}

// applyOIDCRequest reads acr_values and claims into q, after the scopes
// are known. A claim asked for, in userinfo or in the ID token, adds the
// scope that covers it (when the client may ask for it), so the consent
// page shows it, a remembered consent without that scope does not cover
// the request (prompt=none gets consent_required) and the access token
// carries it to the UserInfo endpoint. Claims asked for in the ID token
// travel with the code, only those whose covering scope is among the
// request's scopes: the user consents to scopes, never to bare claims.
func (q *authzRequest) applyOIDCRequest() error {
	cp, err := parseClaimsParam(q.params.Get("claims"))
	if err != nil {
		return err
	}
	if len(q.params.Get("acr_values")) > maxNonceLength {
		return errInvalidRequest("The acr_values are too long.")
	}
	for name := range cp.Userinfo {
		q.addCoveringScope(name)
	}
	if slices.Contains(q.scopes, ScopeOpenID) { // no ID token otherwise
		for name := range cp.IDToken {
			q.addCoveringScope(name)
			if claimCovered(name, q.scopes) {
				q.idTokenClaims = append(q.idTokenClaims, name)
			}
		}
	}
	slices.Sort(q.idTokenClaims)

	// acr: acr_values is a voluntary request (OIDC Core 3.1.2.1); an acr
	// member of the claims' id_token object may be essential (5.5.1.1).
	// Every ID token says which class the sign-in met (mfa.go).
	acr, asked := cp.IDToken["acr"]
	q.wantsMFA, err = acrRequest(q.params.Get("acr_values"), acr, asked)
	return err
}

// addCoveringScope adds to q's scopes the scope that covers the standard
// claim name, if the client may ask for it.
func (q *authzRequest) addCoveringScope(name string) {
	if sc, ok := standardClaims[name]; ok && slices.Contains(q.client.Scopes, sc) && !slices.Contains(q.scopes, sc) {
		q.scopes = append(q.scopes, sc)
	}
}

// claimCovered reports whether name is a standard claim whose covering
// scope is among scopes (OIDC Core 5.4): the one rule for what the claims
// parameter may put in an ID token.
func claimCovered(name string, scopes []string) bool {
	sc, ok := standardClaims[name]
	return ok && slices.Contains(scopes, sc)
}

// CodeUnmetAuthenticationRequirements is the error of an authorization
// request whose essential acr the server cannot satisfy (OpenID Connect
// Core Unmet Authentication Requirements 1.0).
const CodeUnmetAuthenticationRequirements = "unmet_authentication_requirements"

// userClaims adds to claims, from u, the standard claims named in names
// that the granted scopes cover (checked again here, whatever the code
// or grant row says).
func userClaims(claims *idTokenClaims, u *auth.User, names, scopes []string) {
	if u == nil {
		return
	}
	for _, n := range names {
		if !claimCovered(n, scopes) {
			continue
		}
		switch n {
		case "name":
			claims.Name = u.Name
		case "preferred_username":
			claims.PreferredUsername = u.Username
		case "email":
			claims.Email = u.Email
		case "email_verified":
			if u.Email != "" {
				v := u.EmailVerified
				claims.EmailVerified = &v
			}
		}
	}
}

// offerCurrentAccount fills in the login page's "continue as" form for a
// prompt=select_account request of a browser whose session would do
// (OIDC Core 3.1.2.1): the user picks it, or signs in with another
// account, which ends that session.
func (s *Server) offerCurrentAccount(r *http.Request, req *authzRequest, page *web.LoginPage) error {
	if !req.prompt["select_account"] {
		return nil
	}
	sess, err := s.currentSession(r.Context(), r)
	if err != nil || sess == nil || s.needsLogin(req, sess) {
		return err
	}
	page.Current = sess.user.Username
	if sess.user.Name != "" {
		page.Current = sess.user.Name + " (" + sess.user.Username + ")"
	}
	page.ContinueCSRF = s.csrfToken(csrfSelectAccount, sessionBinding(sess), page.Request)
	return nil
}

// continueAsCurrent is the "continue as" choice of the login page: the
// request goes on with the current session, if the form was made for it.
func (s *Server) continueAsCurrent(w http.ResponseWriter, r *http.Request, req *authzRequest, form url.Values) {
	sess, err := s.currentSession(r.Context(), r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if sess == nil || form.Get("continue") != "yes" || s.needsLogin(req, sess) ||
		!s.checkCSRF(csrfSelectAccount, sessionBinding(sess), req.encode(), form.Get("csrf_token")) {
		s.renderLogin(w, r, req, http.StatusForbidden, "", msgLoginExpired)
		return
	}
	s.proceed(w, r, req, sess)
}
