// Package problem writes the RFC 9457 problem details that every Gatehouse
// HTTP surface answers errors with — the admin API, the gateway, its
// reverse proxy, and services that use package verify — and names their
// types in one scheme, urn:gatehouse:problem:<name>. docs/problems.md lists
// every name with its status and meaning; each surface keeps one table from
// its own refusals to Kinds, and a test holds the tables and the document
// to each other.
//
// Gatehouse does not use "about:blank": RFC 9457 §4.2.1 keeps it for
// problems that mean no more than their status, and each of Gatehouse's
// refusals means more (a caller can tell a missing credential from an
// invalid one, a route that does not exist from one held out of service).
//
// The package is public because package verify, which services import,
// writes problems too and must not import Gatehouse's internal packages.
package problem

import (
	"encoding/json"
	"net/http"
	"strings"
)

// TypePrefix starts the type of every problem Gatehouse writes; the Kind's
// name follows it.
const TypePrefix = "urn:gatehouse:problem:"

// Details is an RFC 9457 problem details object.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Kind is one kind of problem as it appears on the wire: the name that ends
// its type, its status and its title. A surface's table maps each of its
// refusals to a Kind; the detail is the surface's, safe to show.
type Kind struct {
	Name   string
	Status int
	Title  string
}

// The kinds that more than one surface answers with. RFC 9457 §3.1.3 wants
// one title for every occurrence of a type, so each lives here once and
// every surface uses it rather than a copy of its own. They are functions,
// not variables, so that a program importing this package cannot change
// what another surface answers.
//
// Titles are in sentence case ("Too many requests"), the case the admin API
// and the proxy have always answered in, the one that changes least.

// MethodNotAllowed: a known path, another method (the Allow header lists
// those it takes).
func MethodNotAllowed() Kind {
	return Kind{Name: "method_not_allowed", Status: http.StatusMethodNotAllowed, Title: "Method not allowed"}
}

// RateLimited: the caller is over a rate limit (Retry-After says when to
// retry).
func RateLimited() Kind {
	return Kind{Name: "rate_limited", Status: http.StatusTooManyRequests, Title: "Too many requests"}
}

// UsageExceeded: an API key's credits (its usage quota) are spent. Not a
// rate: they stay spent until the key's next refill or an operator's
// top-up, so no Retry-After is promised.
func UsageExceeded() Kind {
	return Kind{Name: "usage_exceeded", Status: http.StatusTooManyRequests, Title: "Too many requests"}
}

// IPNotAllowed: an API key restricted to networks, used from an address
// outside them (or an unknown one).
func IPNotAllowed() Kind {
	return Kind{Name: "ip_not_allowed", Status: http.StatusForbidden, Title: "Forbidden"}
}

// Unavailable: a dependency (a store, a key set) cannot be reached right
// now; retry shortly.
func Unavailable() Kind {
	return Kind{Name: "unavailable", Status: http.StatusServiceUnavailable, Title: "Service unavailable"}
}

// Type is the kind's type URI.
func (k Kind) Type() string { return TypePrefix + k.Name }

// With returns the problem of this kind with detail.
func (k Kind) With(detail string) Details {
	return Details{Type: k.Type(), Title: k.Title, Status: k.Status, Detail: detail}
}

// NameOf returns the name in a Gatehouse problem type, and false for a type
// of another scheme.
func NameOf(typ string) (string, bool) {
	return strings.CutPrefix(typ, TypePrefix)
}

// Write answers with d as application/problem+json, neither cacheable nor
// sniffable, with d.Status.
func Write(w http.ResponseWriter, d Details) {
	setHeaders(w.Header())
	w.WriteHeader(d.Status)
	// A fixed struct of strings: encoding cannot fail, and a write error
	// means the client went away, which nobody can act on.
	_ = json.NewEncoder(w).Encode(d)
}

// Rendered is a problem encoded once, for answers that are the same every
// time (a proxy's upstream failures): Write then costs no encoding.
type Rendered struct {
	status int
	body   []byte
}

// Render encodes d once, exactly as Write would.
func Render(d Details) Rendered {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // strings and an int
	}
	return Rendered{status: d.Status, body: append(b, '\n')}
}

// Status is the rendered problem's status.
func (r Rendered) Status() int { return r.status }

// Write answers with the rendered problem, as Write does.
func (r Rendered) Write(w http.ResponseWriter) {
	setHeaders(w.Header())
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

// setHeaders sets the headers of every problem: what three calls of h.Set
// do, in one allocation rather than three. Each slice is capped at its own
// element, so that an Add to one header cannot overwrite the next.
func setHeaders(h http.Header) {
	v := []string{"application/problem+json", "no-store", "nosniff"}
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
}
