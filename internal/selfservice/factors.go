package selfservice

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The one rule for changes to the ways a user signs in: adding or
// removing an authenticator app, new recovery codes, adding, renaming or
// removing a passkey, linking or unlinking an upstream provider.
//
// The sign-in must be recent (RecentAuth), and when the user already has
// a second factor (an authenticator app or a passkey) it must have used
// two factors (auth.HasMFA): a session with one factor — a password from
// before the app was set up, an upstream provider's — can neither add a
// factor of its own choosing nor take one away. Proving possession of a
// new authenticator proves nothing about the factors the account already
// had, so enrolling one upgrades the session only for an account that had
// none (its first second factor: trust on first use).

// factorNeed is what a session lacks for a factor change.
type factorNeed int

const (
	factorOK     factorNeed = iota // the change may go on
	factorRecent                   // sign in again (the sign-in is too old)
	factorMFA                      // give a second factor (the user has one)
)

// factorChange applies the rule to sess, the session of user userID. had
// reports whether the user had a second factor before the change: an
// enrolment upgrades the session only when had is false.
func (s *Server) factorChange(ctx context.Context, sess *auth.Session, userID string) (need factorNeed, had bool, err error) {
	if had, err = s.hasSecondFactor(ctx, userID); err != nil {
		return factorOK, false, err
	}
	switch {
	case s.now().Sub(sess.AuthTime) > s.cfg.RecentAuth:
		return factorRecent, had, nil
	case had && !auth.HasMFA(sess.AMR):
		return factorMFA, had, nil
	}
	return factorOK, had, nil
}

// hasSecondFactor reports whether the user has an authenticator app or a
// passkey.
func (s *Server) hasSecondFactor(ctx context.Context, userID string) (bool, error) {
	if s.cfg.TOTP != nil {
		st, err := s.cfg.TOTP.Status(ctx, userID)
		if err != nil {
			return false, fmt.Errorf("selfservice: TOTP status: %w", err)
		}
		if st.Enrolled {
			return true, nil
		}
	}
	if s.cfg.Passkeys != nil {
		ps, err := s.cfg.Passkeys.List(ctx, userID)
		if err != nil {
			return false, fmt.Errorf("selfservice: passkeys: %w", err)
		}
		if len(ps) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// requireFactorChange is requireUser for a page or form that changes the
// user's factors (factorChange): a session that falls short is sent to
// sign in again — recent, and with a second factor when the user has
// one — and back to the page (for a GET) or to page (a form is not
// replayed); ok is false then. had is factorChange's.
func (s *Server) requireFactorChange(w http.ResponseWriter, r *http.Request, page string) (sess *auth.Session, u *auth.User, had, ok bool) {
	sess, u, ok = s.requireUser(w, r)
	if !ok {
		return nil, nil, false, false
	}
	need, had, err := s.factorChange(r.Context(), sess, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return nil, nil, false, false
	}
	if need != factorOK {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			page = s.returnPath(r)
		}
		s.cfg.Sessions.SignIn(w, r, page, s.cfg.RecentAuth, had)
		return nil, nil, false, false
	}
	return sess, u, had, true
}
