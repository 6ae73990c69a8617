package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func (s *Server) routePages() []page {
	return []page{
		{"GET /dashboard/routes", adminOnly, s.handleRoutes},
		{"GET /dashboard/routes/new", adminOnly, s.handleNewRoute},
		{"POST /dashboard/routes", adminOnly, s.handleCreateRoute},
		{"GET /dashboard/routes/{name}/edit", adminOnly, s.handleEditRoute},
		{"POST /dashboard/routes/{name}/edit", adminOnly, s.handleUpdateRoute},
		{"GET /dashboard/routes/{name}/delete", adminOnly, s.handleDeleteRouteConfirm},
		{"POST /dashboard/routes/{name}/delete", adminOnly, s.handleDeleteRoute},
	}
}

// errRoutesDisabled answers every route page of a node without route
// management, as the admin API does.
func errRoutesDisabled() error {
	return auth.Errorf(auth.ENOTFOUND, "Gateway route management is not enabled on this node.")
}

// Where a route comes from: the routes file (read-only here) or the store.
const (
	routeFromFile  = "file"
	routeFromStore = "stored"
	routesPath     = "/dashboard/routes"
)

// gatewayRouteRow is one line of the route list.
type gatewayRouteRow struct {
	Name, Path, Policy, Source string
	Hosts, Methods, Upstreams  []string
}

func gatewayRouteRowOf(r *auth.Route, source string) gatewayRouteRow {
	return gatewayRouteRow{
		Name: r.Name, Path: r.PathPrefix, Policy: r.Policy, Source: source,
		Hosts: r.Hosts, Methods: r.Methods, Upstreams: r.Upstreams,
	}
}

func (s *Server) handleRoutes(w http.ResponseWriter, r *http.Request, v *viewer) {
	if s.cfg.Routes == nil {
		s.fail(w, r, errRoutesDisabled())
		return
	}
	stored, err := s.cfg.Routes.List(r.Context())
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: list routes: %w", err))
		return
	}
	var rows []gatewayRouteRow
	for _, f := range s.cfg.Routes.FileRoutes() {
		rows = append(rows, gatewayRouteRowOf(&f, routeFromFile))
	}
	for _, rt := range stored {
		rows = append(rows, gatewayRouteRowOf(rt, routeFromStore))
	}
	slices.SortStableFunc(rows, func(a, b gatewayRouteRow) int { return strings.Compare(a.Name, b.Name) })
	s.show(w, r, v, http.StatusOK, "routes.html", &view{Title: "Gateway routes", Nav: "routes", Data: rows})
}

// routeForm is the policy form's values as entered, kept as they were
// typed so that a refused form comes back as the user left it.
type routeForm struct {
	Name, Hosts, Path, Methods, Upstreams, Timeout  string
	Policy, Scopes, Audience, KeyEnvironment        string
	Issuer, JWKSURI, Algorithms                     string
	Rate, Burst, ClientRate, ClientBurst            string
	StripHeaders                                    string
	StripPrefix, AnyAudience, InternalJWT           bool
	AllowPathParams, CaseInsensitive, ForwardMethod bool
	RequireMFA                                      bool
}

// routeFormData is the create and edit page.
type routeFormData struct {
	Form            routeForm
	Edit            bool   // the name is fixed
	Action          string // where the form posts
	Error           string // the service's message for a refused form
	Field           string // the field at fault, when known
	Policies        []string
	KeyEnvironments []string
}

func (s *Server) showRouteForm(w http.ResponseWriter, r *http.Request, v *viewer, status int, d routeFormData) {
	d.Policies = []string{auth.PolicyJWT, auth.PolicyAPIKey, auth.PolicyAny, auth.PolicyPublic}
	d.KeyEnvironments = auth.KeyEnvironments
	title := "New route"
	if d.Edit {
		title = "Edit route " + d.Form.Name
	}
	s.show(w, r, v, status, "route-form.html", &view{Title: title, Nav: "routes", Data: d})
}

