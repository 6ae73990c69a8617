package oauth

import (
	"context"
	"encoding/hex"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Federation is the upstream sign-in service (*federation.Service).
type Federation interface {
	Enabled(ctx context.Context) ([]*auth.Provider, error)
	Start(ctx context.Context, w http.ResponseWriter, name string, p federation.Pending) (string, error)
	Finish(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) (*federation.Result, error)
	Resolve(ctx context.Context, p *auth.Provider, id *federation.Identity) (*auth.User, string, error)
	Link(ctx context.Context, userID string, p *auth.Provider, id *federation.Identity) error
	Failed(ctx context.Context, provider, userID string, err error) error
}

// Paths of the upstream sign-in endpoints: PathProviders+NAME starts one,
// PathProviders+NAME+"/callback" is the redirect URI at the upstream.
const PathProviders = federation.PathPrefix

// providerRoutes registers the start and callback of upstream sign-ins.
func (s *Server) providerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathProviders+"{name}", s.handleProviderStart)
	mux.HandleFunc("GET "+PathProviders+"{name}/callback", s.handleProviderCallback)
}

// offerProviders adds a link per enabled provider to the login page,
// carrying the pending request. A store failure only hides them.
func (s *Server) offerProviders(r *http.Request, req *authzRequest, page *web.LoginPage) {
	if s.cfg.Federation == nil {
		return
	}
	ps, err := s.cfg.Federation.Enabled(r.Context())
	if err != nil {
		s.logger.WarnContext(r.Context(), "oauth: list providers", "err", err)
		return
	}
	for _, p := range ps {
		page.Providers = append(page.Providers, web.ProviderLink{
			Label: federation.Label(p),
			URL:   s.url(PathProviders+p.Name) + "?" + req.encode(),
		})
	}
}

// handleProviderStart starts a sign-in at the upstream provider for the
// authorization request in the query (as the login page's link carries
// it): the request is checked as /oauth2/authorize checks it, kept in the
// sealed flow cookie with state, nonce and PKCE verifier, and the browser
// is sent to the upstream.
func (s *Server) handleProviderStart(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Federation == nil {
		http.NotFound(w, r)
		return
	}
	raw, err := parseAuthorizeValues(r.URL.RawQuery)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	req, err := s.parseAuthorize(r.Context(), raw)
	if req == nil {
		s.errorPage(w, r, err)
		return
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	target, err := s.cfg.Federation.Start(r.Context(), w, r.PathValue("name"), federation.Pending{
		Purpose: federation.PurposeLogin, Request: req.encode(),
	})
	if err != nil {
		s.providerError(w, r, err)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// handleProviderCallback is the redirect URI of upstream sign-ins: the
// federation service checks state, iss, code and identity; a login then
// signs the local user in as a password does (afterFirstFactor: the
// user's second factor or the policy's enrolment first, then a session
// with amr "fed", plus the second factor's methods) and continues
// the authorization request; a link links the identity to the signed-in
// user who started it.
func (s *Server) handleProviderCallback(w http.ResponseWriter, r *http.Request) {
	fed := s.cfg.Federation
	if fed == nil {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	name := r.PathValue("name")
	res, err := fed.Finish(ctx, w, r, name)
	if err != nil {
		s.providerError(w, r, fed.Failed(ctx, name, "", err))
		return
	}
	switch res.Pending.Purpose {
	case federation.PurposeLogin:
		s.providerLogin(w, r, res)
	case federation.PurposeLink:
		s.providerLink(w, r, res)
	default:
		s.providerError(w, r, fed.Failed(ctx, name, "", &federation.Error{Reason: federation.ReasonNoPending}))
	}
}

func (s *Server) providerLogin(w http.ResponseWriter, r *http.Request, res *federation.Result) {
	ctx := r.Context()
	req, err := s.requestFromForm(ctx, res.Pending.Request)
	if req == nil {
		s.errorPage(w, r, err)
		return
	}
	if err != nil {
		s.redirectError(w, r, req.redirectURI, req.state, err)
		return
	}
	u, _, err := s.cfg.Federation.Resolve(ctx, res.Provider, res.Identity)
	if err != nil {
		s.providerError(w, r, err)
		return
	}
	pub, err := s.accounts.Get(ctx, u.ID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	// The upstream's sign-in is a first factor, like a password: the
	// user's own second factor (or the policy's) comes next, before any
	// session exists. The session says how the user signed in: "fed".
	s.afterFirstFactor(w, r, pub, []string{auth.AMRFederated}, &signInNext{flow: flowAuthorize, req: req},
		func(int, string) { s.errorPage(w, r, forbidden(msgSignInExpired)) })
}

func (s *Server) providerLink(w http.ResponseWriter, r *http.Request, res *federation.Result) {
	ctx := r.Context()
	fed := s.cfg.Federation
	sess, err := s.currentSession(ctx, r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	// The link is made for the user who started it, in the session they
	// started it in: never for whoever is signed in when the callback
	// comes.
	if sess == nil || sess.user.ID != res.Pending.UserID || hex.EncodeToString(sess.Hash) != res.Pending.Session {
		s.providerError(w, r, fed.Failed(ctx, res.Provider.Name, res.Pending.UserID,
			&federation.Error{Reason: federation.ReasonWrongSession, Message: "Sign in again, then link the provider from your account page."}))
		return
	}
	if err := fed.Link(ctx, sess.user.ID, res.Provider, res.Identity); err != nil {
		s.providerError(w, r, err)
		return
	}
	back := res.Pending.Return
	if !accountReturnPath(back) {
		back = "/account/providers"
	}
	http.Redirect(w, r, s.url(back), http.StatusSeeOther)
}

// providerError answers a refused or failed upstream sign-in: a refusal
// (federation.Error) with its message and 403 (404 for an unknown
// provider); anything else as the error page does.
func (s *Server) providerError(w http.ResponseWriter, r *http.Request, err error) {
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		web.RenderError(w, http.StatusNotFound, web.ErrorPage{Stylesheet: s.url(PathStylesheet), Title: "Not found", Message: "There is no such provider."})
		return
	}
	if auth.ErrorCode(err) == auth.EINVALID {
		web.RenderError(w, http.StatusBadRequest, web.ErrorPage{Stylesheet: s.url(PathStylesheet), Title: "Invalid request", Message: auth.ErrorMessage(err)})
		return
	}
	if federation.ReasonOf(err) == "" {
		s.errorPage(w, r, err)
		return
	}
	s.logger.InfoContext(r.Context(), "oauth: upstream sign-in refused", "err", err)
	web.RenderError(w, http.StatusForbidden, web.ErrorPage{Stylesheet: s.url(PathStylesheet), Title: "Sign-in failed", Message: federation.MessageOf(err)})
}
