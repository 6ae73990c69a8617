package dashboard

import "net/http"

func (s *Server) overviewPages() []page {
	return []page{
		{"GET /dashboard/{$}", signedIn, s.handleOverview},
	}
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.show(w, r, v, http.StatusOK, "overview.html", &view{Title: "Overview", Nav: "overview"})
}
