package selfservice

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

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

// resetCookie carries the link's token from the emailed or printed URL to
// the form, so that the token leaves the address bar and the history.
const resetCookie = "gatehouse_reset"

// resetCookieTTL bounds the cookie; the link's own expiry still holds.
const resetCookieTTL = 15 * time.Minute

// handleResetForm serves GET /account/reset?token=...: when the
// administrator's link is valid, it moves the token into a short-lived
// HttpOnly cookie scoped to /account/reset and redirects to
// /account/reset without the query; GET /account/reset then shows the
// form for a new password from the cookie. Showing it does not use the
// link up (mail scanners and link previews fetch links); the POST does.
// The page's Referrer-Policy is no-referrer.
//
// The cookie is SameSite=Lax, not Strict: the link is opened from a mail
// client, often a web one on another site, and a browser does not send a
// Strict cookie on a navigation a cross-site page started, redirects
// included, so the link would not work from web mail. Lax gives nothing
// away here: the cookie only fills in a form whose POST is bound to the
// token by its CSRF token.
func (s *Server) handleResetForm(w http.ResponseWriter, r *http.Request) {
	var token string
	if q := r.URL.Query(); len(q) > 0 {
		if ts := q["token"]; len(ts) == 1 {
			token = ts[0]
		}
		if _, err := s.cfg.Accounts.CheckResetLink(r.Context(), token); err != nil {
			s.resetError(w, r, err)
			return
		}
		http.SetCookie(w, s.resetTokenCookie(token, int(resetCookieTTL/time.Second)))
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, Path+"/reset", http.StatusSeeOther)
		return
	}
	if c, err := r.Cookie(resetCookie); err == nil {
		token = c.Value
	}
	u, err := s.cfg.Accounts.CheckResetLink(r.Context(), token)
	if err != nil {
		if token != "" {
			http.SetCookie(w, s.resetTokenCookie("", -1))
		}
		s.resetError(w, r, err)
		return
	}
	web.RenderAccountReset(w, http.StatusOK, s.resetPage(token, u))
}

// resetTokenCookie is the reset cookie holding token for maxAge seconds
// (-1 removes it).
func (s *Server) resetTokenCookie(token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: resetCookie, Value: token, Path: Path + "/reset", MaxAge: maxAge,
		HttpOnly: true, Secure: strings.HasPrefix(s.cfg.Issuer, "https:"), SameSite: http.SameSiteLaxMode,
	}
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
	http.SetCookie(w, s.resetTokenCookie("", -1))
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
