package selfservice

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// purposePassword is the CSRF purpose of the change-password form.
const purposePassword = "password"

// Messages of the password page.
const (
	msgPasswordChanged  = "Your password has been changed. You have been signed out everywhere else."
	msgPasswordMismatch = "The new passwords do not match."
)

// handlePassword shows the change-password form. The current password it
// asks for is the re-authentication: the page does not ask for a recent
// sign-in on top.
func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	notice := ""
	if r.URL.Query().Get("changed") == "1" {
		notice = msgPasswordChanged
	}
	s.renderPassword(w, http.StatusOK, sess, u, notice, "", "")
}

func (s *Server) renderPassword(w http.ResponseWriter, status int, sess *auth.Session, u *auth.User, notice, msg, invalid string) {
	f := s.frame(sess, u, Path+"/password")
	f.Notice, f.Error = notice, msg
	web.RenderAccount(w, status, "account_password.html", web.AccountPasswordPage{
		AccountFrame: f, CSRF: s.csrfToken(sess, purposePassword), Invalid: invalid,
	})
}

// handleChangePassword changes the password (account.ChangePassword: the
// current one checked as a throttled sign-in, the new one through the
// policy), ends every other session of the user — browser sessions and
// dashboard sessions — and keeps this browser signed in with a renewed
// session.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	form, ok := s.readForm(w, r, sess, purposePassword)
	if !ok {
		return
	}
	next := form.Get("new_password")
	if next != form.Get("confirm_password") {
		s.renderPassword(w, http.StatusBadRequest, sess, u, "", msgPasswordMismatch, "confirm_password")
		return
	}
	ctx := r.Context()
	err := s.cfg.Accounts.ChangePassword(ctx, u.ID, form.Get("current_password"), next, web.ClientAddress(r))
	switch auth.ErrorCode(err) {
	case "":
	case auth.EINVALID:
		s.renderPassword(w, http.StatusBadRequest, sess, u, "", auth.ErrorMessage(err), "new_password")
		return
	case auth.EUNAUTHORIZED:
		s.renderPassword(w, http.StatusUnauthorized, sess, u, "", account.ErrWrongCurrentPassword, "current_password")
		return
	case auth.ERATELIMITED:
		if d, ok := account.RetryAfter(err); ok {
			web.SetRetryAfter(w.Header(), d)
		}
		s.renderPassword(w, http.StatusTooManyRequests, sess, u, "", auth.ErrorMessage(err), "current_password")
		return
	default:
		s.serverError(w, r, err)
		return
	}
	// The browser sessions have ended with the change; the dashboard's
	// would end on their next request (they check PasswordChangedAt), but
	// not one started within the same instant: end them now.
	if err := s.cfg.Store.DeleteUserDashboardSessions(ctx, u.ID); err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.cfg.Sessions.Renew(w, r, sess); err != nil {
		if auth.ErrorCode(err) == auth.EUNAUTHORIZED {
			s.cfg.Sessions.SignIn(w, r, Path, 0, false)
			return
		}
		s.serverError(w, r, err)
		return
	}
	web.SetHeaders(w.Header(), nil)
	http.Redirect(w, r, Path+"/password?changed=1", http.StatusSeeOther)
}
