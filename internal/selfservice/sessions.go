package selfservice

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// purposeSessions is the CSRF purpose of the sessions page's forms.
const purposeSessions = "sessions"

// Messages of the sessions page.
const (
	msgSessionEnded   = "That session has been signed out."
	msgSessionGone    = "That session had already ended."
	msgSessionCurrent = "This is the session of this browser: use Sign out to end it."
	msgOthersEnded    = "You have been signed out everywhere else."
)

// sessionRef identifies a session in the page's forms: derived from its
// stored hash, which itself never leaves the server (nor does the cookie's
// secret it is the keyed hash of).
func sessionRef(hash []byte) string {
	sum := sha256.Sum256(append([]byte("gatehouse-account-session\x00"), hash...))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// handleSessions lists the user's live sessions, the current one marked.
func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.renderSessions(w, r, http.StatusOK, sess, u, "", "")
}

func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, status int, sess *auth.Session, u *auth.User, notice, msg string) {
	list, err := s.cfg.Store.ListUserSessions(r.Context(), u.ID, s.now())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f := s.frame(sess, u, Path+"/sessions")
	f.Notice, f.Error = notice, msg
	page := web.AccountSessionsPage{AccountFrame: f, CSRF: s.csrfToken(sess, purposeSessions)}
	for _, ls := range list {
		current := subtle.ConstantTimeCompare(ls.Hash, sess.Hash) == 1
		page.Others = page.Others || !current
		page.Sessions = append(page.Sessions, web.AccountSession{
			Ref: sessionRef(ls.Hash), Current: current, MFA: auth.HasMFA(ls.AMR),
			Info:    web.DescribeSession(ls.CreatedAt, ls.Address, ls.UserAgent),
			Expires: web.FormatTime(ls.ExpiresAt),
		})
	}
	web.RenderAccount(w, status, "account_sessions.html", page)
}

// handleSessionSignOut ends one of the user's other sessions, named by
// its ref; only the user's own sessions are looked at, so a ref of
// another user's session is just not found.
func (s *Server) handleSessionSignOut(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUserFor(w, r, Path+"/sessions")
	if !ok {
		return
	}
	form, ok := s.readForm(w, r, sess, purposeSessions)
	if !ok {
		return
	}
	ctx := r.Context()
	list, err := s.cfg.Store.ListUserSessions(ctx, u.ID, s.now())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	ref := form.Get("session")
	var target *auth.Session
	for _, ls := range list {
		if subtle.ConstantTimeCompare([]byte(sessionRef(ls.Hash)), []byte(ref)) == 1 {
			target = ls
		}
	}
	switch {
	case target == nil:
		s.renderSessions(w, r, http.StatusNotFound, sess, u, "", msgSessionGone)
		return
	case subtle.ConstantTimeCompare(target.Hash, sess.Hash) == 1:
		s.renderSessions(w, r, http.StatusBadRequest, sess, u, "", msgSessionCurrent)
		return
	}
	if err := s.endOther(r, u, target); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderSessions(w, r, http.StatusOK, sess, u, msgSessionEnded, "")
}

// handleSignOutOthers ends every session of the user but this one.
func (s *Server) handleSignOutOthers(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUserFor(w, r, Path+"/sessions")
	if !ok {
		return
	}
	if _, ok := s.readForm(w, r, sess, purposeSessions); !ok {
		return
	}
	list, err := s.cfg.Store.ListUserSessions(r.Context(), u.ID, s.now())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, ls := range list {
		if subtle.ConstantTimeCompare(ls.Hash, sess.Hash) == 1 {
			continue
		}
		if err := s.endOther(r, u, ls); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.renderSessions(w, r, http.StatusOK, sess, u, msgOthersEnded, "")
}

// endOther deletes another session of the user (its clients are told by
// back-channel logout) and audits it as EventUserSessionRevoked.
func (s *Server) endOther(r *http.Request, u *auth.User, target *auth.Session) error {
	if err := s.cfg.Store.DeleteSession(r.Context(), target.Hash); err != nil {
		return err
	}
	s.audit(r.Context(), auth.EventUserSessionRevoked, u, map[string]string{
		"session": sessionRef(target.Hash), "address": target.Address,
	})
	return nil
}
