package oauth

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// logoutRequest is a validated RP-initiated logout request.
type logoutRequest struct {
	client      *auth.Client // nil when unknown
	redirectURI string       // "" unless it exactly matches one registered for client
	state       string
	hint        *verify.Claims // the verified id_token_hint, or nil
}

// handleLogout is the end-session endpoint (OIDC RP-Initiated Logout 1.0).
//
// The browser is sent to post_logout_redirect_uri (with state) only when
// it exactly matches one registered for the client named by client_id or
// by the id_token_hint's audience; otherwise the signed-out page is shown.
// The session ends at once when a valid id_token_hint names the signed-in
// user (the RP proves it knew the session); otherwise the user confirms
// on a page whose form carries a CSRF token bound to the session, so a
// cross-site request cannot sign anyone out.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var params url.Values
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		params, err = parseLogoutQuery(r.URL.RawQuery)
	case http.MethodPost:
		params, err = readBrowserForm(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		err = &Error{Code: CodeInvalidRequest, Description: "This page accepts GET and POST.", Status: http.StatusMethodNotAllowed}
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	lr, err := s.parseLogout(r, params)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	confirmed := false
	if r.Method == http.MethodPost && params.Get("confirm") == "yes" {
		// Our own confirmation form.
		if !s.sameOrigin(r) || sess == nil || !s.checkCSRF(csrfLogout, sessionBinding(sess), logoutBinding(params), params.Get("csrf_token")) {
			s.errorPage(w, r, forbidden("This sign-out form is not valid for your session. Please try again."))
			return
		}
		confirmed = true
	}
	if sess != nil && !confirmed && !(lr.hint != nil && lr.hint.Subject == sess.user.ID) {
		s.renderLogoutConfirm(w, lr, sess)
		return
	}
	if err := s.endSession(ctx, w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	if lr.redirectURI == "" {
		web.RenderLoggedOut(w, http.StatusOK, web.LoggedOutPage{Stylesheet: s.url(PathStylesheet)})
		return
	}
	resp := url.Values{}
	if lr.state != "" {
		resp.Set("state", lr.state)
	}
	target := lr.redirectURI
	if len(resp) > 0 {
		target = appendQuery(target, resp)
	}
	web.SetHeaders(w.Header(), nil)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func parseLogoutQuery(raw string) (url.Values, error) {
	if len(raw) > maxAuthorizeRequest {
		return nil, errInvalidRequest("The logout request is too large.")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errInvalidRequest("The logout request is not a valid query string.")
	}
	for _, vs := range q {
		if len(vs) > 1 {
			return nil, errInvalidRequest("A parameter appears more than once.")
		}
	}
	return q, nil
}

// parseLogout validates the parameters. An id_token_hint that does not
// verify is ignored (the user is then asked to confirm); one that
// contradicts client_id is an error.
func (s *Server) parseLogout(r *http.Request, p url.Values) (*logoutRequest, error) {
	lr := &logoutRequest{state: p.Get("state")}
	if len(lr.state) > maxStateLength {
		return nil, errInvalidRequest("The state is too long.")
	}
	clientID := p.Get("client_id")
	if hint := p.Get("id_token_hint"); hint != "" {
		// An ID token may have expired long ago while its session lives on;
		// it is accepted for as long as a session can last.
		c, err := s.verifiers.idHint.Verify(r.Context(), hint)
		if err == nil {
			lr.hint = c
			if clientID == "" && len(c.Audience) > 0 {
				clientID = c.Audience[0]
			}
			if !c.HasAudience(clientID) {
				return nil, errInvalidRequest("The id_token_hint was not issued to this client_id.")
			}
		}
	}
	if clientID != "" {
		c, err := s.clients.Lookup(r.Context(), clientID)
		switch {
		case err == nil:
			lr.client = c
		case auth.ErrorCode(err) != auth.ENOTFOUND:
			return nil, err
		}
	}
	if uri := p.Get("post_logout_redirect_uri"); uri != "" && lr.client != nil && slices.Contains(lr.client.PostLogoutRedirectURIs, uri) {
		lr.redirectURI = uri
	}
	return lr, nil
}

// logoutBinding is the part of a logout request its confirmation token
// covers: where the browser will be sent.
func logoutBinding(p url.Values) string {
	return url.Values{
		"client_id":                {p.Get("client_id")},
		"post_logout_redirect_uri": {p.Get("post_logout_redirect_uri")},
		"state":                    {p.Get("state")},
	}.Encode()
}

func (s *Server) renderLogoutConfirm(w http.ResponseWriter, lr *logoutRequest, sess *browserSession) {
	fields := url.Values{}
	name := ""
	if lr.client != nil {
		fields.Set("client_id", lr.client.ID)
		name = lr.client.Name
	}
	if lr.redirectURI != "" {
		fields.Set("post_logout_redirect_uri", lr.redirectURI)
	}
	if lr.state != "" {
		fields.Set("state", lr.state)
	}
	var hidden []web.Field
	for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
		if v := fields.Get(k); v != "" {
			hidden = append(hidden, web.Field{Name: k, Value: v})
		}
	}
	var targets []string
	if lr.redirectURI != "" {
		targets = append(targets, cspOrigin(lr.redirectURI))
	}
	web.RenderLogout(w, http.StatusOK, web.LogoutPage{
		Stylesheet: s.url(PathStylesheet),
		Action:     s.url(PathLogout),
		ClientName: name,
		CSRF:       s.csrfToken(csrfLogout, sessionBinding(sess), logoutBinding(fields)),
		Fields:     hidden,
	}, targets...)
}
