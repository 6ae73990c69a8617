package dashboard

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
)

// handleUserFactorsReset serves POST /dashboard/users/{id}/factors/reset:
// removes the user's second factors — all of them, or with totp=yes the
// authenticator app, or with passkey=ID one passkey — through the same
// service as the admin API, which ends the user's sessions and audits it.
func (s *Server) handleUserFactorsReset(w http.ResponseWriter, r *http.Request, v *viewer) {
	if s.cfg.Factors == nil {
		s.fail(w, r, auth.Errorf(auth.ENOTFOUND, "Second factors are not served on this node."))
		return
	}
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	which := factors.Which{TOTP: r.PostForm.Get("totp") == "yes", PasskeyID: r.PostForm.Get("passkey")}
	if err := s.cfg.Factors.Reset(r.Context(), v.actor(), u.ID, which); err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			err = auth.Errorf(auth.ECONFLICT, "%s", auth.ErrorMessage(err)) // the user exists: show it next to the form
		}
		s.refuseOnUser(w, r, v, u, err, func(d *userData, e formError) { d.FactorsError = e })
		return
	}
	redirectDone(w, r, userPath(u.ID), "factors_reset")
}
