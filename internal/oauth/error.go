package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Error codes of RFC 6749 5.2 (token endpoint) and 4.1.2.1 (authorization
// endpoint), RFC 8707 (invalid_target), OIDC Core 3.1.2.6 (login_required,
// consent_required) and RFC 6750 3.1 (invalid_token, insufficient_scope).
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidClient           = "invalid_client"
	CodeInvalidGrant            = "invalid_grant"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeUnsupportedGrantType    = "unsupported_grant_type"
	CodeInvalidScope            = "invalid_scope"
	CodeAccessDenied            = "access_denied"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeInvalidTarget           = "invalid_target"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeInvalidToken            = "invalid_token"
	CodeInsufficientScope       = "insufficient_scope"
)

// Error is an OAuth protocol error: the RFC 6749 "error" code, a
// description safe to show to the client, and the HTTP status of a direct
// (non-redirect) response. Cause, when set, is logged and never sent.
//
// Build one with the constructors below; each returns a fresh value, so a
// handler may set Cause on it without affecting other requests.
type Error struct {
	Code        string
	Description string
	Status      int
	Cause       error
}

func (e *Error) Error() string {
	if e.Description == "" {
		return "oauth: " + e.Code
	}
	return "oauth: " + e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// statusOf is the one table from error codes to the status of a direct
// response. RFC 6749 5.2 answers 400 for all token errors but
// invalid_client (401); RFC 6750 3.1 gives 401 for invalid_token and 403
// for insufficient_scope.
func statusOf(code string) int {
	switch code {
	case CodeInvalidClient, CodeInvalidToken:
		return http.StatusUnauthorized
	case CodeInsufficientScope:
		return http.StatusForbidden
	case CodeServerError:
		return http.StatusInternalServerError
	case CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// newError returns a fresh *Error with the status of its code.
func newError(code, format string, args ...any) *Error {
	desc := format
	if len(args) > 0 {
		desc = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Description: desc, Status: statusOf(code)}
}

func errInvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, format, args...)
}

// errInvalidClient is the one answer to every failed client
// authentication (unknown client, wrong secret, wrong method, bad
// assertion), so that a caller cannot tell which part was wrong.
func errInvalidClient() *Error {
	return newError(CodeInvalidClient, "Client authentication failed.")
}

func errInvalidGrant(format string, args ...any) *Error {
	return newError(CodeInvalidGrant, format, args...)
}

func errUnauthorizedClient(format string, args ...any) *Error {
	return newError(CodeUnauthorizedClient, format, args...)
}

func errUnsupportedGrantType(format string, args ...any) *Error {
	return newError(CodeUnsupportedGrantType, format, args...)
}

func errInvalidScope(format string, args ...any) *Error {
	return newError(CodeInvalidScope, format, args...)
}

func errAccessDenied(format string, args ...any) *Error {
	return newError(CodeAccessDenied, format, args...)
}

func errUnsupportedResponseType(format string, args ...any) *Error {
	return newError(CodeUnsupportedResponseType, format, args...)
}

func errServerError(cause error) *Error {
	e := newError(CodeServerError, "The server could not complete the request.")
	e.Cause = cause
	return e
}

func errTemporarilyUnavailable(cause error) *Error {
	e := newError(CodeTemporarilyUnavailable, "The server is temporarily unavailable; try again later.")
	e.Cause = cause
	return e
}

func errInvalidTarget(format string, args ...any) *Error {
	return newError(CodeInvalidTarget, format, args...)
}

func errLoginRequired(format string, args ...any) *Error {
	return newError(CodeLoginRequired, format, args...)
}

func errConsentRequired(format string, args ...any) *Error {
	return newError(CodeConsentRequired, format, args...)
}

func errInvalidToken(format string, args ...any) *Error {
	return newError(CodeInvalidToken, format, args...)
}

func errInsufficientScope(format string, args ...any) *Error {
	return newError(CodeInsufficientScope, format, args...)
}

// asError turns any error into an *Error for the wire. An *Error in err's
// chain is used as it is; a store that is down (auth.EUNAVAILABLE) becomes
// temporarily_unavailable; anything else becomes server_error, whose cause
// is logged by the caller and never sent.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Status == 0 {
			e.Status = statusOf(e.Code)
		}
		return e
	}
	if auth.ErrorCode(err) == auth.EUNAVAILABLE {
		return errTemporarilyUnavailable(err)
	}
	return errServerError(err)
}

