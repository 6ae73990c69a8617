package oauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// handleJWKS serves the public keys (RFC 7517 5) with the keyring's strong
// ETag, answering 304 to a matching If-None-Match, and the Cache-Control
// the keyring's rotation schedule is built around.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag := s.keys.JWKS()
	h := w.Header()
	h.Set("Cache-Control", s.keys.CacheControl())
	h.Set("Access-Control-Allow-Origin", "*")
	if etag != "" {
		h.Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", "application/jwk-set+json")
	w.Write(body)
}

// etagMatches implements the If-None-Match comparison (RFC 9110 13.1.2:
// weak comparison, a list of tags or "*").
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// jsonIndent encodes v for documents people read (discovery).
func jsonIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
