package selfservice

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Providers is the upstream identity provider service as the account
// pages need it (*federation.Service).
type Providers interface {
	Enabled(ctx context.Context) ([]*auth.Provider, error)
	Links(ctx context.Context, userID string) ([]*auth.ProviderLink, error)
	Start(ctx context.Context, w http.ResponseWriter, name string, p federation.Pending) (string, error)
	Unlink(ctx context.Context, userID, provider string) error
}

var _ Providers = (*federation.Service)(nil)

// Purposes of the CSRF tokens of /account/providers.
const (
	purposeProviderLink   = "provider-link"
	purposeProviderUnlink = "provider-unlink"
)

const pathProviders = Path + "/providers"

// handleProviders lists the enabled providers, each linked (with an
// unlink form) or not (with a link).
func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return
	}
	s.renderProviders(w, r, sess, u, http.StatusOK, "", "")
}

func (s *Server) renderProviders(w http.ResponseWriter, r *http.Request, sess *auth.Session, u *auth.User, status int, notice, errMsg string) {
	if s.cfg.Providers == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "Linked accounts are not offered on this server.")
		return
	}
	ctx := r.Context()
	ps, err := s.cfg.Providers.Enabled(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	links, err := s.cfg.Providers.Links(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	linked := map[string]*auth.ProviderLink{}
	for _, l := range links {
		linked[l.Provider] = l
	}
	page := web.AccountProvidersPage{AccountFrame: s.frame(sess, u, pathProviders), UnlinkCSRF: s.csrfToken(sess, purposeProviderUnlink)}
	page.Notice, page.Error = notice, errMsg
	linkCSRF := s.csrfToken(sess, purposeProviderLink)
	for _, p := range ps {
		ap := web.AccountProvider{Name: p.Name, Label: federation.Label(p)}
		if l := linked[p.Name]; l != nil {
			ap.Linked, ap.Email = true, l.Email
		} else {
			ap.LinkURL = pathProviders + "/link?" + url.Values{"provider": {p.Name}, "csrf_token": {linkCSRF}}.Encode()
		}
		page.Providers = append(page.Providers, ap)
	}
	web.RenderAccount(w, status, "account_providers.html", page)
}

// handleProviderLink starts linking: with the sign-in a factor change
// needs (factorChange) and the page's token, the browser goes to the
// provider; its callback links the identity to this user in this session
// (oauth.providerLink).
func (s *Server) handleProviderLink(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.requireFactorChange(w, r, pathProviders)
	if !ok {
		return
	}
	if s.cfg.Providers == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "Linked accounts are not offered on this server.")
		return
	}
	q := r.URL.Query()
	if !s.csrf.Check("account:"+purposeProviderLink, binding(sess), "", q.Get("csrf_token")) {
		s.errorPage(w, http.StatusForbidden, "Link expired", "The link expired or was not made for you. Please go back, reload the page and try again.")
		return
	}
	target, err := s.cfg.Providers.Start(r.Context(), w, q.Get("provider"), federation.Pending{
		Purpose: federation.PurposeLink, Session: hex.EncodeToString(sess.Hash), UserID: u.ID, Return: pathProviders,
	})
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			s.errorPage(w, http.StatusNotFound, "Not found", "There is no such provider.")
			return
		}
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// handleProviderUnlink removes the user's link to a provider (a factor
// change: factorChange), unless it is the account's last way to sign in.
func (s *Server) handleProviderUnlink(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.requireFactorChange(w, r, pathProviders)
	if !ok {
		return
	}
	form, ok := s.readForm(w, r, sess, purposeProviderUnlink)
	if !ok {
		return
	}
	if s.cfg.Providers == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "Linked accounts are not offered on this server.")
		return
	}
	err := s.cfg.Providers.Unlink(r.Context(), u.ID, form.Get("provider"))
	switch auth.ErrorCode(err) {
	case "":
		s.renderProviders(w, r, sess, u, http.StatusOK, "The account was unlinked.", "")
	case auth.ECONFLICT, auth.ENOTFOUND:
		s.renderProviders(w, r, sess, u, http.StatusConflict, "", auth.ErrorMessage(err))
	default:
		s.serverError(w, r, err)
	}
}
