package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Cookie names: declared in auth, which the gateway reads too.
const (
	sessionCookie         = auth.CookieSession
	sessionCookieInsecure = auth.CookieSessionInsecure
	loginCookie           = auth.CookieLogin
	loginCookieInsecure   = auth.CookieLoginInsecure
)

func (s *Server) sessionCookieName() string {
	if s.cfg.InsecureCookies {
		return sessionCookieInsecure
	}
	return sessionCookie
}

func (s *Server) loginCookieName() string {
	if s.cfg.InsecureCookies {
		return loginCookieInsecure
	}
	return loginCookie
}

// cookie returns a cookie with the attributes every Gatehouse cookie has:
// HttpOnly (no script reads it), Secure (unless InsecureCookies), Path=/,
// no Domain, SameSite=Lax (sent on top-level navigations from the client's
// site to /oauth2/authorize, never on cross-site POSTs or subresources).
func (s *Server) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   !s.cfg.InsecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else {
		c.MaxAge = -1
	}
	return c
}

// browserSession is a valid session with its enabled user.
type browserSession struct {
	*auth.Session
	user *auth.User
}

// sid is the session's identifier in ID tokens (the sid claim) and codes:
// derived from the stored hash, so logout can match an id_token_hint to a
// session without the cookie's secret ever leaving the cookie.
func sid(hash []byte) string {
	sum := sha256.Sum256(append([]byte("gatehouse-sid\x00"), hash...))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// currentSession returns the session of the request's cookie and its user,
// or nil when there is none, it has expired, or its user is gone or
// disabled. Only store failures are errors.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (*browserSession, error) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil {
		return nil, nil
	}
	hash, ok := s.parseSecret(PrefixSession, c.Value)
	if !ok {
		return nil, nil
	}
	sess, err := s.store.GetSession(ctx, hash, s.now())
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, nil
		}
		return nil, fmt.Errorf("oauth: get session: %w", err)
	}
	u, err := s.accounts.Get(ctx, sess.UserID)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, nil
		}
		return nil, fmt.Errorf("oauth: get session user: %w", err)
	}
	if u.Disabled() {
		return nil, nil
	}
	return &browserSession{Session: sess, user: u}, nil
}

// errSignInOvertaken is a sign-in whose password check an administrator's
// change to the account (a password reset, a disabling, a deletion)
// overtook: it fails like a wrong password.
var errSignInOvertaken = errors.New("oauth: the account changed during the sign-in")

// startSession signs the user in: it ends the session the browser had (if
// any) and creates a new one with a new secret, so a session identifier
// planted before the login is worthless after it (session fixation). The
// session records the browser's User-Agent and address (sessioninfo.go),
// and the methods of the sign-in (amr, normalised).
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *auth.User, amr []string) (*browserSession, error) {
	if err := s.endSession(ctx, w, r); err != nil {
		return nil, err
	}
	secret, hash, err := s.hasher.New(PrefixSession)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sess := &auth.Session{
		Hash: hash, UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
		UserAgent: recordedText(r.UserAgent(), maxRecordedUserAgent),
		Address:   recordedAddress(r),
		AMR:       auth.NormalizeAMR(amr),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("oauth: create session: %w", err)
	}
	// A password reset or a disabling that landed after the password was
	// checked ended the user's sessions before this one existed. Now that
	// it exists, look again: it must not outlive them. (A reset after this
	// read deletes it like any other session.)
	fresh, err := s.accounts.Get(ctx, u.ID)
	if err == nil && (fresh.Disabled() || !fresh.PasswordChangedAt.Equal(u.PasswordChangedAt)) {
		err = errSignInOvertaken
	}
	if err != nil {
		if derr := s.store.DeleteSession(ctx, hash); derr != nil {
			s.logger.Warn("oauth: delete an overtaken session", "err", derr)
		}
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			err = errSignInOvertaken
		}
		return nil, err
	}
	http.SetCookie(w, s.cookie(s.sessionCookieName(), secret, s.cfg.SessionTTL))
	return &browserSession{Session: sess, user: u}, nil
}

// endSession deletes the request's session, if any, and its cookie.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil {
		return nil
	}
	if hash, ok := s.parseSecret(PrefixSession, c.Value); ok {
		if err := s.store.DeleteSession(ctx, hash); err != nil {
			return fmt.Errorf("oauth: delete session: %w", err)
		}
	}
	http.SetCookie(w, s.cookie(s.sessionCookieName(), "", 0))
	return nil
}
