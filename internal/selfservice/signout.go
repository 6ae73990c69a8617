package selfservice

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// handleSignOut is the sign-out form every account page has: it ends the
// browser's session (the clients signed in through it are told by
// back-channel logout) and shows the signed-out page.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	sess, _, ok := s.requireUser(w, r)
	if !ok {
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
