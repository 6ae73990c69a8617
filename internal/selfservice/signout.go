package selfservice

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// handleSignOut is the sign-out form every account page has: it ends the
// browser's session (the clients signed in through it are told by
// back-channel logout) and shows the signed-out page.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	sess, _, err := s.cfg.Sessions.Current(r)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if sess == nil { // signed out already (elsewhere, or expired)
		web.RenderLoggedOut(w, http.StatusOK, web.LoggedOutPage{Stylesheet: s.cfg.Stylesheet})
		return
	}
	if _, ok := s.readForm(w, r, sess, purposeSignOut); !ok {
		return
	}
	if err := s.cfg.Sessions.SignOut(w, r); err != nil {
		s.serverError(w, r, err)
		return
	}
	web.RenderLoggedOut(w, http.StatusOK, web.LoggedOutPage{Stylesheet: s.cfg.Stylesheet})
}

// requireUserFor is requireUser for a form posted from page: without a
// session (it ended, or expired, while the page was open) the browser
// signs in and comes back to the page — the form's own path answers POST
// only — and the form is not replayed.
func (s *Server) requireUserFor(w http.ResponseWriter, r *http.Request, page string) (*auth.Session, *auth.User, bool) {
	sess, u, err := s.cfg.Sessions.Current(r)
	if err != nil {
		s.serverError(w, r, err)
		return nil, nil, false
	}
	if sess == nil {
		s.cfg.Sessions.SignIn(w, r, page, 0, false)
		return nil, nil, false
	}
	return sess, u, true
}
