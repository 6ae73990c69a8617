package proxy

import (
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/problem"
)

// statusClientClosedRequest is what a request whose client went away is
// answered with. Nobody reads it; it keeps access logs and metrics from
// counting the client's departure as an upstream failure (nginx's 499).
const statusClientClosedRequest = 499

// reply is an answer of the proxy's own: a problem rendered once, or, for
// 499, only a status.
type reply struct {
	status int
	doc    *problem.Rendered // nil: no body
}

// newReply renders the problem of kind once. The detail is generic on
// purpose: upstream addresses and transport errors are for the logs, not
// for callers.
func newReply(kind problem.Kind, detail string) reply {
	r := problem.Render(kind.With(detail))
	return reply{status: kind.Status, doc: &r}
}

// The proxy's refusal table: every answer it writes itself is one of these
// kinds; docs/problems.md documents them.
var (
	// No upstream answered.
	kindUpstreamUnavailable = problem.Kind{Name: "upstream_unavailable", Status: http.StatusBadGateway, Title: "Bad gateway"}
	kindUpstreamTimeout     = problem.Kind{Name: "upstream_timeout", Status: http.StatusGatewayTimeout, Title: "Gateway timeout"}
	kindUpstreamError       = problem.Kind{Name: "upstream_error", Status: http.StatusBadGateway, Title: "Bad gateway"}
	// The client's request body could not be read (bodyReadStatus).
	kindBodyTimeout   = problem.Kind{Name: "request_body_timeout", Status: http.StatusRequestTimeout, Title: "Request timeout"}
	kindBodyMalformed = problem.Kind{Name: "request_body_malformed", Status: http.StatusBadRequest, Title: "Bad request"}
	kindBodyTooLarge  = problem.Kind{Name: "request_body_too_large", Status: http.StatusRequestEntityTooLarge, Title: "Request body too large"}
)

// Problems lists the kinds of problem the proxy answers with, for the
// documentation's test.
func Problems() []problem.Kind {
	return []problem.Kind{kindUpstreamUnavailable, kindUpstreamTimeout, kindUpstreamError, kindBodyTimeout, kindBodyMalformed, kindBodyTooLarge}
}

// The proxy's answers, rendered once.
var (
	problemUpstreamUnavailable = newReply(kindUpstreamUnavailable, "The upstream service is unavailable.")
	problemUpstreamTimeout     = newReply(kindUpstreamTimeout, "The upstream service did not answer in time.")
	problemUpstreamError       = newReply(kindUpstreamError, "The upstream service failed to answer.")

	problemBodyTimeout   = newReply(kindBodyTimeout, "The request body did not arrive in time.")
	problemBodyMalformed = newReply(kindBodyMalformed, "The request body is malformed.")
	problemBodyTooLarge  = newReply(kindBodyTooLarge, "The request body is too large.")
)

// upstreamProblems are the answers when no upstream answered, by kind.
var upstreamProblems = map[ErrorKind]reply{
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
	upstreamProblems[kind].write(w)
}

// write answers with the reply: its problem, or only its status.
func (pr reply) write(w http.ResponseWriter) {
	if pr.doc == nil {
		w.WriteHeader(pr.status)
		return
	}
	pr.doc.Write(w)
}
