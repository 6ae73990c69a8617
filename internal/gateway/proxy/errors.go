package proxy

import (
	"errors"
	"net/http"
)

// statusClientClosedRequest is what a request whose client went away is
// answered with. Nobody reads it; it keeps access logs and metrics from
// counting the client's departure as an upstream failure (nginx's 499).
const statusClientClosedRequest = 499

// problems are the bodies of the answers when no upstream answered
// (RFC 9457). The detail is generic on purpose: upstream addresses and
// transport errors are for the logs, not for callers.
var problems = map[ErrorKind]struct {
	status int
	body   string
}{
	KindUnavailable: {http.StatusBadGateway, `{"type":"urn:gatehouse:problem:upstream_unavailable","title":"Bad gateway","status":502,"detail":"The upstream service is unavailable."}` + "\n"},
	KindTimeout:     {http.StatusGatewayTimeout, `{"type":"urn:gatehouse:problem:upstream_timeout","title":"Gateway timeout","status":504,"detail":"The upstream service did not answer in time."}` + "\n"},
	KindError:       {http.StatusBadGateway, `{"type":"urn:gatehouse:problem:upstream_error","title":"Bad gateway","status":502,"detail":"The upstream service failed to answer."}` + "\n"},
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
	pr := problems[kind]
	writeProblem(w, pr.status, pr.body)
}

// writeProblem answers status with an RFC 9457 body.
func writeProblem(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
