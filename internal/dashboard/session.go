package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// viewer is the signed-in user of a request: who they are (read afresh
// on every request, so a changed role or owner list applies at once) and
// their session.
type viewer struct {
	user    *auth.User
	session *auth.DashboardSession
	csrf    string // the token every form of this request carries
}

func (v *viewer) admin() bool { return v.user.Role == auth.RoleAdmin }

// actor is what the audit log records as the one who acted.
func (v *viewer) actor() string { return v.user.ID }

// owns reports whether the viewer may see and manage an object with that
// owner: admins everything, developers only their owners' objects.
func (v *viewer) owns(owner string) bool {
	if v.admin() {
		return true
	}
	return owner != "" && slices.Contains(v.user.Owners, owner)
}

// hidden is the error for an object the viewer may not see: the same
// ENOTFOUND as for one that does not exist, so its existence is not
// revealed.
func hidden(what string) error {
	return auth.Errorf(auth.ENOTFOUND, "There is no such %s.", what)
}

// touchEvery bounds the writes of LastSeenAt: once a minute per session at
// most, which is all the idle timeout's precision needs.
const touchEvery = time.Minute

// sessionTokenBytes is the entropy of a session token.
const sessionTokenBytes = 32

func (s *Server) sessionCookieName() string {
	if s.cfg.Insecure {
		return auth.CookieDashboardInsecure
	}
	return auth.CookieDashboard
}

// cookie builds one of the dashboard's cookies: host-only, Path=/ (as the
// __Host- prefix requires), HttpOnly, SameSite=Lax so that the redirect
// back from the authorization server carries the sign-in state, Secure
// outside --dev. maxAge < 0 deletes it.
func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: !s.cfg.Insecure, SameSite: http.SameSiteLaxMode,
	}
}

// tokenHash is what the store keeps of a session token.
func (s *Server) tokenHash(token string) []byte {
	sum := s.cfg.Hasher.Sum("gatehouse-dashboard-session\x00" + token)
	return sum[:]
}

// session returns the viewer of the request, or nil without a live
// session (no cookie, an unknown, expired or idle one, a disabled user).
// A dead session's cookie is cleared.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*viewer, error) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil || !validToken(c.Value) {
		return nil, nil
	}
	ctx := r.Context()
	now := s.now()
	hash := s.tokenHash(c.Value)
	sess, err := s.cfg.Store.GetDashboardSession(ctx, hash, now)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dashboard: read session: %w", err)
	}
	if now.Sub(sess.LastSeenAt) >= s.idle {
		return nil, s.endSession(ctx, w, hash)
	}
	u, err := s.cfg.Users.Get(ctx, sess.UserID)
	// A disabled account, or a password changed since signing in (by the
	// admin API, the CLI or this dashboard), ends the session.
	if auth.ErrorCode(err) == auth.ENOTFOUND || (err == nil && (u.Disabled() || sess.CreatedAt.Before(u.PasswordChangedAt))) {
		return nil, s.endSession(ctx, w, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("dashboard: read user: %w", err)
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.cfg.Store.TouchDashboardSession(ctx, hash, now); err != nil {
			return nil, fmt.Errorf("dashboard: touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	v := &viewer{user: u, session: sess}
	v.csrf = s.csrf.Token(csrfForm, hex.EncodeToString(hash), "")
	return v, nil
}

// endSession deletes a session and its cookie.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, hash []byte) error {
	http.SetCookie(w, s.cookie(s.sessionCookieName(), "", -1))
	if err := s.cfg.Store.DeleteDashboardSession(ctx, hash); err != nil {
		return fmt.Errorf("dashboard: end session: %w", err)
	}
	return nil
}

// startSession stores a new session for the user and sets its cookie.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, userID, idToken string) error {
	token, err := randomToken()
	if err != nil {
		return err
	}
	now := s.now()
	sess := &auth.DashboardSession{
		Hash: s.tokenHash(token), UserID: userID, IDToken: idToken,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.maxLife),
	}
	if err := s.cfg.Store.CreateDashboardSession(ctx, sess); err != nil {
		return fmt.Errorf("dashboard: start session: %w", err)
	}
	// The cookie outlives nothing: it dies with the session at the latest.
	http.SetCookie(w, s.cookie(s.sessionCookieName(), token, int(s.maxLife/time.Second)))
	return nil
}

func randomToken() (string, error) {
	var b [sessionTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// validToken checks a cookie's shape before any work.
func validToken(v string) bool {
	if len(v) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil
}

// csrfForm is the purpose of the dashboard's form tokens: every form of a
// session carries one bound to it.
const csrfForm = "dashboard"

// checkForm refuses a state-changing request that is cross-site or lacks
// the session's CSRF token, with 403. It reads the form (bounded).
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, v *viewer) bool {
	if !web.SameOrigin(r, s.origin) {
		s.fail(w, r, auth.Errorf(auth.EFORBIDDEN, "The form was sent from another site."))
		return false
	}
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, err)
		return false
	}
	if !s.csrf.Check(csrfForm, hex.EncodeToString(v.session.Hash), "", r.PostForm.Get("csrf_token")) {
		s.fail(w, r, auth.Errorf(auth.EFORBIDDEN, "The form has expired or did not come from this dashboard; reload the page and try again."))
		return false
	}
	return true
}

// maxFormBytes bounds a form post; the largest forms (a route's policy, a
// client's redirect URIs) are far below it.
const maxFormBytes = 64 << 10

// parseForm reads a urlencoded form body, at most maxFormBytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := err.(*http.MaxBytesError); ok {
			return auth.Errorf(auth.ETOOLARGE, "The form is too large.")
		}
		return auth.Errorf(auth.EINVALID, "The form could not be read.")
	}
	return nil
}
