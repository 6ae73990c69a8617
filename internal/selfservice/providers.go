package selfservice

import (
	"context"
	"encoding/hex"
	"net/http"

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
	s.renderProvidersContinue(w, r, sess, u, status, notice, errMsg, nil)
}

func (s *Server) renderProvidersContinue(w http.ResponseWriter, r *http.Request, sess *auth.Session, u *auth.User, status int, notice, errMsg string, continueTo *providerContinue) {
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
	page := web.AccountProvidersPage{AccountFrame: s.frame(sess, u, pathProviders), UnlinkCSRF: s.csrfToken(sess, purposeProviderUnlink),
		LinkCSRF: s.csrfToken(sess, purposeProviderLink)}
	page.Notice, page.Error = notice, errMsg
	for _, p := range ps {
		ap := web.AccountProvider{Name: p.Name, Label: federation.Label(p)}
		if l := linked[p.Name]; l != nil {
			ap.Linked, ap.Email = true, l.Email
		}
		if continueTo != nil && continueTo.provider == p.Name {
			page.Continue, page.ContinueLabel = continueTo.url, ap.Label
		}
		page.Providers = append(page.Providers, ap)
	}
	if page.Continue != "" {
		// The form's answer cannot be a redirect to the provider: the
		// page's CSP (form-action 'self') applies to redirects after a
		// form. A Refresh is a navigation of its own.
		w.Header().Set("Refresh", "0; url="+page.Continue)
	}
	web.RenderAccount(w, status, "account_providers.html", page)
}

// providerContinue is where a sent link form continues: the provider and
// its authorization URL.
type providerContinue struct{ provider, url string }

// handleProviderLink serves POST /account/providers/link, the link form
// (its CSRF token in the body, never in a URL): with the sign-in a factor
// change needs (factorChange), the browser goes on to the provider; its
// callback links the identity to this user in this session
// (oauth.providerLink).
func (s *Server) handleProviderLink(w http.ResponseWriter, r *http.Request) {
	sess, u, _, ok := s.requireFactorChange(w, r, pathProviders)
	if !ok {
		return
	}
	q, ok := s.readForm(w, r, sess, purposeProviderLink)
	if !ok {
		return
	}
	if s.cfg.Providers == nil {
		s.errorPage(w, http.StatusNotFound, "Page not found", "Linked accounts are not offered on this server.")
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
	s.renderProvidersContinue(w, r, sess, u, http.StatusOK, "", "", &providerContinue{provider: q.Get("provider"), url: target})
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
