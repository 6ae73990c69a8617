package dashboard

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/routes"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// Default session timeouts: a dashboard left alone for IdleTimeout, or
// signed in for AbsoluteTimeout, signs in again (OWASP session management:
// minutes of idleness and hours in all for a privileged console).
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
)

// Config configures a Server. Every service is the one the admin API
// uses: the dashboard is a second transport over them, not a second copy
// of their rules. All fields are required except where noted.
type Config struct {
	// Issuer is the authorization server's issuer URL, which is also
	// where the dashboard is served: its redirect URIs hang below it.
	Issuer string
	// Authorization is the authorization server's handler. The
	// dashboard's code exchange is sent to it in process, so a node needs
	// no route to its own public URL.
	Authorization http.Handler
	// JWKS supplies the signing keys that verify the ID token at sign-in
	// (the keyring's).
	JWKS func() (doc []byte, version string)

	Keys        *apikey.Service
	Clients     *client.Registry
	Users       *account.Service
	Consents    *oauth.Server
	SigningKeys *signing.Keyring
	Routes      *routes.Service // nil: the routes page answers 404
	Webhooks    *webhook.Service
	// Providers manages the upstream identity providers; nil: the page
	// says they are not served.
	Providers *federation.Service
	// Factors shows and removes users' second factors on their pages; nil:
	// the section is not shown.
	Factors *factors.Service
	// Store reads what no service wraps: the audit log, usage counts and
	// the dashboard's own sessions.
	Store Store
	// Hasher keys the hashes of session tokens and the CSRF tokens.
	Hasher *secret.Hasher

	// Insecure drops the Secure attribute and the __Host- prefix of the
	// cookies, for plain-HTTP development (--dev) only.
	Insecure bool
	// IdleTimeout and AbsoluteTimeout end sessions; zero: the defaults.
	IdleTimeout, AbsoluteTimeout time.Duration
	// DeveloperScopes and DeveloperAudiences are what developers may give
	// their keys and clients (see grants.go); nil: nothing.
	DeveloperScopes, DeveloperAudiences []string
	Now                                 auth.Now     // nil: auth.SystemNow
	Logger                              *slog.Logger // nil: discard
}

// Store is what the dashboard reads and writes directly.
type Store interface {
	auth.AuditStore
	auth.UsageStore
	auth.DashboardSessionStore
}

// Server serves the dashboard under /dashboard/.
type Server struct {
	cfg     Config
	now     auth.Now
	logger  *slog.Logger
	origin  string // scheme://host[:port] of Issuer
	csrf    web.CSRF
	mux     *http.ServeMux
	signin  *signin
	idle    time.Duration
	maxLife time.Duration
}

// New checks cfg and registers the pages.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("dashboard: Config.Issuer is required")
	case cfg.Authorization == nil || cfg.JWKS == nil:
		return nil, errors.New("dashboard: Config.Authorization and JWKS are required")
	case cfg.Keys == nil || cfg.Clients == nil || cfg.Users == nil || cfg.Consents == nil ||
		cfg.SigningKeys == nil || cfg.Webhooks == nil:
		return nil, errors.New("dashboard: Config.Keys, Clients, Users, Consents, SigningKeys and Webhooks are required")
	case cfg.Store == nil || cfg.Hasher == nil:
		return nil, errors.New("dashboard: Config.Store and Hasher are required")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("dashboard: Config.Issuer must be an http(s) URL")
	}
	s := &Server{
		cfg:     cfg,
		now:     cfg.Now,
		logger:  cfg.Logger,
		origin:  u.Scheme + "://" + u.Host,
		idle:    cfg.IdleTimeout,
		maxLife: cfg.AbsoluteTimeout,
		mux:     http.NewServeMux(),
	}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.idle == 0 {
		s.idle = DefaultIdleTimeout
	}
	if s.maxLife == 0 {
		s.maxLife = DefaultAbsoluteTimeout
	}
	s.csrf = web.CSRF{Hasher: cfg.Hasher, Now: s.now}
	if s.signin, err = newSignin(s); err != nil {
		return nil, err
	}
	for _, p := range s.pages() {
		s.mux.Handle(p.pattern, s.wrap(p))
	}
	s.mux.Handle("GET /dashboard/static/", staticHandler())
	s.mux.HandleFunc("/dashboard/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, auth.Errorf(auth.ENOTFOUND, "There is no such page."))
	})
	s.mux.HandleFunc("/dashboard", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/", http.StatusMovedPermanently)
	})
	return s, nil
}

// Handler serves /dashboard and everything below it.
func (s *Server) Handler() http.Handler { return s.mux }

// access says who may open a page.
type access int

const (
	anyone    access = iota // no session needed (sign-in, callback, signed out)
	signedIn                // any signed-in user; developers see their owners' objects only
	adminOnly               // admins; a developer gets 403
)

// page is one entry of the route table: the single list of the
// dashboard's pages.
type page struct {
	pattern string // "METHOD /dashboard/path"
	access  access
	handle  func(w http.ResponseWriter, r *http.Request, v *viewer)
}

// pages lists every page. Each page group adds its own in its file.
func (s *Server) pages() []page {
	var all []page
	all = append(all, s.signinPages()...)
	for _, group := range pageGroups {
		all = append(all, group(s)...)
	}
	return all
}

// pageGroups are the pages of each file (keys.go, clients.go, ...), each
// registering itself in an init-free way: the list is fixed here.
var pageGroups = []func(*Server) []page{
	(*Server).overviewPages,
	(*Server).keysPages,
	(*Server).clientPages,
	(*Server).userPages,
	(*Server).signingKeyPages,
	(*Server).routePages,
	(*Server).webhookPages,
	(*Server).providerPages,
	(*Server).auditPages,
}

// wrap applies the security headers, the session and the page's access
// rule, and the CSRF check of every state-changing request.
func (s *Server) wrap(p page) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		web.SetScriptedHeaders(w.Header(), nil)
		if p.access == anyone {
			p.handle(w, r, nil)
			return
		}
		v, err := s.session(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if v == nil {
			s.requireSignIn(w, r)
			return
		}
		if p.access == adminOnly && !v.admin() {
			s.fail(w, r, auth.Errorf(auth.EFORBIDDEN, "This page is for administrators."))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !s.checkForm(w, r, v) {
				return
			}
		}
		p.handle(w, r, v)
	})
}

// requireSignIn sends a browser without a (live) session to sign in,
// coming back to the page it asked for. A form posted after the session
// ended is not replayed: the user is told, and signs in again.
func (s *Server) requireSignIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.fail(w, r, auth.Errorf(auth.EUNAUTHORIZED, "Your session has ended; sign in again and repeat the change."))
		return
	}
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, "/dashboard/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// localPath accepts only a path of the dashboard as a place to return to,
// so the sign-in cannot be made an open redirect.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/dashboard/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\x00\r\n") ||
		len(p) > 2000 {
		return "/dashboard/"
	}
	return p
}
