package oauth

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxFormBytes bounds the body of a token, revocation or introspection
// request. The largest legitimate parameter is a client assertion of a few
// kilobytes.
const maxFormBytes = 16 << 10

// multiValued are the parameters that may appear more than once (RFC 8707
// 2: several resource indicators; RFC 8693 2.1: several audiences). Every
// other parameter must appear at most once (RFC 6749 3.1, 3.2).
var multiValued = map[string]bool{"resource": true, "audience": true}

// readForm reads the form-encoded body of a POST to the token, revocation
// or introspection endpoint (RFC 6749 3.2): POST only, Content-Type
// application/x-www-form-urlencoded, at most maxFormBytes, no parameters
// in the URL (credentials must not travel in URLs), no parameter twice.
// Every refusal is an *Error (invalid_request).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		e := errInvalidRequest("The endpoint accepts only POST.")
		e.Status = http.StatusMethodNotAllowed
		return nil, e
	}
	if r.URL.RawQuery != "" {
		return nil, errInvalidRequest("Parameters must be sent in the request body, not in the URL.")
	}
	body, err := readBody(w, r, maxFormBytes)
	if err != nil {
		return nil, err
	}
	return parseForm(r.Header.Get("Content-Type"), body)
}

// readBody reads a request body of at most max bytes: a larger one is
// invalid_request with status 413.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			e := errInvalidRequest("The request body is too large.")
			e.Status = http.StatusRequestEntityTooLarge
			return nil, e
		}
		return nil, errInvalidRequest("The request body could not be read.")
	}
	return body, nil
}

// parseForm checks the content type and parses a form-encoded body,
// refusing repeated parameters. An empty value counts as absent (RFC 6749
// 3.1) and is dropped.
func parseForm(contentType string, body []byte) (url.Values, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("The Content-Type must be application/x-www-form-urlencoded.")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, errInvalidRequest("The form must be encoded in UTF-8.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errInvalidRequest("The request body is not a valid form.")
	}
	for k, vs := range form {
		n := 0
		for _, v := range vs {
			if v != "" {
				vs[n] = v
				n++
			}
		}
		switch {
		case n == 0:
			delete(form, k)
		case n > 1 && !multiValued[k]:
			return nil, errInvalidRequest("The parameter %q appears more than once.", truncate(k, 40))
		default:
			form[k] = vs[:n]
		}
	}
	return form, nil
}

// parseBasicAuth decodes HTTP Basic client credentials. RFC 6749 2.3.1
// has the client form-urlencode its ID and secret before joining them, so
// both are decoded after the split; net/http's BasicAuth does not do that.
// present is false without a Basic Authorization header; ok is false for a
// Basic header that cannot be decoded.
func parseBasicAuth(header string) (id, secret string, present, ok bool) {
	scheme, cred, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, false
	}
	if len(cred) > 1024 {
		return "", "", true, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", "", true, false
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", true, false
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", true, false
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", true, false
	}
	if id == "" {
		return "", "", true, false
	}
	return id, secret, true, true
}
