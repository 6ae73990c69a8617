package admin

import (
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// GatewayRoute is a gateway route as the API shows it. The member names
// are those of the routes file, so a route can move between the two.
// Every member is always present (lists as [], strings as "", limits as
// {"rate": 0, "burst": 0} when off) but key_environment, which is left out
// when the route takes keys of every environment, and require_mfa, left out
// when false, so that the documents of routes without them read as they
// did before.
type GatewayRoute struct {
	Name                  string    `json:"name"`
	Hosts                 []string  `json:"hosts"`
	Path                  string    `json:"path"`
	Methods               []string  `json:"methods"`
	Upstreams             []string  `json:"upstreams"`
	StripPrefix           bool      `json:"strip_prefix"`
	Timeout               string    `json:"timeout"` // a Go duration; "": the default
	Policy                string    `json:"policy"`
	Scopes                []string  `json:"scopes"`
	Audience              string    `json:"audience"`
	Issuer                string    `json:"issuer"`
	JWKSURI               string    `json:"jwks_uri"`
	Algorithms            []string  `json:"algorithms"`
	RateLimit             RateLimit `json:"rate_limit"`
	ClientRateLimit       RateLimit `json:"client_rate_limit"`
	InternalJWT           bool      `json:"internal_jwt"`
	StripHeaders          []string  `json:"strip_headers"`
	AnyAudience           bool      `json:"any_audience"`
	KeyEnvironment        string    `json:"key_environment,omitempty"` // absent: keys of every environment
	RequireMFA            bool      `json:"require_mfa,omitempty"`     // absent: false
	AllowPathParams       bool      `json:"allow_path_params"`
	CaseInsensitive       bool      `json:"case_insensitive"`
	ForwardMethodOverride bool      `json:"forward_method_override"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

// RouteRequest is the body of POST /admin/v1/routes. Absent members take
// their zero value: no hosts or methods (all match), path "/", no limits.
type RouteRequest struct {
	Name                  string     `json:"name"`
	Hosts                 []string   `json:"hosts,omitempty"`
	Path                  string     `json:"path,omitempty"`
	Methods               []string   `json:"methods,omitempty"`
	Upstreams             []string   `json:"upstreams"`
	StripPrefix           bool       `json:"strip_prefix,omitempty"`
	Timeout               string     `json:"timeout,omitempty"`
	Policy                string     `json:"policy"`
	Scopes                []string   `json:"scopes,omitempty"`
	Audience              string     `json:"audience,omitempty"`
	Issuer                string     `json:"issuer,omitempty"`
	JWKSURI               string     `json:"jwks_uri,omitempty"`
	Algorithms            []string   `json:"algorithms,omitempty"`
	RateLimit             *RateLimit `json:"rate_limit,omitempty"`
	ClientRateLimit       *RateLimit `json:"client_rate_limit,omitempty"`
	InternalJWT           bool       `json:"internal_jwt,omitempty"`
	StripHeaders          []string   `json:"strip_headers,omitempty"`
	AnyAudience           bool       `json:"any_audience,omitempty"`
	KeyEnvironment        string     `json:"key_environment,omitempty"`
	RequireMFA            bool       `json:"require_mfa,omitempty"`
	AllowPathParams       bool       `json:"allow_path_params,omitempty"`
	CaseInsensitive       bool       `json:"case_insensitive,omitempty"`
	ForwardMethodOverride bool       `json:"forward_method_override,omitempty"`
}

// RoutePatch is the body of PATCH /admin/v1/routes/{name}: a member that
// is present replaces the setting, an absent (or null) one leaves it as it
// is. Clear a list with [], a string with "", a limit with
// {"rate": 0, "burst": 0}. The name cannot change. Clearing the issuer
// also clears jwks_uri and algorithms when the patch does not give them.
type RoutePatch struct {
	Hosts                 *[]string  `json:"hosts,omitempty"`
	Path                  *string    `json:"path,omitempty"`
	Methods               *[]string  `json:"methods,omitempty"`
	Upstreams             *[]string  `json:"upstreams,omitempty"`
	StripPrefix           *bool      `json:"strip_prefix,omitempty"`
	Timeout               *string    `json:"timeout,omitempty"`
	Policy                *string    `json:"policy,omitempty"`
	Scopes                *[]string  `json:"scopes,omitempty"`
	Audience              *string    `json:"audience,omitempty"`
	Issuer                *string    `json:"issuer,omitempty"`
	JWKSURI               *string    `json:"jwks_uri,omitempty"`
	Algorithms            *[]string  `json:"algorithms,omitempty"`
	RateLimit             *RateLimit `json:"rate_limit,omitempty"`
	ClientRateLimit       *RateLimit `json:"client_rate_limit,omitempty"`
	InternalJWT           *bool      `json:"internal_jwt,omitempty"`
	StripHeaders          *[]string  `json:"strip_headers,omitempty"`
	AnyAudience           *bool      `json:"any_audience,omitempty"`
	KeyEnvironment        *string    `json:"key_environment,omitempty"`
	RequireMFA            *bool      `json:"require_mfa,omitempty"`
	AllowPathParams       *bool      `json:"allow_path_params,omitempty"`
	CaseInsensitive       *bool      `json:"case_insensitive,omitempty"`
	ForwardMethodOverride *bool      `json:"forward_method_override,omitempty"`
}

// RouteList is GET /admin/v1/routes: every stored route, by name. The
// routes of the routes file are not in it.
type RouteList struct {
	Items []GatewayRoute `json:"items"`
}

func routeFromRecord(r *auth.Route) GatewayRoute {
	return GatewayRoute{
		Name:                  r.Name,
		Hosts:                 listOrEmpty(r.Hosts),
		Path:                  r.PathPrefix,
		Methods:               listOrEmpty(r.Methods),
		Upstreams:             listOrEmpty(r.Upstreams),
		StripPrefix:           r.StripPrefix,
		Timeout:               durationOrEmpty(r.Timeout),
		Policy:                r.Policy,
		Scopes:                listOrEmpty(r.Scopes),
		Audience:              r.Audience,
		Issuer:                r.Issuer,
		JWKSURI:               r.JWKSURI,
		Algorithms:            listOrEmpty(r.Algorithms),
		RateLimit:             RateLimit{Rate: r.RateLimit.Rate, Burst: r.RateLimit.Burst},
		ClientRateLimit:       RateLimit{Rate: r.ClientRateLimit.Rate, Burst: r.ClientRateLimit.Burst},
		InternalJWT:           r.InternalJWT,
		StripHeaders:          listOrEmpty(r.StripHeaders),
		AnyAudience:           r.AnyAudience,
		KeyEnvironment:        r.KeyEnvironment,
		RequireMFA:            r.RequireMFA,
		AllowPathParams:       r.AllowPathParams,
		CaseInsensitive:       r.CaseInsensitive,
		ForwardMethodOverride: r.ForwardMethodOverride,
		CreatedAt:             r.CreatedAt.UTC(),
		UpdatedAt:             r.UpdatedAt.UTC(),
	}
}

// routeFromRequest checks the formats the transport owns (the timeout) and
// leaves every other rule to auth.Route.Normalize.
func routeFromRequest(req RouteRequest) (auth.Route, error) {
	r := auth.Route{
		Name:                  req.Name,
		Hosts:                 slices.Clone(req.Hosts),
		PathPrefix:            req.Path,
		Methods:               slices.Clone(req.Methods),
		Upstreams:             slices.Clone(req.Upstreams),
		StripPrefix:           req.StripPrefix,
		Policy:                req.Policy,
		Scopes:                slices.Clone(req.Scopes),
		Audience:              req.Audience,
		Issuer:                req.Issuer,
		JWKSURI:               req.JWKSURI,
		Algorithms:            slices.Clone(req.Algorithms),
		InternalJWT:           req.InternalJWT,
		StripHeaders:          slices.Clone(req.StripHeaders),
		AnyAudience:           req.AnyAudience,
		KeyEnvironment:        req.KeyEnvironment,
		RequireMFA:            req.RequireMFA,
		AllowPathParams:       req.AllowPathParams,
		CaseInsensitive:       req.CaseInsensitive,
		ForwardMethodOverride: req.ForwardMethodOverride,
	}
	if req.RateLimit != nil {
		r.RateLimit = auth.RateLimit{Rate: req.RateLimit.Rate, Burst: req.RateLimit.Burst}
	}
	if req.ClientRateLimit != nil {
		r.ClientRateLimit = auth.RateLimit{Rate: req.ClientRateLimit.Rate, Burst: req.ClientRateLimit.Burst}
	}
	var err error
	r.Timeout, err = routeTimeout(req.Timeout)
	return r, err
}

// routeTimeout reads the timeout member: "" is the default (zero).
func routeTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return parseDuration("timeout", s)
}

// apply changes r by the members present in p. It checks the timeout's
// format; Normalize checks the rest afterwards.
func (p RoutePatch) apply(r *auth.Route) error {
	setList := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = slices.Clone(*src)
		}
	}
	setString := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setBool := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setLimit := func(dst *auth.RateLimit, src *RateLimit) {
		if src != nil {
			*dst = auth.RateLimit{Rate: src.Rate, Burst: src.Burst}
		}
	}
	setList(&r.Hosts, p.Hosts)
	setString(&r.PathPrefix, p.Path)
	setList(&r.Methods, p.Methods)
	setList(&r.Upstreams, p.Upstreams)
	setBool(&r.StripPrefix, p.StripPrefix)
	setString(&r.Policy, p.Policy)
	setList(&r.Scopes, p.Scopes)
	setString(&r.Audience, p.Audience)
	setString(&r.Issuer, p.Issuer)
	setString(&r.JWKSURI, p.JWKSURI)
	setList(&r.Algorithms, p.Algorithms)
	setLimit(&r.RateLimit, p.RateLimit)
	setLimit(&r.ClientRateLimit, p.ClientRateLimit)
	setBool(&r.InternalJWT, p.InternalJWT)
	setList(&r.StripHeaders, p.StripHeaders)
	setBool(&r.AnyAudience, p.AnyAudience)
	setString(&r.KeyEnvironment, p.KeyEnvironment)
	// require_mfa stays through a change of policy: a patch to api_key or
	// public that keeps it is refused (Normalize), never a requirement
	// dropped unsaid.
	setBool(&r.RequireMFA, p.RequireMFA)
	setBool(&r.AllowPathParams, p.AllowPathParams)
	setBool(&r.CaseInsensitive, p.CaseInsensitive)
	setBool(&r.ForwardMethodOverride, p.ForwardMethodOverride)
	// An audience and any_audience exclude each other: setting one clears
	// the other, unless this very patch sets both, which Normalize refuses.
	if p.Audience != nil && *p.Audience != "" && p.AnyAudience == nil {
		r.AnyAudience = false
	}
	if p.AnyAudience != nil && *p.AnyAudience && p.Audience == nil {
		r.Audience = ""
	}
	// any_audience means nothing to an api_key or public route: a patch
	// to one of those policies clears it, unless it sets it too.
	if p.Policy != nil && (*p.Policy == auth.PolicyAPIKey || *p.Policy == auth.PolicyPublic) && p.AnyAudience == nil {
		r.AnyAudience = false
	}
	// key_environment likewise means nothing to a jwt or public route.
	if p.Policy != nil && (*p.Policy == auth.PolicyJWT || *p.Policy == auth.PolicyPublic) && p.KeyEnvironment == nil {
		r.KeyEnvironment = ""
	}
	if p.Issuer != nil && *p.Issuer == "" {
		// Back to Gatehouse's own tokens: the other provider's key location
		// and algorithms (stored with their default, RS256, filled in) go
		// with its issuer, unless this very patch sets them, which
		// Normalize then refuses.
		if p.JWKSURI == nil {
			r.JWKSURI = ""
		}
		if p.Algorithms == nil {
			r.Algorithms = nil
		}
	}
	if p.Timeout != nil {
		d, err := routeTimeout(*p.Timeout)
		if err != nil {
			return err
		}
		r.Timeout = d
	}
	return nil
}
