package auth

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// routeSettings is how a stored route keeps every field but its name and
// times: one JSON document, the same in every backend. Empty lists are
// left out and read back as nil, the form Normalize gives them.
type routeSettings struct {
	Hosts        []string `json:"hosts,omitempty"`
	PathPrefix   string   `json:"path"`
	Methods      []string `json:"methods,omitempty"`
	Upstreams    []string `json:"upstreams,omitempty"`
	StripPrefix  bool     `json:"strip_prefix,omitempty"`
	TimeoutNS    int64    `json:"timeout_ns,omitempty"`
	Policy       string   `json:"policy"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
	Issuer       string   `json:"issuer,omitempty"`
	JWKSURI      string   `json:"jwks_uri,omitempty"`
	Algorithms   []string `json:"algorithms,omitempty"`
	Rate         float64  `json:"rate,omitempty"`
	Burst        int      `json:"burst,omitempty"`
	ClientRate   float64  `json:"client_rate,omitempty"`
	ClientBurst  int      `json:"client_burst,omitempty"`
	InternalJWT  bool     `json:"internal_jwt,omitempty"`
	StripHeaders []string `json:"strip_headers,omitempty"`
	AnyAudience  bool     `json:"any_audience,omitempty"`

	KeyEnvironment string `json:"key_environment,omitempty"`
	RequireMFA     bool   `json:"require_mfa,omitempty"`

	AllowPathParams       bool `json:"allow_path_params,omitempty"`
	CaseInsensitive       bool `json:"case_insensitive,omitempty"`
	ForwardMethodOverride bool `json:"forward_method_override,omitempty"`
}

// CheckStorable refuses a route that no backend can store exactly: no
// name, text that is not valid UTF-8 or holds NUL (PostgreSQL refuses it,
// JSON would rewrite it), rates that are not finite numbers. The rules of
// a route are Normalize's, not the store's.
func (r *Route) CheckStorable() error {
	switch {
	case r == nil:
		return Errorf(EINVALID, "Route is missing.")
	case r.Name == "":
		return Errorf(EINVALID, "Route name is required.")
	}
	text := []string{r.Name, r.PathPrefix, r.Policy, r.Audience, r.Issuer, r.JWKSURI, r.KeyEnvironment}
	for _, l := range [][]string{r.Hosts, r.Methods, r.Upstreams, r.Scopes, r.Algorithms, r.StripHeaders} {
		text = append(text, l...)
	}
	if !storable(text...) {
		return Errorf(EINVALID, "Route text must be valid UTF-8 without NUL characters.")
	}
	for _, rate := range []float64{r.RateLimit.Rate, r.ClientRateLimit.Rate} {
		if math.IsNaN(rate) || math.IsInf(rate, 0) {
			return Errorf(EINVALID, "Route rate limits must be finite numbers.")
		}
	}
	return nil
}

// StoredSettings is the document a backend stores for r (see
// LoadStoredSettings).
func (r *Route) StoredSettings() ([]byte, error) {
	b, err := json.Marshal(routeSettings{
		Hosts: r.Hosts, PathPrefix: r.PathPrefix, Methods: r.Methods, Upstreams: r.Upstreams,
		StripPrefix: r.StripPrefix, TimeoutNS: int64(r.Timeout), Policy: r.Policy, Scopes: r.Scopes,
		Audience: r.Audience, Issuer: r.Issuer, JWKSURI: r.JWKSURI, Algorithms: r.Algorithms,
		Rate: r.RateLimit.Rate, Burst: r.RateLimit.Burst,
		ClientRate: r.ClientRateLimit.Rate, ClientBurst: r.ClientRateLimit.Burst,
		InternalJWT: r.InternalJWT, StripHeaders: r.StripHeaders,
		AnyAudience: r.AnyAudience, AllowPathParams: r.AllowPathParams, CaseInsensitive: r.CaseInsensitive,
		ForwardMethodOverride: r.ForwardMethodOverride, KeyEnvironment: r.KeyEnvironment,
		RequireMFA: r.RequireMFA,
	})
	if err != nil {
		return nil, fmt.Errorf("encode route settings: %w", err)
	}
	return b, nil
}

// LoadStoredSettings fills every field of r but its name and times from a
// document StoredSettings wrote.
func (r *Route) LoadStoredSettings(doc []byte) error {
	var s routeSettings
	if err := json.Unmarshal(doc, &s); err != nil {
		return fmt.Errorf("decode settings of route %q: %w", r.Name, err)
	}
	r.Hosts, r.PathPrefix, r.Methods, r.Upstreams = s.Hosts, s.PathPrefix, s.Methods, s.Upstreams
	r.StripPrefix, r.Timeout, r.Policy, r.Scopes = s.StripPrefix, time.Duration(s.TimeoutNS), s.Policy, s.Scopes
	r.Audience, r.Issuer, r.JWKSURI, r.Algorithms = s.Audience, s.Issuer, s.JWKSURI, s.Algorithms
	r.RateLimit = RateLimit{Rate: s.Rate, Burst: s.Burst}
	r.ClientRateLimit = RateLimit{Rate: s.ClientRate, Burst: s.ClientBurst}
	r.InternalJWT, r.StripHeaders = s.InternalJWT, s.StripHeaders
	r.AnyAudience, r.AllowPathParams = s.AnyAudience, s.AllowPathParams
	r.CaseInsensitive, r.ForwardMethodOverride = s.CaseInsensitive, s.ForwardMethodOverride
	r.KeyEnvironment = s.KeyEnvironment
	r.RequireMFA = s.RequireMFA
	return nil
}