func (s *Server) handleNewRoute(w http.ResponseWriter, r *http.Request, v *viewer) {
	if s.cfg.Routes == nil {
		s.fail(w, r, errRoutesDisabled())
		return
	}
	s.showRouteForm(w, r, v, http.StatusOK, routeFormData{
		Action: routesPath, Form: routeForm{Policy: auth.PolicyJWT, Path: "/"},
	})
}

// handleCreateRoute creates as POST /admin/v1/routes does: every rule is
// the service's (auth.Route.Normalize), and a refusal comes back inline.
func (s *Server) handleCreateRoute(w http.ResponseWriter, r *http.Request, v *viewer) {
	if s.cfg.Routes == nil {
		s.fail(w, r, errRoutesDisabled())
		return
	}
	f := readRouteForm(r.PostForm)
	d := routeFormData{Action: routesPath, Form: f}
	in, field, err := f.route()
	if err == nil {
		_, err = s.cfg.Routes.Create(r.Context(), in, v.actor())
		field = routeErrorField(err)
	}
	if err != nil {
		s.refuseRouteForm(w, r, v, d, field, err)
		return
	}
	redirectDone(w, r, routesPath, "created")
}

// refuseRouteForm shows the form again with the service's message, or
// the error page for an error that is not the form's.
func (s *Server) refuseRouteForm(w http.ResponseWriter, r *http.Request, v *viewer, d routeFormData, field string, err error) {
	code := auth.ErrorCode(err)
	if code != auth.EINVALID && code != auth.ECONFLICT {
		s.fail(w, r, fmt.Errorf("dashboard: save route: %w", err))
		return
	}
	status := http.StatusBadRequest
	if code == auth.ECONFLICT {
		status = http.StatusConflict
	}
	d.Error, d.Field = auth.ErrorMessage(err), field
	s.showRouteForm(w, r, v, status, d)
}

// storedRoute reads the stored route the path names; a route of the
// routes file is not one (ENOTFOUND): it is changed in its file.
func (s *Server) storedRoute(r *http.Request) (*auth.Route, error) {
	if s.cfg.Routes == nil {
		return nil, errRoutesDisabled()
	}
	name, err := pathID(r, "name")
	if err != nil {
		return nil, err
	}
	return s.cfg.Routes.Get(r.Context(), name)
}

func routeEditPath(name string) string { return routesPath + "/" + url.PathEscape(name) + "/edit" }