// logError logs errors that are our fault: the cause stays in the log.
func (s *Server) logError(r *http.Request, e *Error) {
	if e.Code == CodeServerError || e.Code == CodeTemporarilyUnavailable {
		s.logger.ErrorContext(r.Context(), "oauth request failed",
			"path", r.URL.Path, "error", e.Code, "cause", e.Cause)
	}
}

// errorBody is the JSON of RFC 6749 5.2.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeTokenError answers a request of the token, revocation or
// introspection endpoint with the JSON error of RFC 6749 5.2. For
// invalid_client it answers 401 with a Basic WWW-Authenticate challenge:
// RFC 6749 5.2 requires it when the client tried HTTP Basic, and RFC 9110
// 15.5.2 requires a challenge on every 401, so it is sent also when the
// client authenticated in the body.
func (s *Server) writeTokenError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	s.logError(r, e)
	h := w.Header()
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="`+s.realm()+`", charset="UTF-8"`)
	}
	if e.Code == CodeTemporarilyUnavailable {
		h.Set("Retry-After", "5")
	}
	writeJSON(w, e.Status, errorBody{Error: e.Code, ErrorDescription: cleanDescription(e.Description)})
}

// redirectError sends the browser back to the client's redirect URI with
// the error in the query (RFC 6749 4.1.2.1), the state it sent, and the
// issuer (RFC 9207). Only call it once the client and the redirect URI are
// validated: an error before that must be shown to the user, never
// redirected (RFC 6749 4.1.2.1, open redirector).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, err error) {
	e := asError(err)
	s.logError(r, e)
	u, perr := url.Parse(redirectURI)
	if perr != nil {
		// A registered redirect URI always parses; refuse to guess.
		s.logger.ErrorContext(r.Context(), "oauth: unparsable redirect URI", "error", perr)
		http.Error(w, "Invalid redirect URI.", http.StatusBadRequest)
		return
	}
	q := u.Query()
	q.Set("error", e.Code)
	if d := cleanDescription(e.Description); d != "" {
		q.Set("error_description", d)
	}
	if state != "" {
		q.Set("state", state)
	}
	q.Set("iss", s.issuer)
	if formPostRequested(r) {
		resp := url.Values{"error": q["error"], "error_description": q["error_description"], "state": q["state"], "iss": q["iss"]}
		s.renderFormPost(w, redirectURI, resp)
		return
	}
	u.RawQuery = q.Encode()
	u.Fragment = ""
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	// 303 makes the browser follow with GET even after a POSTed login or
	// consent form, so the form is not replayed to the client (RFC 9700
	// 4.12).
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// cleanDescription keeps only the characters RFC 6749 5.2 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E), replacing others.
func cleanDescription(d string) string {
	ok := true
	for i := 0; i < len(d); i++ {
		if !descChar(d[i]) {
			ok = false
			break
		}
	}
	if ok {
		return d
	}
	b := []byte(d)
	for i, c := range b {
		if !descChar(c) {
			b[i] = '\''
			if c < 0x20 || c >= 0x7f {
				b[i] = '?'
			}
		}
	}
	return string(b)
}

func descChar(c byte) bool {
	return c == 0x20 || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)
}

// realm is the realm of WWW-Authenticate challenges: the issuer.
func (s *Server) realm() string { return s.issuer }

// writeJSON writes v with the no-store headers every OAuth response needs
// (RFC 6749 5.1: tokens and credentials must not be cached): web.WriteJSON.
func writeJSON(w http.ResponseWriter, status int, v any) { web.WriteJSON(w, status, v) }

// truncate shortens s to n bytes for an error description, so that a
// request cannot make us echo megabytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
