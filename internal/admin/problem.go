package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/problem"
)

// problemTypePrefix starts the RFC 9457 "type" of every problem; the auth
// error code follows it, so clients can tell problems apart without parsing
// the human-readable text. It is the scheme of every Gatehouse problem
// (package problem; docs/problems.md).
const problemTypePrefix = problem.TypePrefix

// kindMethodNotAllowed is the route-level problem that no service raises,
// so it is not an auth code.
var kindMethodNotAllowed = problem.MethodNotAllowed()

// problemKinds is the one table from auth error codes (the kinds' names) to
// HTTP statuses. The server maps errors with it and the Client maps
// statuses back with it. Any code not listed is treated as EINTERNAL.
var problemKinds = [...]problem.Kind{
	{Name: auth.EINVALID, Status: http.StatusBadRequest, Title: "Invalid request"},
	{Name: auth.EUNAUTHORIZED, Status: http.StatusUnauthorized, Title: "Unauthorized"},
	{Name: auth.EFORBIDDEN, Status: http.StatusForbidden, Title: "Forbidden"},
	{Name: auth.ENOTFOUND, Status: http.StatusNotFound, Title: "Not found"},
	{Name: auth.ECONFLICT, Status: http.StatusConflict, Title: "Conflict"},
	{Name: auth.ETOOLARGE, Status: http.StatusRequestEntityTooLarge, Title: "Request body too large"},
	problem.RateLimited(), // auth.ERATELIMITED
	problem.Unavailable(), // auth.EUNAVAILABLE
	{Name: auth.EINTERNAL, Status: http.StatusInternalServerError, Title: "Internal server error"},
}

// Refusals of an admin key that say more than their auth code, with the
// gateway's and verify's types (one definition, package problem): a key
// out of credits is not over a rate (no Retry-After), and one used from
// outside its networks is told so.
var (
	kindUsageExceeded = problem.UsageExceeded()
	kindIPNotAllowed  = problem.IPNotAllowed()
)

// Problems lists the kinds of problem the admin API answers with, for the
// documentation's test.
func Problems() []problem.Kind {
	return append(problemKinds[:len(problemKinds):len(problemKinds)], kindMethodNotAllowed, kindUsageExceeded, kindIPNotAllowed)
}

// kindError is an *auth.Error (its code for everything that reads one,
// the Client's mapping of the status included) answered with a problem
// kind of its own rather than its code's.
type kindError struct {
	kind problem.Kind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// kindOfCode returns the table row of code, or the EINTERNAL row.
func kindOfCode(code string) problem.Kind {
	for _, k := range problemKinds {
		if k.Name == code {
			return k
		}
	}
	return problemKinds[len(problemKinds)-1]
}

// codeOfStatus maps a status back to an auth code for the Client: the table
// row, else EINVALID for other 4xx and EINTERNAL for anything else.
func codeOfStatus(status int) string {
	for _, k := range problemKinds {
		if k.Status == status {
			return k.Name
		}
	}
	if status >= 400 && status < 500 {
		return auth.EINVALID
	}
	return auth.EINTERNAL
}

// codeOfProblem reads the code back from a problem's type, falling back to
// its status for problems that did not come from Gatehouse.
func codeOfProblem(p *Problem, status int) string {
	if code, ok := problem.NameOf(p.Type); ok {
		for _, k := range problemKinds {
			if k.Name == code {
				return code
			}
		}
	}
	return codeOfStatus(status)
}

// writeError answers with the problem for err. The message of an
// *auth.Error is meant for callers and is returned; anything internal is
// logged with its detail and answered with a generic text, so no database
// error or stack of wrapped context ever reaches a client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := kindOfCode(auth.ErrorCode(err))
	if ke := (*kindError)(nil); errors.As(err, &ke) {
		kind = ke.kind
	}
	detail := auth.ErrorMessage(err)
	switch kind.Name {
	case auth.EINTERNAL:
		detail = "Internal error; it has been logged."
		s.logger.ErrorContext(r.Context(), "admin: internal error",
			"method", r.Method, "route", routeOf(r), "err", err)
	case auth.EUNAVAILABLE:
		s.logger.WarnContext(r.Context(), "admin: dependency unavailable",
			"method", r.Method, "route", routeOf(r), "err", err)
	}
	problem.Write(w, kind.With(detail))
}

// writeJSON writes v with the given status. Every response of this API may
// hold key material or audit data, so none may be cached.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	// The whole body is encoded before anything is written, so that a
	// failure can still be answered with a problem.
	buf := responseBuffers.Get().(*responseBuffer)
	defer buf.release()
	if err := buf.enc.Encode(v); err != nil {
		s.writeError(w, r, err)
		return
	}
	setBodyHeaders(w.Header(), "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// setBodyHeaders sets the headers of every response with a body: its
// Content-Type, and neither caching nor sniffing.
func setBodyHeaders(h http.Header, contentType string) {
	// What three calls of h.Set do, in one allocation rather than three.
	// Each slice is capped at its own element, so that an Add to one
	// header cannot overwrite the next.
	v := []string{contentType, "no-store", "nosniff"}
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
}

// responseBuffer is a response body being encoded. Encoder.Encode writes
// what json.Marshal returns, followed by a newline.
type responseBuffer struct {
	bytes.Buffer
	enc *json.Encoder
}

// maxPooledResponse caps the buffers kept for reuse; the rare larger body
// (a long list) leaves its buffer to the garbage collector.
const maxPooledResponse = 64 << 10

var responseBuffers = sync.Pool{New: func() any {
	b := new(responseBuffer)
	b.enc = json.NewEncoder(&b.Buffer)
	return b
}}

func (b *responseBuffer) release() {
	if b.Cap() > maxPooledResponse {
		return
	}
	b.Reset()
	responseBuffers.Put(b)
}

// StatusOf returns the HTTP status and title of err by the one table above,
// for the dashboard's pages, which answer the same services' errors.
func StatusOf(err error) (status int, title string) {
	k := kindOfCode(auth.ErrorCode(err))
	return k.Status, k.Title
}
