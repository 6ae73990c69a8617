package oauth

import "net/http"

// tokenRoutes registers the token, revocation, introspection, userinfo,
// discovery and JWKS endpoints. The OAuth endpoints check the method
// themselves, so a wrong one gets an OAuth error body.
func (s *Server) tokenRoutes(mux *http.ServeMux) {
	// Browser applications may call these from their own origin (cors.go);
	// introspection is for resource servers and stays same-origin.
	mux.HandleFunc(PathToken, withCORS("POST", s.handleToken))
	mux.HandleFunc(PathRevoke, withCORS("POST", s.handleRevoke))
	mux.HandleFunc(PathIntrospect, s.handleIntrospect)
	mux.HandleFunc(PathDeviceAuthorization, s.handleDeviceAuthorization)
	mux.HandleFunc(PathUserinfo, withCORS("GET, POST", s.handleUserinfo))
	mux.HandleFunc("GET "+PathOIDCDiscovery, publicCORS(s.handleDiscovery))
	mux.HandleFunc("GET "+PathASMetadata, publicCORS(s.handleDiscovery))
	mux.HandleFunc("GET "+PathJWKS, publicCORS(s.handleJWKS))
}
