package selfservice

import (
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// purposeReset is the CSRF purpose of the reset form.
const purposeReset = "reset"

// resetBinding binds the reset form's CSRF token to the link's token:
// the form can only be sent back with the link it was shown for.
func (s *Server) resetBinding(token string) string {
	sum := s.cfg.Hasher.Sum("account-reset\x00" + token)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// resetPage is the reset form for token and its user.
func (s *Server) resetPage(token string, u *auth.User) web.AccountResetPage {
	p := s.cfg.Accounts.PasswordPolicy()
	minLen, maxLen := p.MinLength, p.MaxLength
	if minLen <= 0 {
		minLen = password.DefaultMinLength
	}
	if maxLen <= 0 {
		maxLen = password.DefaultMaxLength
	}
	return web.AccountResetPage{
		Stylesheet: s.cfg.Stylesheet, Action: Path + "/reset", Token: token,
		CSRF: s.csrf.Token("account:"+purposeReset, s.resetBinding(token), ""), Username: u.Username,
		MinLength: minLen, MaxLength: maxLen,
	}
}

// handleResetForm serves GET /account/reset?token=...: the form for a new
// password, when the administrator's link is valid. Showing it does not
// use the link up (mail scanners and link previews fetch links). The
// page's Referrer-Policy is no-referrer and nothing logs the query, so
// the token goes nowhere else.
func (s *Server) handleResetForm(w http.ResponseWriter, r *http.Request) {
	var token string
	if ts := r.URL.Query()["token"]; len(ts) == 1 {
		token = ts[0]
	}
	u, err := s.cfg.Accounts.CheckResetLink(r.Context(), token)
	if err != nil {
		s.resetError(w, r, err)
		return
	}
	web.RenderAccountReset(w, http.StatusOK, s.resetPage(token, u))
}

// handleReset serves POST /account/reset: sets the password the form
// gives (twice, and by the policy) through the link, which ends the
// user's sessions.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readBoundForm(w, r, purposeReset, func(f url.Values) string { return s.resetBinding(f.Get("token")) })
	if !ok {
		return
	}
	token := form.Get("token")
	u, err := s.cfg.Accounts.CheckResetLink(r.Context(), token)
	if err != nil {
		s.resetError(w, r, err)
		return
	}
	pw, confirm := form.Get("password"), form.Get("confirm")
	if pw != confirm {
		p := s.resetPage(token, u)
		p.Error = "The two passwords differ; type the same password twice."
		web.RenderAccountReset(w, http.StatusUnprocessableEntity, p)
		return
	}
	if _, err := s.cfg.Accounts.RedeemResetLink(r.Context(), token, pw); err != nil {
		if auth.ErrorCode(err) == auth.EINVALID {
			p := s.resetPage(token, u)
			p.Error = auth.ErrorMessage(err)
			web.RenderAccountReset(w, http.StatusUnprocessableEntity, p)
			return
		}
		s.resetError(w, r, err)
		return
	}
	web.RenderAccountReset(w, http.StatusOK, web.AccountResetPage{Stylesheet: s.cfg.Stylesheet, Done: true, SignIn: Path})
}

// resetError answers a link that is not valid (ENOTFOUND, with its
// message for the user) or a failure.
func (s *Server) resetError(w http.ResponseWriter, r *http.Request, err error) {
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		s.errorPage(w, http.StatusNotFound, "Link not valid", auth.ErrorMessage(err))
		return
	}
	s.serverError(w, r, err)
}
