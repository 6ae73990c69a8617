package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// statusClientClosedRequest is what a request whose client went away is
// answered with. Nobody reads it; it keeps access logs and metrics from
// counting the client's departure as an upstream failure (nginx's 499).
const statusClientClosedRequest = 499

// problem is an answer of the proxy's own (RFC 9457): its status and
// its body, rendered once.
type problem struct {
	status int
	body   string
}

// newProblem renders the problem document of type
// "urn:gatehouse:problem:<code>" (the prefix of every problem Gatehouse
// writes). The detail is generic on purpose: upstream addresses and
// transport errors are for the logs, not for callers.
func newProblem(status int, code, title, detail string) problem {
	b, err := json.Marshal(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"urn:gatehouse:problem:" + code, title, status, detail})
	if err != nil {
		panic(err) // strings and an int
	}
	return problem{status, string(b) + "\n"}
}

// The proxy's problems: every answer it writes itself is one of these.
var (
	// No upstream answered.
	problemUpstreamUnavailable = newProblem(http.StatusBadGateway, "upstream_unavailable", "Bad gateway", "The upstream service is unavailable.")
	problemUpstreamTimeout     = newProblem(http.StatusGatewayTimeout, "upstream_timeout", "Gateway timeout", "The upstream service did not answer in time.")
	problemUpstreamError       = newProblem(http.StatusBadGateway, "upstream_error", "Bad gateway", "The upstream service failed to answer.")

	// The client's request body could not be read (bodyReadStatus).
	problemBodyTimeout   = newProblem(http.StatusRequestTimeout, "request_body_timeout", "Request timeout", "The request body did not arrive in time.")
	problemBodyMalformed = newProblem(http.StatusBadRequest, "request_body_malformed", "Bad request", "The request body is malformed.")
	problemBodyTooLarge  = newProblem(http.StatusRequestEntityTooLarge, "request_body_too_large", "Request body too large", "The request body is too large.")
)

// upstreamProblems are the answers when no upstream answered, by kind.
var upstreamProblems = map[ErrorKind]problem{
	KindUnavailable: problemUpstreamUnavailable,
	KindTimeout:     problemUpstreamTimeout,
	KindError:       problemUpstreamError,
}

// serveError is ReverseProxy's ErrorHandler: r is the outbound request
// (its context carries the request's state).
func (p *Proxy) serveError(w http.ResponseWriter, r *http.Request, err error) {
	var body *clientBodyError
	if errors.As(err, &body) {
		p.serveBodyError(w, r, body.body)
		return
	}
	var gone *clientGoneError
	if errors.As(err, &gone) || r.Context().Err() != nil {
		p.log.DebugContext(r.Context(), "proxy: client went away", "err", err)
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	kind := KindError
	upstream := ""
	var ue *upstreamError
	if errors.As(err, &ue) {
		kind, upstream = ue.kind, ue.upstream
	} else if p.onError != nil {
		// A failure after the round trip (a refused protocol switch):
		// roundTrip has not reported it.
		st, _ := r.Context().Value(stateKey{}).(*requestState)
		in := r
		if st != nil {
			in = st.in
		}
		p.onError(in, upstream, kind, err)
	}
	// OnError is where failures are logged and counted; this is detail.
	p.log.DebugContext(r.Context(), "proxy: upstream failed",
		"upstream", upstream, "kind", string(kind), "err", err)
	writeProblem(w, upstreamProblems[kind])
}

// writeProblem answers with pr, the one writer of the proxy's problems.
func writeProblem(w http.ResponseWriter, pr problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(pr.status)
	_, _ = io.WriteString(w, pr.body)
}
