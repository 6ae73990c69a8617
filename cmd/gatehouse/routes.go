package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func newRoutesCommand(getenv env) *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Manage the gateway routes stored on the server (not those of the routes file)",
	}
	f.register(cmd)
	cmd.AddCommand(
		newRoutesCreateCommand(&f, getenv),
		newRoutesListCommand(&f, getenv),
		newRoutesGetCommand(&f, getenv),
		newRoutesUpdateCommand(&f, getenv),
		newRoutesDeleteCommand(&f, getenv),
	)
	return cmd
}

// routeSettings are the flags of routes create and routes update.
type routeSettings struct {
	path            string
	upstreams       []string
	policy          string
	scopes          []string
	audience        string
	stripPrefix     bool
	hosts           []string
	methods         []string
	timeout         time.Duration
	rate            string
	burst           int
	clientRate      string
	clientBurst     int
	rateLimit       string // deprecated RATE:BURST spelling of rate and burst
	clientRateLimit string // deprecated, as rateLimit
	internalJWT     bool
	issuer          string
	jwksURI         string
	algorithms      []string
	stripHeaders    []string

	anyAudience           bool
	keyEnvironment        string
	requireMFA            bool
	allowPathParams       bool
	caseInsensitive       bool
	forwardMethodOverride bool
}

func (s *routeSettings) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.path, "path", "", `path prefix, matched on segment boundaries ("/orders" matches /orders/1, not /ordersx); default "/"`)
	fl.StringArrayVar(&s.upstreams, "upstream", nil, "an upstream base URL, http or https; several are used round robin (repeatable)")
	fl.StringVar(&s.policy, "policy", "", "the credential a request needs: jwt, api_key, any or public")
	scopesVar(fl, &s.scopes, "scopes", "scopes every request needs, comma- or space-separated; repeatable")
	fl.Var(&singleValue{p: &s.audience, what: "a route has one audience"}, "audience", "jwt, any: the aud a token must carry (required unless --any-audience)")
	fl.BoolVar(&s.anyAudience, "any-audience", false, "jwt, any: accept the issuer's tokens whatever their audience (tokens minted for other APIs too)")
	fl.StringVar(&s.keyEnvironment, "key-environment", "", `api_key, any: accept only API keys of this environment, live or test ("": every one)`)
	fl.BoolVar(&s.requireMFA, "require-mfa", false, `jwt, any: only tokens of a sign-in with a second factor (amr "mfa" or acr urn:gatehouse:acr:mfa); others and API keys get 401 (update: --require-mfa=false lifts it)`)
	fl.BoolVar(&s.allowPathParams, "allow-path-params", false, `accept ";parameters" in path segments (";jsessionid="), for servlet upstreams`)
	fl.BoolVar(&s.caseInsensitive, "case-insensitive", false, "match the path prefix whatever its case, for upstreams that ignore case")
	fl.BoolVar(&s.forwardMethodOverride, "forward-method-override", false, "forward X-HTTP-Method-Override and its variants (removed otherwise)")
	fl.BoolVar(&s.stripPrefix, "strip-prefix", false, "remove the path prefix before forwarding")
	fl.StringArrayVar(&s.hosts, "host", nil, `a host the route serves, or "*.example.com" (repeatable; default every host)`)
	fl.StringArrayVar(&s.methods, "method", nil, "an HTTP method the route takes (repeatable; default every method)")
	durationVar(fl, &s.timeout, "timeout", 0, "wait for the upstream's response headers, like 10s (0: the default, 30s)")
	fl.StringVar(&s.rate, "rate", "", `rate limit for all callers together, like 100/s or 6000/m ("0": none)`)
	fl.IntVar(&s.burst, "burst", 0, "burst of --rate (default: the per-second rate, at least 1)")
	fl.StringVar(&s.clientRate, "client-rate", "", `rate limit for each caller, like 5/s ("0": none)`)
	fl.IntVar(&s.clientBurst, "client-burst", 0, "burst of --client-rate (default: the per-second rate, at least 1)")
	// The first spelling, RATE:BURST, still works for existing scripts
	// but is no longer shown.
	fl.StringVar(&s.rateLimit, "rate-limit", "", `deprecated: --rate and --burst`)
	fl.StringVar(&s.clientRateLimit, "client-rate-limit", "", `deprecated: --client-rate and --client-burst`)
	fl.MarkHidden("rate-limit")
	fl.MarkHidden("client-rate-limit")
	fl.BoolVar(&s.internalJWT, "internal-jwt", false, "replace the caller's credential with a short-lived JWT signed by Gatehouse")
	fl.StringVar(&s.issuer, "issuer", "", "accept JWTs of this other identity provider (its exact iss)")
	fl.StringVar(&s.jwksURI, "jwks-uri", "", "where the issuer's keys are (default: from its discovery document)")
	fl.StringSliceVar(&s.algorithms, "algorithms", nil, "algorithms the issuer signs with, comma-separated (default RS256)")
	fl.StringArrayVar(&s.stripHeaders, "strip-header", nil, "a request header to remove before forwarding (repeatable)")
}

