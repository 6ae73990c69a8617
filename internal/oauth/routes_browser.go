package oauth

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// PathStylesheet is the path of the pages' stylesheet, relative to the
// issuer.
const PathStylesheet = "/oauth2/assets/gatehouse.css"

// browserState is the state of the browser-facing side: authorize, login,
// consent and logout. Everything else it needs (pending requests, CSRF
// tokens) travels in the browser or lives in the shared store, so any node
// can serve any step; login throttling lives in the account service.
type browserState struct {
	origin string // the issuer's origin, for the Origin check of form POSTs
}

func (s *Server) initBrowser() error {
	u, err := url.Parse(s.issuer)
	if err != nil || u.Host == "" {
		return errors.New("oauth: Issuer is not a valid URL")
	}
	s.browser.origin = u.Scheme + "://" + u.Host
	return nil
}

// browserRoutes registers the authorize, login, consent and logout
// endpoints and the pages' stylesheet.
func (s *Server) browserRoutes(mux *http.ServeMux) {
	mux.HandleFunc(PathAuthorize, withResponseMode(s.handleAuthorize))
	mux.HandleFunc(PathLogin, withResponseMode(s.handleLogin))
	mux.HandleFunc(PathConsent, withResponseMode(s.handleConsent))
	mux.HandleFunc(PathLoginFactor, withResponseMode(s.handleLoginFactor))
	mux.HandleFunc(PathLoginPasskeyBegin, s.handlePasskeyBegin)
	mux.HandleFunc(PathLoginPasskeyFinish, s.handlePasskeyFinish)
	mux.HandleFunc(PathLoginContinue, withResponseMode(s.handleLoginContinue))
	mux.HandleFunc(PathLogout, s.handleLogout)
	mux.HandleFunc(PathDevice, s.handleDevicePage)
	mux.HandleFunc(PathAccountCallback, s.handleAccountCallback) // account.go
	mux.Handle(PathStylesheet, web.Stylesheet())
	mux.Handle(web.PasskeyScriptPath, web.PasskeyScriptHandler())
}
