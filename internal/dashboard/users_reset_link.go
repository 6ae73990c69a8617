package dashboard

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// userResetLinkData is the page that shows a new reset link, once.
type userResetLinkData struct {
	User      *auth.User
	URL       string
	ExpiresAt time.Time
	Emailed   bool
}

// handleUserResetLink serves POST /dashboard/users/{id}/reset-link: a
// one-time link for the user to choose a new password, shown in this
// response only (never in a redirect's URL), and e-mailed too when the
// form asks.
func (s *Server) handleUserResetLink(w http.ResponseWriter, r *http.Request, v *viewer) {
	u, err := s.getUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	l, err := s.cfg.Users.CreateResetLink(r.Context(), v.actor(), u.ID, r.PostForm.Get("email") == "yes")
	if err != nil {
		s.refuseOnUser(w, r, v, u, err, func(d *userData, e formError) { d.ResetLink = e })
		return
	}
	s.show(w, r, v, http.StatusOK, "userresetlink.html", &view{Title: u.Username, Nav: "users",
		Data: userResetLinkData{User: u, URL: l.URL, ExpiresAt: l.ExpiresAt, Emailed: l.Emailed}})
}