// patch returns the settings whose flags were given on the command line:
// for create all of them are then copied into a RouteRequest, for update
// they are sent as they are, so flags not given keep their value.
func (s *routeSettings) patch(cmd *cobra.Command) (admin.RoutePatch, error) {
	var p admin.RoutePatch
	set := cmd.Flags().Changed
	list := func(flag string, v []string) *[]string {
		if !set(flag) {
			return nil
		}
		if v == nil {
			v = []string{}
		}
		return &v
	}
	str := func(flag, v string) *string {
		if !set(flag) {
			return nil
		}
		return &v
	}
	boolean := func(flag string, v bool) *bool {
		if !set(flag) {
			return nil
		}
		return &v
	}
	p.Path = str("path", s.path)
	p.Upstreams = list("upstream", s.upstreams)
	p.Policy = str("policy", s.policy)
	p.Scopes = list("scopes", s.scopes)
	p.Audience = str("audience", s.audience)
	p.StripPrefix = boolean("strip-prefix", s.stripPrefix)
	p.Hosts = list("host", s.hosts)
	p.Methods = list("method", s.methods)
	if set("timeout") {
		if s.timeout < 0 {
			return p, usageErrorf("--timeout must not be negative")
		}
		t := ""
		if s.timeout > 0 {
			t = formatDuration(s.timeout)
		}
		p.Timeout = &t
	}
	var err error
	if p.RateLimit, err = rateFlags(set, "rate", s.rate, "burst", s.burst, "rate-limit", s.rateLimit); err != nil {
		return p, err
	}
	if p.ClientRateLimit, err = rateFlags(set, "client-rate", s.clientRate, "client-burst", s.clientBurst, "client-rate-limit", s.clientRateLimit); err != nil {
		return p, err
	}
	p.InternalJWT = boolean("internal-jwt", s.internalJWT)
	p.Issuer = str("issuer", s.issuer)
	p.JWKSURI = str("jwks-uri", s.jwksURI)
	p.Algorithms = list("algorithms", s.algorithms)
	p.StripHeaders = list("strip-header", s.stripHeaders)
	p.AnyAudience = boolean("any-audience", s.anyAudience)
	p.KeyEnvironment = str("key-environment", s.keyEnvironment)
	p.RequireMFA = boolean("require-mfa", s.requireMFA)
	p.AllowPathParams = boolean("allow-path-params", s.allowPathParams)
	p.CaseInsensitive = boolean("case-insensitive", s.caseInsensitive)
	p.ForwardMethodOverride = boolean("forward-method-override", s.forwardMethodOverride)
	return p, nil
}

// parseRateLimit reads RATE:BURST, like "100:200" or "0.5:1".
func parseRateLimit(s string) (admin.RateLimit, error) {
	rate, burst, ok := strings.Cut(s, ":")
	if !ok {
		return admin.RateLimit{}, fmt.Errorf("%q is not RATE:BURST, like 100:200", s)
	}
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return admin.RateLimit{}, fmt.Errorf("the rate %q is not a number of requests per second", rate)
	}
	b, err := strconv.Atoi(burst)
	if err != nil || b < 0 {
		return admin.RateLimit{}, fmt.Errorf("the burst %q is not a whole number of requests", burst)
	}
	return admin.RateLimit{Rate: r, Burst: b}, nil
}

// rateFlags reads one rate limit from its flags: RATE (like 100/s) and
// BURST, or the deprecated RATE:BURST. It returns nil when none was given.
func rateFlags(set func(string) bool, rateFlag, rate, burstFlag string, burst int, oldFlag, old string) (*admin.RateLimit, error) {
	switch {
	case set(oldFlag) && (set(rateFlag) || set(burstFlag)):
		return nil, usageErrorf("--%s is the old spelling of --%s and --%s: give one or the other", oldFlag, rateFlag, burstFlag)
	case set(oldFlag):
		rl, err := parseRateLimit(old)
		if err != nil {
			return nil, usageErrorf("--%s: %w", oldFlag, err)
		}
		return &rl, nil
	case set(burstFlag) && !set(rateFlag):
		return nil, usageErrorf("--%s needs --%s", burstFlag, rateFlag)
	case !set(rateFlag):
		return nil, nil
	}
	r, err := parseRate(rate)
	if err != nil {
		return nil, usageErrorf("--%s %w", rateFlag, err)
	}
	if burst < 0 {
		return nil, usageErrorf("--%s must not be negative", burstFlag)
	}
	if r == 0 {
		if set(burstFlag) && burst != 0 {
			return nil, usageErrorf("--%s 0 means no limit; it takes no --%s", rateFlag, burstFlag)
		}
		return &admin.RateLimit{}, nil
	}
	if !set(burstFlag) {
		burst = auth.DefaultBurst(r) // the rule the server applies to keys
	}
	return &admin.RateLimit{Rate: r, Burst: burst}, nil
}

