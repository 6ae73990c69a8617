package selfservice

import (
	"context"
	"html/template"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mfa"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// TOTP is the authenticator-app service as /account/totp needs it
// (*mfa.Service).
type TOTP interface {
	Status(ctx context.Context, userID string) (mfa.Status, error)
	BeginEnrollment(ctx context.Context, u *auth.User) (*mfa.Enrollment, error)
	ConfirmEnrollment(ctx context.Context, u *auth.User, code, addr string) ([]string, error)
	Remove(ctx context.Context, u *auth.User) error
	RegenerateRecoveryCodes(ctx context.Context, u *auth.User) ([]string, error)
}

var _ TOTP = (*mfa.Service)(nil)

// totpPath is the authenticator-app page.
const totpPath = Path + "/totp"

// CSRF purposes of the page's forms.
const (
	purposeTOTPConfirm    = "totp-confirm"
	purposeTOTPRemove     = "totp-remove"
	purposeTOTPRegenerate = "totp-recovery-codes"
)

// totpEnabled answers 404 when the server has no TOTP service.
func (s *Server) totpEnabled(w http.ResponseWriter) bool {
	if s.cfg.TOTP == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "Authenticator apps are not enabled on this server.")
		return false
	}
	return true
}

// handleTOTP shows the authenticator-app page: the set-up (secret, QR
// code, confirmation form) while none is set up — a sensitive change, so
// the sign-in must be recent — or the app's status and its actions. A
// `return` query parameter (a safe return path) is where the browser goes
// on once the app is set up: a sign-in that requires a second factor.
func (s *Server) handleTOTP(w http.ResponseWriter, r *http.Request) {
	if !s.totpEnabled(w) {
		return
	}
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	st, err := s.cfg.TOTP.Status(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !st.Enrolled {
		if sess, u, _, ok = s.requireFactorChange(w, r, totpPath); !ok {
			return
		}
	}
	ret := safeReturn(r.URL.Query().Get("return"))
	page := web.AccountTOTPPage{Return: ret}
	if st.Enrolled {
		page.Continue = ret // set up already: the sign-in may go on
	}
	s.renderTOTP(w, r, sess, u, http.StatusOK, page)
}

// renderTOTP fills page with the user's current state and writes it.
func (s *Server) renderTOTP(w http.ResponseWriter, r *http.Request, sess *auth.Session, u *auth.User, status int, page web.AccountTOTPPage) {
	ctx := r.Context()
	st, err := s.cfg.TOTP.Status(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	frame := s.frame(sess, u, totpPath)
	frame.Notice, frame.Error = page.Notice, page.Error
	page.AccountFrame = frame
	if st.Enrolled {
		page.Enrolled = true
		page.EnrolledAt = st.EnrolledAt.UTC().Format("2 January 2006")
		page.RecoveryCodesLeft = st.RecoveryCodesLeft
		page.RemoveCSRF = s.csrfToken(sess, purposeTOTPRemove)
		page.RegenerateCSRF = s.csrfToken(sess, purposeTOTPRegenerate)
	} else {
		e, err := s.cfg.TOTP.BeginEnrollment(ctx, u)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		page.Secret = e.Secret
		page.KeyURI = template.URL(e.URI) // otpauth://, built by mfa.KeyURI
		page.QR = template.HTML(e.QRSVG)  // drawn by mfa.QRSVG from the QR modules only
		page.ConfirmCSRF = s.csrfToken(sess, purposeTOTPConfirm)
	}
	web.RenderAccount(w, status, "account_totp.html", page)
}

// handleTOTPConfirm turns the app on with its first code (factorChange's
// rule). On success the recovery codes are shown, this once, with a link
// to the `return` path if the form carried one; the session is upgraded
// with the code only when this is the account's first second factor (a
// user who already had a passkey signed in with two factors already).
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	if !s.totpEnabled(w) {
		return
	}
	sess, u, had, ok := s.requireFactorChange(w, r, totpPath)
	if !ok {
		return
	}
	form, ok := s.readForm(w, r, sess, purposeTOTPConfirm)
	if !ok {
		return
	}
	ret := safeReturn(form.Get("return"))
	ctx := r.Context()
	codes, err := s.cfg.TOTP.ConfirmEnrollment(ctx, u, form.Get("code"), web.ClientAddress(r))
	if err != nil {
		page := web.AccountTOTPPage{Return: ret}
		page.Error = auth.ErrorMessage(err)
		switch auth.ErrorCode(err) {
		case auth.EUNAUTHORIZED:
			s.renderTOTP(w, r, sess, u, http.StatusBadRequest, page)
		case auth.ERATELIMITED:
			if d, ok := account.RetryAfter(err); ok {
				web.SetRetryAfter(w.Header(), d)
			}
			s.renderTOTP(w, r, sess, u, http.StatusTooManyRequests, page)
		case auth.ENOTFOUND: // the set-up expired: a new secret is shown
			s.renderTOTP(w, r, sess, u, http.StatusConflict, page)
		case auth.ECONFLICT: // set up meanwhile, in another window
			page.Error = ""
			page.Notice = "An authenticator app is already set up."
			s.renderTOTP(w, r, sess, u, http.StatusOK, page)
		default:
			s.serverError(w, r, err)
		}
		return
	}
	if !had {
		if err := s.cfg.Store.UpgradeSession(ctx, sess.Hash, auth.MergeAMR(sess.AMR, []string{auth.AMROTP}), s.now()); err != nil {
			// The app is on; the session only lacks the upgrade, which the
			// next sign-in gives.
			s.logger.WarnContext(ctx, "account: upgrade the session after setting up TOTP", "user_id", u.ID, "err", err)
		}
	}
	page := web.AccountTOTPPage{RecoveryCodes: codes, Continue: ret}
	page.Notice = "Your authenticator app is set up."
	s.renderTOTP(w, r, sess, u, http.StatusOK, page)
}

// handleTOTPRemove removes the app and its recovery codes.
func (s *Server) handleTOTPRemove(w http.ResponseWriter, r *http.Request) {
	if !s.totpEnabled(w) {
		return
	}
	sess, u, _, ok := s.requireFactorChange(w, r, totpPath)
	if !ok {
		return
	}
	if _, ok := s.readForm(w, r, sess, purposeTOTPRemove); !ok {
		return
	}
	var page web.AccountTOTPPage
	switch err := s.cfg.TOTP.Remove(r.Context(), u); auth.ErrorCode(err) {
	case "":
		page.Notice = "The authenticator app was removed, with its recovery codes. You can set up another one below."
	case auth.ENOTFOUND:
		page.Notice = "No authenticator app is set up."
	default:
		s.serverError(w, r, err)
		return
	}
	s.renderTOTP(w, r, sess, u, http.StatusOK, page)
}

// handleTOTPRegenerate replaces the recovery codes and shows the new ones
// this once.
func (s *Server) handleTOTPRegenerate(w http.ResponseWriter, r *http.Request) {
	if !s.totpEnabled(w) {
		return
	}
	sess, u, _, ok := s.requireFactorChange(w, r, totpPath)
	if !ok {
		return
	}
	if _, ok := s.readForm(w, r, sess, purposeTOTPRegenerate); !ok {
		return
	}
	codes, err := s.cfg.TOTP.RegenerateRecoveryCodes(r.Context(), u)
	var page web.AccountTOTPPage
	switch auth.ErrorCode(err) {
	case "":
		page.RecoveryCodes = codes
		page.Notice = "Your new recovery codes are below; the old ones no longer work."
	case auth.ENOTFOUND:
		page.Error = "No authenticator app is set up."
	default:
		s.serverError(w, r, err)
		return
	}
	s.renderTOTP(w, r, sess, u, http.StatusOK, page)
}
