package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Cross-origin requests (CORS) let browser applications — public clients
// that run in a page, the only kind of browser app OAuth 2.1 leaves once the
// implicit flow is gone — call the token, revocation and userinfo endpoints
// from their own origin.
//
// A client's web origins are the origins of its registered redirect URIs,
// as in Keycloak's "+" setting: a page that can receive the client's codes
// may also redeem them. A preflight names no client (it has no body and no
// credentials), so it is answered for any origin and grants nothing by
// itself; the browser lets a page read the real answer only if it carries
// Access-Control-Allow-Origin, which is set once the request's client is
// known and only for that client's origins. Discovery and the JWKS are
// public documents: any origin may read them.

// corsMaxAge is how long a browser may cache a preflight answer (seconds).
const corsMaxAge = "600"

type corsKey struct{}

// corsDecision is filled in by the handler once it knows the client.
type corsDecision struct {
	origin  string
	allowed bool
}

// withCORS wraps an endpoint that authenticates a client or a token: it
// answers preflights, and adds Access-Control-Allow-Origin to the answer
// when the handler marked the request's origin as one of its client's.
func withCORS(methods string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", methods)
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, DPoP")
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		d := &corsDecision{origin: origin}
		r = r.WithContext(context.WithValue(r.Context(), corsKey{}, d))
		next(&corsWriter{ResponseWriter: w, d: d}, r)
	}
}

// allowCORS marks the request's origin as allowed if it is a web origin
// of c. Handlers call it as soon as they know the client.
func allowCORS(r *http.Request, c *auth.Client) {
	d, ok := r.Context().Value(corsKey{}).(*corsDecision)
	if !ok || c == nil {
		return
	}
	d.allowed = isWebOrigin(c, d.origin)
}

// isWebOrigin reports whether origin is the origin (scheme, host and port)
// of one of c's redirect URIs, compared exactly as browsers send it.
func isWebOrigin(c *auth.Client, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	for _, ru := range c.RedirectURIs {
		u, err := url.Parse(ru)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		if strings.ToLower(u.Scheme)+"://"+strings.ToLower(u.Host) == origin {
			return true
		}
	}
	return false
}

// corsWriter sets Access-Control-Allow-Origin, if the handler allowed the
// origin, just before the status line goes out.
type corsWriter struct {
	http.ResponseWriter
	d     *corsDecision
	wrote bool
}

func (w *corsWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		if w.d.allowed {
			w.Header().Set("Access-Control-Allow-Origin", w.d.origin)
			// Bearer challenges and rate-limit hints are for the page too.
			w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After, DPoP-Nonce")
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *corsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// publicCORS lets any origin read a public document (discovery, JWKS).
func publicCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		next(w, r)
	}
}