func (s *Server) handleEditRoute(w http.ResponseWriter, r *http.Request, v *viewer) {
	rt, err := s.storedRoute(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showRouteForm(w, r, v, http.StatusOK, routeFormData{Edit: true, Action: routeEditPath(rt.Name), Form: routeFormOf(rt)})
}

// handleUpdateRoute replaces the route's settings with the form's, as a
// PATCH of every member would: the form shows them all.
func (s *Server) handleUpdateRoute(w http.ResponseWriter, r *http.Request, v *viewer) {
	rt, err := s.storedRoute(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := readRouteForm(r.PostForm)
	f.Name = rt.Name
	d := routeFormData{Edit: true, Action: routeEditPath(rt.Name), Form: f}
	in, field, err := f.route()
	if err == nil {
		_, err = s.cfg.Routes.Update(r.Context(), rt.Name, func(cur *auth.Route) error {
			in.CreatedAt, in.UpdatedAt = cur.CreatedAt, cur.UpdatedAt
			*cur = in
			return nil
		}, v.actor())
		field = routeErrorField(err)
	}
	if err != nil {
		s.refuseRouteForm(w, r, v, d, field, err)
		return
	}
	redirectDone(w, r, routesPath, "updated")
}

func (s *Server) handleDeleteRouteConfirm(w http.ResponseWriter, r *http.Request, v *viewer) {
	rt, err := s.storedRoute(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusOK, "route-delete.html", &view{Title: "Delete route " + rt.Name, Nav: "routes", Data: gatewayRouteRowOf(rt, routeFromStore)})
}

func (s *Server) handleDeleteRoute(w http.ResponseWriter, r *http.Request, v *viewer) {
	rt, err := s.storedRoute(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Routes.Delete(r.Context(), rt.Name, v.actor()); err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: delete route: %w", err))
		return
	}
	redirectDone(w, r, routesPath, "deleted")
}

func readRouteForm(f url.Values) routeForm {
	get := func(name string) string { return strings.TrimSpace(f.Get(name)) }
	on := func(name string) bool { return f.Get(name) != "" }
	return routeForm{
		Name: get("name"), Hosts: get("hosts"), Path: get("path"), Methods: get("methods"),
		Upstreams: get("upstreams"), Timeout: get("timeout"), Policy: get("policy"),
		Scopes: get("scopes"), Audience: get("audience"), KeyEnvironment: get("key_environment"),
		Issuer: get("issuer"), JWKSURI: get("jwks_uri"), Algorithms: get("algorithms"),
		Rate: get("rate"), Burst: get("burst"), ClientRate: get("client_rate"), ClientBurst: get("client_burst"),
		StripHeaders: get("strip_headers"),
		StripPrefix:  on("strip_prefix"), AnyAudience: on("any_audience"), InternalJWT: on("internal_jwt"),
		AllowPathParams: on("allow_path_params"), CaseInsensitive: on("case_insensitive"),
		ForwardMethod: on("forward_method_override"),
		RequireMFA:    on("require_mfa"),
	}
}

// routeFormList splits a list field: items separated by commas, spaces or
// lines, as the CLI's list flags take them.
func routeFormList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

func routeFormOf(r *auth.Route) routeForm {
	f := routeForm{
		Name: r.Name, Hosts: strings.Join(r.Hosts, ", "), Path: r.PathPrefix, Methods: strings.Join(r.Methods, ", "),
		Upstreams: strings.Join(r.Upstreams, "\n"), Policy: r.Policy, Scopes: strings.Join(r.Scopes, " "),
		Audience: r.Audience, KeyEnvironment: r.KeyEnvironment, Issuer: r.Issuer, JWKSURI: r.JWKSURI,
		Algorithms: strings.Join(r.Algorithms, ", "), StripHeaders: strings.Join(r.StripHeaders, ", "),
		StripPrefix: r.StripPrefix, AnyAudience: r.AnyAudience, InternalJWT: r.InternalJWT,
		AllowPathParams: r.AllowPathParams, CaseInsensitive: r.CaseInsensitive, ForwardMethod: r.ForwardMethodOverride,
		RequireMFA: r.RequireMFA,
	}
	if r.Timeout > 0 {
		f.Timeout = r.Timeout.String()
	}
	if r.RateLimit.Rate > 0 {
		f.Rate = strconv.FormatFloat(r.RateLimit.Rate, 'f', -1, 64)
		f.Burst = strconv.Itoa(r.RateLimit.Burst)
	}
	if r.ClientRateLimit.Rate > 0 {
		f.ClientRate = strconv.FormatFloat(r.ClientRateLimit.Rate, 'f', -1, 64)
		f.ClientBurst = strconv.Itoa(r.ClientRateLimit.Burst)
	}
	return f
}

// route reads the formats the form owns (the timeout, the rates) and
// leaves every rule of a route to the service. It returns the field at
// fault with an error.
func (f routeForm) route() (auth.Route, string, error) {
	r := auth.Route{
		Name: f.Name, Hosts: routeFormList(f.Hosts), PathPrefix: f.Path, Methods: routeFormList(f.Methods),
		Upstreams: routeFormList(f.Upstreams), StripPrefix: f.StripPrefix, Policy: f.Policy,
		Scopes: routeFormList(f.Scopes), Audience: f.Audience, AnyAudience: f.AnyAudience,
		KeyEnvironment: f.KeyEnvironment, Issuer: f.Issuer, JWKSURI: f.JWKSURI, Algorithms: routeFormList(f.Algorithms),
		InternalJWT: f.InternalJWT, StripHeaders: routeFormList(f.StripHeaders),
		AllowPathParams: f.AllowPathParams, CaseInsensitive: f.CaseInsensitive, ForwardMethodOverride: f.ForwardMethod,
		RequireMFA: f.RequireMFA,
	}
	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		if err != nil {
			return r, "timeout", auth.Errorf(auth.EINVALID, "The timeout %q is not a duration such as 10s or 2m.", f.Timeout)
		}
		r.Timeout = d
	}
	var err error
	if r.RateLimit, err = routeRateLimit("rate", f.Rate, f.Burst); err != nil {
		return r, "rate", err
	}
	if r.ClientRateLimit, err = routeRateLimit("client_rate", f.ClientRate, f.ClientBurst); err != nil {
		return r, "client_rate", err
	}
	return r, "", nil
}

// routeRateLimit reads a rate (auth.ParseRate, like 100/s) and its burst,
// which defaults as the CLI's does (auth.DefaultBurst).
func routeRateLimit(what, rate, burst string) (auth.RateLimit, error) {
	if rate == "" {
		if burst != "" {
			return auth.RateLimit{}, auth.Errorf(auth.EINVALID, "A burst needs a rate (%s).", what)
		}
		return auth.RateLimit{}, nil
	}
	n, err := auth.ParseRate(rate)
	if err != nil {
		return auth.RateLimit{}, auth.Errorf(auth.EINVALID, "Rate limit: %s.", err.Error())
	}
	if n == 0 {
		return auth.RateLimit{}, nil
	}
	b := auth.DefaultBurst(n)
	if burst != "" {
		if b, err = strconv.Atoi(burst); err != nil || b < 0 {
			return auth.RateLimit{}, auth.Errorf(auth.EINVALID, "The burst %q is not a whole number of requests.", burst)
		}
	}
	return auth.RateLimit{Rate: n, Burst: b}, nil
}

// routeErrorFields map the start of Normalize's messages (after "route
// NAME: ") to the form field at fault. It only marks the field: an
// unmatched message is still shown, above the form.
var routeErrorFields = []struct{ prefix, field string }{
	{"host", "hosts"}, {"at most 32 hosts", "hosts"},
	{"path", "path"}, {"method", "methods"},
	{"at least one upstream", "upstreams"}, {"at most 32 upstreams", "upstreams"},
	{"upstream", "upstreams"}, {"an upstream", "upstreams"},
	{"timeout", "timeout"},
	{"a policy is required", "policy"}, {"policy", "policy"}, {"a public route", "policy"},
	{"audience, any_audience and issuer apply", "policy"},
	{"at most 32 scopes", "scopes"}, {"scope", "scopes"},
	{"key_environment", "key_environment"},
	{"require_mfa", "require_mfa"},
	{"set either audience", "audience"}, {"audience", "audience"},
	{"a route for another identity provider", "audience"}, {"a route with policy", "audience"},
	{"jwks_uri and algorithms need", "issuer"}, {"issuer", "issuer"}, {"jwks_uri", "jwks_uri"},
	{"algorithm", "algorithms"},
	{"rate_limit", "rate"}, {"client_rate_limit", "client_rate"},
	{"strip_headers", "strip_headers"},
	// auth.RouteConflict's, with another route.
	{"the name is used", "name"}, {"its path", "path"},
}

func routeErrorField(err error) string {
	if err == nil {
		return ""
	}
	msg := auth.ErrorMessage(err)
	switch {
	case strings.HasPrefix(msg, "route name "), strings.HasPrefix(msg, "A route named "), strings.HasPrefix(msg, "The name "):
		return "name"
	case !strings.HasPrefix(msg, "route "):
		return ""
	}
	_, rest, _ := strings.Cut(msg, ": ")
	for _, p := range routeErrorFields {
		if strings.HasPrefix(rest, p.prefix) {
			return p.field
		}
	}
	return ""
}
