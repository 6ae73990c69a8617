package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// OAuth 2.0 Form Post Response Mode: with response_mode=form_post, the
// authorization response (the code, state and iss, or the error) reaches
// the client as a form the browser POSTs to the redirect URI, submitted
// by a script the page's CSP allows by its hash (web.RenderFormPost),
// rather than in the redirect's query.
//
// The mode is known once parseAuthorize has checked the client and its
// redirect URI; the responses are written further on (issueCode,
// redirectError). A request to the browser endpoints carries a
// responseMode in its context, which parseAuthorize fills in and those
// two read.

const responseModeFormPost = "form_post"

type responseModeKey struct{}

// responseMode is the response mode of the request being served.
type responseMode struct{ formPost bool }

// withResponseMode gives each request to h a responseMode to fill in.
func withResponseMode(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(context.WithValue(r.Context(), responseModeKey{}, &responseMode{})))
	}
}

// noteResponseMode records the response mode of a request whose client
// and redirect URI are valid: form_post when asked for exactly so, to an
// http or https redirect URI (validate refuses form_post otherwise, and
// that error goes back in the query).
func noteResponseMode(ctx context.Context, q url.Values) {
	if m, ok := ctx.Value(responseModeKey{}).(*responseMode); ok {
		m.formPost = len(q["response_mode"]) == 1 && q.Get("response_mode") == responseModeFormPost &&
			len(q["redirect_uri"]) == 1 && formPostTarget(q.Get("redirect_uri"))
	}
}

// formPostTarget reports whether a form can be posted to redirectURI:
// only an http or https one. A browser hands a private-use scheme
// (com.example.app:/cb, RFC 8252 7.1) to the operating system as a bare
// URI, without the POST body, so a form_post response there would be
// lost; html/template would also refuse such an action as unsafe. A
// native app uses the query response mode instead.
func formPostTarget(redirectURI string) bool {
	u, err := url.Parse(redirectURI)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http")
}

func formPostRequested(r *http.Request) bool {
	m, ok := r.Context().Value(responseModeKey{}).(*responseMode)
	return ok && m.formPost
}

// sendAuthzResponse sends params (code, state, iss) to the redirect URI:
// in its query with a 303, or as a form post.
func (s *Server) sendAuthzResponse(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	if formPostRequested(r) {
		s.renderFormPost(w, redirectURI, params)
		return
	}
	web.SetHeaders(w.Header(), nil)
	http.Redirect(w, r, appendQuery(redirectURI, params), http.StatusSeeOther)
}

// renderFormPost writes the page that posts params to the redirect URI
// (its own query kept in the action, RFC 6749 3.1.2).
func (s *Server) renderFormPost(w http.ResponseWriter, redirectURI string, params url.Values) {
	action, _, _ := strings.Cut(redirectURI, "#")
	fields := make([]web.Field, 0, len(params))
	for _, k := range []string{"code", "state", "iss", "error", "error_description"} {
		if v := params.Get(k); v != "" {
			fields = append(fields, web.Field{Name: k, Value: v})
		}
	}
	web.RenderFormPost(w, http.StatusOK, web.FormPostPage{Stylesheet: s.url(PathStylesheet), Action: action, Fields: fields}, cspOrigin(redirectURI))
}