// request turns the flags of routes create into a new route.
func (s *routeSettings) request(cmd *cobra.Command, name string) (admin.RouteRequest, error) {
	p, err := s.patch(cmd)
	if err != nil {
		return admin.RouteRequest{}, err
	}
	req := admin.RouteRequest{
		Name:            name,
		Path:            s.path,
		Upstreams:       s.upstreams,
		Policy:          s.policy,
		Scopes:          nonNil(s.scopes),
		Audience:        s.audience,
		StripPrefix:     s.stripPrefix,
		Hosts:           s.hosts,
		Methods:         s.methods,
		RateLimit:       p.RateLimit,
		ClientRateLimit: p.ClientRateLimit,
		InternalJWT:     s.internalJWT,
		Issuer:          s.issuer,
		JWKSURI:         s.jwksURI,
		Algorithms:      s.algorithms,
		StripHeaders:    s.stripHeaders,
		AnyAudience:     s.anyAudience,
		KeyEnvironment:  s.keyEnvironment,
		RequireMFA:      s.requireMFA,
		AllowPathParams: s.allowPathParams,
		CaseInsensitive: s.caseInsensitive,

		ForwardMethodOverride: s.forwardMethodOverride,
	}
	if p.Timeout != nil {
		req.Timeout = *p.Timeout
	}
	return req, nil
}

func newRoutesCreateCommand(f *clientFlags, getenv env) *cobra.Command {
	var (
		s    routeSettings
		name string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --path /prefix --upstream URL --policy jwt|api_key|any|public",
		Short: "Create a gateway route; the gateway applies it at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := s.request(cmd, name)
			if err != nil {
				return err
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			out, err := c.CreateRoute(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Created route %s.\n", out.Name)
				routeDetails(w, *out)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "unique name: lower-case letters, digits, '.', '_' and '-'")
	s.register(cmd)
	for _, req := range []string{"name", "upstream", "policy"} {
		cmd.MarkFlagRequired(req)
	}
	return cmd
}

func routeDetails(w *tabwriter.Writer, r admin.GatewayRoute) {
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%s\t%s\n", name, value)
		}
	}
	limit := func(l admin.RateLimit) string {
		if l.Rate <= 0 || l.Burst <= 0 {
			return ""
		}
		return fmt.Sprintf("%s/s, burst %d", strconv.FormatFloat(l.Rate, 'g', -1, 64), l.Burst)
	}
	row("name", r.Name)
	row("hosts", strings.Join(r.Hosts, " "))
	row("path", r.Path)
	row("methods", strings.Join(r.Methods, " "))
	for _, u := range r.Upstreams {
		row("upstream", u)
	}
	if r.StripPrefix {
		row("strip prefix", "yes")
	}
	row("timeout", r.Timeout)
	row("policy", r.Policy)
	row("scopes", strings.Join(r.Scopes, " "))
	row("audience", r.Audience)
	if r.AnyAudience {
		row("any audience", "yes")
	}
	row("key environment", r.KeyEnvironment)
	if r.RequireMFA {
		row("second factor", "required")
	}
	row("issuer", r.Issuer)
	row("jwks uri", r.JWKSURI)
	row("algorithms", strings.Join(r.Algorithms, " "))
	row("rate limit", limit(r.RateLimit))
	row("client rate limit", limit(r.ClientRateLimit))
	if r.InternalJWT {
		row("internal jwt", "yes")
	}
	row("strip headers", strings.Join(r.StripHeaders, " "))
	for _, b := range []struct {
		name string
		on   bool
	}{{"path params", r.AllowPathParams}, {"case insensitive", r.CaseInsensitive}, {"forward method override", r.ForwardMethodOverride}} {
		if b.on {
			row(b.name, "yes")
		}
	}
	row("created", stamp(r.CreatedAt))
	row("updated", stamp(r.UpdatedAt))
}

func newRoutesListCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored routes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			list, err := c.ListRoutes(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tHOSTS\tPATH\tMETHODS\tPOLICY\tUPSTREAMS\tUPDATED")
				dash := func(l []string) string {
					if len(l) == 0 {
						return "*"
					}
					return strings.Join(l, ",")
				}
				for _, r := range list.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dash(r.Hosts), r.Path, dash(r.Methods),
						r.Policy, strings.Join(r.Upstreams, ","), stamp(r.UpdatedAt))
				}
			})
		},
	}
}

func newRoutesGetCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one route",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			r, err := c.GetRoute(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), r, func(w *tabwriter.Writer) { routeDetails(w, *r) })
		},
	}
}

func newRoutesUpdateCommand(f *clientFlags, getenv env) *cobra.Command {
	var s routeSettings
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change a route's settings; flags not given keep their value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := s.patch(cmd)
			if err != nil {
				return err
			}
			if p == (admin.RoutePatch{}) {
				return usageErrorf("nothing to change: give at least one setting flag")
			}
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			r, err := c.UpdateRoute(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), r, func(w *tabwriter.Writer) { routeDetails(w, *r) })
		},
	}
	s.register(cmd)
	return cmd
}

func newRoutesDeleteCommand(f *clientFlags, getenv env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a route; the gateway stops serving it at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(getenv)
			if err != nil {
				return err
			}
			if err := c.DeleteRoute(cmd.Context(), args[0]); err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), map[string]any{"name": args[0], "deleted": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Deleted route %s.\n", args[0])
			})
		},
	}
}
