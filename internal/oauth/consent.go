package oauth

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// scopeDescriptions say in plain language what the standard scopes allow.
var scopeDescriptions = map[string]string{
	ScopeOpenID:        "Confirm that you are signed in, and learn your user ID.",
	ScopeProfile:       "See your name and username.",
	ScopeEmail:         "See your email address and whether it is verified.",
	ScopeOfflineAccess: "Keep access while you are not using it, until you revoke it.",
}

func describeScope(scope string) string {
	if d, ok := scopeDescriptions[scope]; ok {
		return d
	}
	return fmt.Sprintf("Use the permission %q that the service defines.", scope)
}

// consentCovers reports whether the user's remembered consent to the client
// includes every scope in scopes.
func (s *Server) consentCovers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	c, err := s.store.GetConsent(ctx, userID, clientID)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return false, nil
		}
		return false, fmt.Errorf("oauth: get consent: %w", err)
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false, nil
		}
	}
	return true, nil
}

// renderConsent shows the consent page for the request, its form bound to
// the session and to the exact request.
func (s *Server) renderConsent(w http.ResponseWriter, req *authzRequest, sess *browserSession) {
	enc := req.encode()
	p := s.consentPage(req.client, req.scopes, req.audiences, sess)
	p.Action = s.url(PathConsent)
	p.Request = enc
	p.CSRF = s.csrfToken(csrfConsent, sessionBinding(sess), enc)
	web.RenderConsent(w, http.StatusOK, p, req.redirectOrigin())
}

// consentPage describes what the user is asked to allow: the client,
// the scopes in plain language, the audiences, and who is signed in.
// The caller sets the form's action, request and CSRF token.
func (s *Server) consentPage(c *auth.Client, scopes, audiences []string, sess *browserSession) web.ConsentPage {
	described := make([]web.Scope, len(scopes))
	for i, sc := range scopes {
		described[i] = web.Scope{Name: sc, Description: describeScope(sc)}
	}
	user := sess.user.Username
	if sess.user.Name != "" {
		user = sess.user.Name + " (" + sess.user.Username + ")"
	}
	return web.ConsentPage{
		Stylesheet: s.url(PathStylesheet),
		ClientName: clientName(c),
		Username:   user,
		Session:    sessionInfo(sess),
		Scopes:     described,
		Audiences:  audiences,
	}
}

// clientName is how pages name a client: its name, or its ID.
func clientName(c *auth.Client) string {
	if c.Name == "" {
		return c.ID
	}
	return c.Name
}

// handleConsent receives the consent form. The CSRF token binds it to the
// session that saw the page and to the request shown on it; only then
// does decision=allow remember the consent (merged with earlier scopes)
// and issue the code, and decision=deny send access_denied to the client.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.errorPage(w, r, &Error{Code: CodeInvalidRequest, Description: "This page accepts only POST.", Status: http.StatusMethodNotAllowed})
		return
	}
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	req, err := s.requestFromForm(ctx, form.Get("request"))
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
		s.errorPage(w, r, err)
		return
	}
	if sess == nil || !s.checkCSRF(csrfConsent, sessionBinding(sess), req.encode(), form.Get("csrf_token")) {
		s.errorPage(w, r, forbidden("This consent form is not valid for your session. Please start again from the application."))
		return
	}
	switch form.Get("decision") {
	case "allow":
		if err := s.saveConsent(ctx, sess.user.ID, req.client.ID, req.scopes); err != nil {
			s.redirectError(w, r, req.redirectURI, req.state, err)
			return
		}
		s.issueCode(w, r, req, sess)
	case "deny":
		s.redirectError(w, r, req.redirectURI, req.state, errAccessDenied("The user denied the request."))
	default:
		s.errorPage(w, r, errInvalidRequest("The decision must be allow or deny."))
	}
}

// saveConsent adds scopes to the user's consent to the client.
func (s *Server) saveConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	merged := slices.Clone(scopes)
	old, err := s.store.GetConsent(ctx, userID, clientID)
	switch {
	case err == nil:
		merged = append(merged, old.Scopes...)
	case auth.ErrorCode(err) != auth.ENOTFOUND:
		return fmt.Errorf("oauth: get consent: %w", err)
	}
	slices.Sort(merged)
	merged = slices.Compact(merged)
	now := s.now()
	c := &auth.Consent{UserID: userID, ClientID: clientID, Scopes: merged, GrantedAt: now}
	ev := auth.AuditEvent{Time: now, Type: auth.EventConsentGranted, Actor: userID, Count: 1,
		Details: map[string]string{"user_id": userID, "client_id": clientID, "scopes": strings.Join(merged, " ")}}
	if err := s.store.SaveConsent(ctx, c, ev); err != nil {
		return fmt.Errorf("oauth: save consent: %w", err)
	}
	return nil
}

// ListConsents returns every consent the user has given.
func (s *Server) ListConsents(ctx context.Context, userID string) ([]*auth.Consent, error) {
	cs, err := s.store.ListConsents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("oauth: list consents: %w", err)
	}
	return cs, nil
}

// RevokeConsent forgets the user's consent to the client and, in the same
// transaction, revokes every refresh-token family of that user and client
// (their access tokens go on the revocation list). ENOTFOUND if there is
// no such consent.
func (s *Server) RevokeConsent(ctx context.Context, actor, userID, clientID string) error {
	if actor == "" {
		actor = auth.ActorSystem
	}
	now := s.now()
	ev := auth.AuditEvent{Time: now, Type: auth.EventConsentRevoked, Actor: actor, Count: 1,
		Details: map[string]string{"user_id": userID, "client_id": clientID}}
	if err := s.store.DeleteConsent(ctx, userID, clientID, now, ev); err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return auth.Errorf(auth.ENOTFOUND, "Consent not found.")
		}
		return fmt.Errorf("oauth: revoke consent: %w", err)
	}
	return nil
}
