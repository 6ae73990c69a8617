package admin

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the hand-written OpenAPI 3.1 description of every
// route; TestOpenAPIMatchesRoutes keeps it and the route table in step.
//
//go:embed openapi.json
var openAPIDocument []byte

// handleOpenAPI serves GET /admin/v1/openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(openAPIDocument)
	return nil
}
