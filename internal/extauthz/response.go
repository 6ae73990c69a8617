package extauthz

import (
	"net/http"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/gatehouse-dev/gatehouse/internal/gateway"
)

// recorder captures the decision: its status, headers and body.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

func (w *recorder) reset() {
	clear(w.header)
	if len(w.header) > maxKept {
		w.header = make(http.Header, 8)
	}
	w.status = 0
	w.body = w.body[:0]
	if cap(w.body) > 64<<10 {
		w.body = nil
	}
}

// response turns the recorded decision into Envoy's answer; forwarded is
// the request's Header as the decision left it (what the gateway would
// have forwarded upstream).
//
// Allowed (200), the status is OK and the OkHttpResponse carries, in
// headers, the identity headers and the Authorization of an internal_jwt
// route, each overwriting what the client sent; in headers_to_remove,
// every header of the client's that the gateway would not have forwarded
// (any X-Gatehouse-* the decision does not set, in any spelling; the API
// key; X-Real-IP; the URL- and method-override headers; a route's
// strip_headers) — so that no spoofed identity reaches the upstream; and
// in response_headers_to_add, the decision's other headers (RateLimit-*,
// X-Request-Id) for the client.
//
// Refused, the status is UNAUTHENTICATED for 401 and PERMISSION_DENIED
// for every other refusal (Envoy denies on any status but OK), and the
// DeniedHttpResponse carries the decision's exact HTTP status, every
// header and the problem body. A refusal is never an error_response: with
// failure_mode_allow, Envoy would let such a request through.
func (c *check) response(forwarded http.Header) *authv3.CheckResponse {
	if c.rec.status == http.StatusOK || c.rec.status == 0 {
		return c.allowed(forwarded)
	}
	return c.denied()
}

func (c *check) allowed(forwarded http.Header) *authv3.CheckResponse {
	out := c.rec.header
	var remove []string
	cookie := ""
	for _, s := range c.sent {
		if _, set := out[s.key]; set && upstreamHeader(s.key) {
			continue // overwritten
		}
		vals, kept := forwarded[s.key]
		switch {
		case !kept, s.key == headerRealIP:
			remove = append(remove, s.name)
		case s.key == "Cookie" && !slices.Equal(vals, c.cookie):
			// The gateway's own cookies (the sign-in session) were
			// taken out of the client's: forward the others only.
			cookie = strings.Join(vals, "; ")
		}
	}
	n := 0
	for _, vals := range out {
		n += len(vals)
	}
	if cookie != "" {
		n++
	}
	opts := newOptions(n)
	i := 0
	for _, name := range upstreamHeaders {
		i = setValues(opts, i, name, out[name])
	}
	if cookie != "" {
		setValue(opts[i], "Cookie", cookie, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
		i++
	}
	up := i
	for name, vals := range out {
		if !upstreamHeader(name) {
			i = setValues(opts, i, name, vals)
		}
	}
	a := new(okAnswer)
	a.status.Code = int32(codes.OK)
	a.ok.Headers, a.ok.HeadersToRemove, a.ok.ResponseHeadersToAdd = opts[:up:up], remove, opts[up:i]
	a.oneof.OkResponse = &a.ok
	a.resp.Status, a.resp.HttpResponse = &a.status, &a.oneof
	return &a.resp
}

// okAnswer and deniedAnswer are the messages of an answer, allocated
// together.
type okAnswer struct {
	resp   authv3.CheckResponse
	status rpcstatus.Status
	oneof  authv3.CheckResponse_OkResponse
	ok     authv3.OkHttpResponse
}

type deniedAnswer struct {
	resp   authv3.CheckResponse
	status rpcstatus.Status
	oneof  authv3.CheckResponse_DeniedResponse
	denied authv3.DeniedHttpResponse
	http   typev3.HttpStatus
}

func (c *check) denied() *authv3.CheckResponse {
	out := c.rec.header
	n := 0
	for _, vals := range out {
		n += len(vals)
	}
	opts := newOptions(n)
	i := 0
	for name, vals := range out {
		i = setValues(opts, i, name, vals)
	}
	code := codes.PermissionDenied
	if c.rec.status == http.StatusUnauthorized {
		code = codes.Unauthenticated
	}
	a := new(deniedAnswer)
	a.status.Code = int32(code)
	a.http.Code = typev3.StatusCode(c.rec.status)
	a.denied.Status, a.denied.Headers, a.denied.Body = &a.http, opts[:i], string(c.rec.body)
	a.oneof.DeniedResponse = &a.denied
	a.resp.Status, a.resp.HttpResponse = &a.status, &a.oneof
	return &a.resp
}

// headerRealIP is set by the gateway to the client it believes; the
// client's own value must not pass.
const headerRealIP = "X-Real-Ip"

// upstreamHeaders are the headers an allowed decision sets on the request
// Envoy forwards, in the order they are sent.
var upstreamHeaders = append(gateway.IdentityHeaders[:len(gateway.IdentityHeaders):len(gateway.IdentityHeaders)], "Authorization")

func upstreamHeader(key string) bool {
	for _, name := range upstreamHeaders {
		if key == name {
			return true
		}
	}
	return false
}

// newOptions returns n header mutations, allocated together.
func newOptions(n int) []*corev3.HeaderValueOption {
	ptrs := make([]*corev3.HeaderValueOption, n)
	opts := make([]headerOption, n)
	for i := range ptrs {
		opts[i].opt.Header = &opts[i].val
		ptrs[i] = &opts[i].opt
	}
	return ptrs
}

type headerOption struct {
	opt corev3.HeaderValueOption
	val corev3.HeaderValue
}

// setValues sets opts[i:] to name's values and returns the index after
// them: the first value replaces whatever the header held, the others are
// appended to it.
func setValues(opts []*corev3.HeaderValueOption, i int, name string, vals []string) int {
	for j, v := range vals {
		action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		if j > 0 {
			action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
		setValue(opts[i], name, v, action)
		i++
	}
	return i
}

func setValue(o *corev3.HeaderValueOption, name, value string, action corev3.HeaderValueOption_HeaderAppendAction) {
	o.Header.Key, o.Header.Value = name, value
	o.AppendAction = action
}
