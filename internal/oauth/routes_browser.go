package oauth

import "net/http"

// browserState is the state of the browser-facing side: authorize, login,
// consent and logout.
type browserState struct{}

func (s *Server) initBrowser() error { return nil }

// browserRoutes registers the authorize, login, consent and logout endpoints.
func (s *Server) browserRoutes(mux *http.ServeMux) {}
