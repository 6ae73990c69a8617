package oauth

import "net/http"

// tokenState is the state of the machine-facing side: the token,
// revocation, introspection, userinfo, discovery and JWKS endpoints.
type tokenState struct {
	clients clientCache // recently used clients, for the token endpoint's speed
}

func (s *Server) initTokens() error { return nil }

// tokenRoutes registers the token, revocation, introspection, userinfo,
// discovery and JWKS endpoints.
func (s *Server) tokenRoutes(mux *http.ServeMux) {}
