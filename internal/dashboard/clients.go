package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// OAuth clients: the list, the create and edit forms (the admin API's
// client settings, read by admin.ClientInput and checked by the client
// registry), secret rotation and deletion. Developers see and manage only
// clients whose owner is one of theirs; the dashboard's own client is shown
// to admins, read-only, and to nobody else.

func (s *Server) clientPages() []page {
	return []page{
		{"GET /dashboard/clients", signedIn, s.handleClients},
		{"POST /dashboard/clients", signedIn, s.handleCreateClient},
		{"GET /dashboard/clients/new", signedIn, s.handleNewClient},
		{"GET /dashboard/clients/{id}", signedIn, s.handleClient},
		{"GET /dashboard/clients/{id}/edit", signedIn, s.handleEditClient},
		{"POST /dashboard/clients/{id}/edit", signedIn, s.handleUpdateClient},
		{"GET /dashboard/clients/{id}/rotate-secret", signedIn, s.handleConfirmRotateClient},
		{"POST /dashboard/clients/{id}/rotate-secret", signedIn, s.handleRotateClient},
		{"GET /dashboard/clients/{id}/delete", signedIn, s.handleConfirmDeleteClient},
		{"POST /dashboard/clients/{id}/delete", signedIn, s.handleDeleteClient},
	}
}

// clientPageSize is how many clients one page of the list shows.
const clientPageSize = 50

type clientListData struct {
	Clients  []*auth.Client
	Next     string // the next page's link, "" on the last
	NoOwners bool   // a developer without owners, who can see nothing
	Self     string // the dashboard's own client ID, shown read-only
}

func (s *Server) handleClients(w http.ResponseWriter, r *http.Request, v *viewer) {
	d := clientListData{Self: ClientID}
	f := auth.ClientFilter{After: r.URL.Query().Get("after"), Limit: clientPageSize}
	if !v.admin() {
		// An empty Owners filter means every owner: a developer without
		// owners must get nothing, not everything.
		if len(v.user.Owners) == 0 {
			d.NoOwners = true
			s.show(w, r, v, http.StatusOK, "clients.html", &view{Title: "OAuth clients", Nav: "clients", Data: d})
			return
		}
		f.Owners = v.user.Owners
	}
	cs, next, err := s.cfg.Clients.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, c := range cs {
		// The filter is the store's; this check is the dashboard's own, so
		// a store that ignored Owners could not show a developer more.
		if v.owns(c.Owner) && (c.ID != ClientID || v.admin()) {
			d.Clients = append(d.Clients, c)
		}
	}
	if next != "" {
		q := url.Values{"after": {next}}
		d.Next = "/dashboard/clients?" + q.Encode()
	}
	s.show(w, r, v, http.StatusOK, "clients.html", &view{Title: "OAuth clients", Nav: "clients", Data: d})
}

// clientForm is the create and edit form as typed, kept to show it again
// with an error.
type clientForm struct {
	Name, Owner, Type, AuthMethod           string
	RedirectURIs, PostLogoutRedirectURIs    string // one per line
	GrantTypes                              []string
	Scopes                                  string // space-separated
	Audiences                               string // one per line
	JWKS                                    string
	AccessTokenTTL, RefreshTokenTTL, MaxTTL string // Go durations

	RequireDPoP, RequirePAR, AllowImpersonation bool
	BackchannelLogoutURI, ApplicationType       string
	ExchangeIssuers                             string // one per line
	MFA                                         string // "", optional or required
}

// grantOption is one grant type's checkbox.
type grantOption struct {
	Value, Label string
	Checked      bool
}

type clientFormData struct {
	formError
	Client      *auth.Client // the client edited; nil on create
	Form        clientForm
	Owners      []string // a developer's owners, the choices of the owner field; nil for admins
	Grants      []grantOption
	AuthMethods []grantOption
}

// formError is a form's refusal: the message shown above the form and,
// when known, the field it is about, marked and described by it.
type formError struct {
	Error string
	Field string // the field's name and id, "" when unknown
}

// fieldState is what a form field's templates need to mark it.
type fieldState struct{ Name, Field, Error string }

// F describes the field name for the "invalid" and "fielderror"
// templates.
func (e formError) F(name string) fieldState { return fieldState{name, e.Field, e.Error} }

// authMethods are the choices of the authentication method, the
// registry's default first.
var authMethods = []grantOption{
	{Value: "", Label: "Default (client_secret_basic; none for public clients)"},
	{Value: auth.AuthMethodSecretBasic, Label: "client_secret_basic (HTTP Basic)"},
	{Value: auth.AuthMethodSecretPost, Label: "client_secret_post (in the form)"},
	{Value: auth.AuthMethodPrivateKeyJWT, Label: "private_key_jwt (signed assertion, JWKS below)"},
	{Value: auth.AuthMethodNone, Label: "none (public clients)"},
}

// grantTypes are the grants a client may have, in the order shown.
var grantTypes = []grantOption{
	{Value: auth.GrantAuthorizationCode, Label: "Authorization code (with PKCE)"},
	{Value: auth.GrantRefreshToken, Label: "Refresh token"},
	{Value: auth.GrantClientCredentials, Label: "Client credentials (service to service)"},
	{Value: auth.GrantDeviceCode, Label: "Device code (TVs and command-line tools)"},
	{Value: auth.GrantTokenExchange, Label: "Token exchange (a service acting for a user)"},
}

func (d *clientFormData) setGrants() {
	d.Grants = slices.Clone(grantTypes)
	for i := range d.Grants {
		d.Grants[i].Checked = slices.Contains(d.Form.GrantTypes, d.Grants[i].Value)
	}
}

// readClientForm reads the posted form.
func readClientForm(r *http.Request) clientForm {
	f := r.PostForm
	return clientForm{
		Name:                   f.Get("name"),
		Owner:                  f.Get("owner"),
		Type:                   f.Get("type"),
		AuthMethod:             f.Get("auth_method"),
		RedirectURIs:           f.Get("redirect_uris"),
		PostLogoutRedirectURIs: f.Get("post_logout_redirect_uris"),
		GrantTypes:             f["grant_types"],
		Scopes:                 f.Get("scopes"),
		Audiences:              f.Get("audiences"),
		JWKS:                   f.Get("jwks"),
		AccessTokenTTL:         f.Get("access_token_ttl"),
		RefreshTokenTTL:        f.Get("refresh_token_ttl"),
		MaxTTL:                 f.Get("refresh_token_max_ttl"),
		RequireDPoP:            f.Get("require_dpop") != "",
		RequirePAR:             f.Get("require_par") != "",
		AllowImpersonation:     f.Get("allow_impersonation") != "",
		BackchannelLogoutURI:   f.Get("backchannel_logout_uri"),
		ApplicationType:        f.Get("application_type"),
		ExchangeIssuers:        f.Get("exchange_issuers"),
		MFA:                    f.Get("mfa"),
	}
}

// formOf fills the edit form with a client's settings.
func formOf(c *auth.Client) clientForm {
	f := clientForm{
		Name:                   c.Name,
		Owner:                  c.Owner,
		Type:                   "confidential",
		AuthMethod:             c.AuthMethod,
		RedirectURIs:           strings.Join(c.RedirectURIs, "\n"),
		PostLogoutRedirectURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"),
		GrantTypes:             slices.Clone(c.GrantTypes),
		Scopes:                 strings.Join(c.Scopes, " "),
		Audiences:              strings.Join(c.Audiences, "\n"),
		JWKS:                   string(c.JWKS),
		AccessTokenTTL:         durationText(c.AccessTokenTTL),
		RefreshTokenTTL:        durationText(c.RefreshTokenTTL),
		MaxTTL:                 durationText(c.RefreshTokenMaxTTL),
		RequireDPoP:            c.RequireDPoP,
		RequirePAR:             c.RequirePAR,
		AllowImpersonation:     c.AllowImpersonation,
		BackchannelLogoutURI:   c.BackchannelLogoutURI,
		ApplicationType:        c.ApplicationType,
		ExchangeIssuers:        strings.Join(c.ExchangeIssuers, "\n"),
		MFA:                    c.MFA,
	}
	if c.Public {
		f.Type = "public"
	}
	return f
}

// durationText writes a lifetime as the form reads it back
// (time.ParseDuration), "" for the server's default.
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// request turns the form into the admin API's request, which
// admin.ClientInput reads as it reads the API's JSON.
func (f clientForm) request() (admin.ClientRequest, error) {
	req := admin.ClientRequest{
		Name:                    f.Name,
		Owner:                   strings.TrimSpace(f.Owner),
		TokenEndpointAuthMethod: f.AuthMethod,
		RedirectURIs:            lines(f.RedirectURIs),
		PostLogoutRedirectURIs:  lines(f.PostLogoutRedirectURIs),
		GrantTypes:              f.GrantTypes,
		Scopes:                  auth.SplitList(f.Scopes),
		Audiences:               lines(f.Audiences),
		AccessTokenTTL:          strings.TrimSpace(f.AccessTokenTTL),
		RefreshTokenTTL:         strings.TrimSpace(f.RefreshTokenTTL),
		RefreshTokenMaxTTL:      strings.TrimSpace(f.MaxTTL),
		RequireDPoP:             f.RequireDPoP,
		RequirePAR:              f.RequirePAR,
		BackchannelLogoutURI:    strings.TrimSpace(f.BackchannelLogoutURI),
		ApplicationType:         f.ApplicationType,
		ExchangeIssuers:         lines(f.ExchangeIssuers),
		AllowImpersonation:      f.AllowImpersonation,
		MFA:                     f.MFA,
	}
	switch f.Type {
	case "public":
		req.Public = true
	case "confidential":
	default:
		return req, auth.Errorf(auth.EINVALID, "Choose whether the client is confidential or public.")
	}
	if j := strings.TrimSpace(f.JWKS); j != "" {
		req.JWKS = jsontext.Value(j)
	}
	return req, nil
}

// lines splits a textarea into its non-empty lines, without the spaces
// around them (browsers send CRLF).
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// clientFields maps the messages of the client registry (and of
// admin.ClientInput) to the form field they are about, most specific
// first. Messages quote what was typed, so each pattern is matched at the
// start of the message, before any quoted input.
var clientFields = []struct{ prefix, field string }{
	{"The name", "name"},
	{"owner must", "owner"},
	{"You can only use one of your owners", "owner"},
	{"Choose whether the client", "type"},
	{"A client cannot change between public", "type"},
	{"A public client authenticates", "auth_method"},
	{"A confidential client must authenticate", "auth_method"},
	{"Unknown authentication method", "auth_method"},
	{"A JWKS", "jwks"},
	{"The JWKS", "jwks"},
	{"Key ", "jwks"},
	{"A client using private_key_jwt", "jwks"},
	{"Invalid post-logout redirect URI", "post_logout_redirect_uris"},
	{"Invalid redirect URI", "redirect_uris"},
	{"A public client needs a redirect URI", "redirect_uris"},
	{"The authorization_code grant needs", "redirect_uris"},
	{"Redirect URIs are only", "grant_types"},
	{"Unknown grant type", "grant_types"},
	{"The client_credentials grant", "grant_types"},
	{"The refresh_token grant", "grant_types"},
	{"The token-exchange grant", "grant_types"},
	{"Pushed authorization requests are", "grant_types"},
	{"A back-channel logout URI", "backchannel_logout_uri"},
	{"Invalid back-channel logout URI", "backchannel_logout_uri"},
	{"Unknown application type", "application_type"},
	{"The MFA policy", "mfa"},
	{"A second-factor policy", "mfa"},
	{"Exchange issuers and impersonation", "exchange_issuers"},
	{"A client may trust at most", "exchange_issuers"},
	{"Invalid exchange issuer", "exchange_issuers"},
	{"Scopes you cannot grant", "scopes"},
	{"Audiences you cannot grant", "audiences"},
	{"A scope", "scopes"},
	{"The scope", "scopes"},
	{"The audience", "audiences"},
	{"The access token lifetime", "access_token_ttl"},
	{`The member "access_token_ttl"`, "access_token_ttl"},
	{"The refresh token idle lifetime", "refresh_token_ttl"},
	{`The member "refresh_token_ttl"`, "refresh_token_ttl"},
	{"The refresh token absolute lifetime", "refresh_token_max_ttl"},
	{`The member "refresh_token_max_ttl"`, "refresh_token_max_ttl"},
}

// clientLimits are the registry's "A client may have at most N ..."
// messages, which quote no input: the word after the number names the
// field.
var clientLimits = []struct{ word, field string }{
	{"post-logout", "post_logout_redirect_uris"},
	{"redirect", "redirect_uris"},
	{"scopes", "scopes"},
	{"audiences", "audiences"},
}

// clientFieldOf names the client form's field an error message is about,
// "" when it cannot tell.
func clientFieldOf(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "A client may have at most "); ok {
		for _, l := range clientLimits {
			if strings.Contains(rest, l.word) {
				return l.field
			}
		}
		return ""
	}
	return fieldOf(clientFields, msg)
}

// fieldOf names the field an error message is about by the table's
// prefixes, "" when it cannot tell.
func fieldOf(table []struct{ prefix, field string }, msg string) string {
	for _, e := range table {
		if strings.HasPrefix(msg, e.prefix) {
			return e.field
		}
	}
	return ""
}

// checkOwnerChoice refuses a developer an owner that is not theirs (and no
// owner at all, which would hide the client from them).
func checkOwnerChoice(v *viewer, owner string) error {
	if v.owns(owner) {
		return nil
	}
	return auth.Errorf(auth.EFORBIDDEN, "You can only use one of your owners: %s.", strings.Join(v.user.Owners, ", "))
}

// showClientForm renders the create or edit form, with err's message when
// err is a refusal of the input; any other error is the error page.
func (s *Server) showClientForm(w http.ResponseWriter, r *http.Request, v *viewer, d clientFormData, err error) {
	status := http.StatusOK
	if err != nil {
		switch auth.ErrorCode(err) {
		case auth.EINVALID, auth.EFORBIDDEN, auth.ECONFLICT:
		default:
			s.fail(w, r, err)
			return
		}
		status, _ = admin.StatusOf(err)
		d.Error = auth.ErrorMessage(err)
		d.Field = clientFieldOf(d.Error)
	}
	if !v.admin() {
		d.Owners = v.user.Owners
	}
	d.setGrants()
	d.AuthMethods = authMethods
	title := "New OAuth client"
	if d.Client != nil {
		title = "Edit " + d.Client.Name
	}
	s.show(w, r, v, status, "clientform.html", &view{Title: title, Nav: "clients", Data: d})
}

func (s *Server) handleNewClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	if !v.admin() && len(v.user.Owners) == 0 {
		s.fail(w, r, auth.Errorf(auth.EFORBIDDEN, "Your account has no owners, so it cannot own a client; ask an administrator."))
		return
	}
	f := clientForm{Type: "confidential", GrantTypes: []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken}}
	if !v.admin() {
		f.Owner = v.user.Owners[0]
	}
	s.showClientForm(w, r, v, clientFormData{Form: f}, nil)
}

// clientSecretData is the page that shows a client's secret, once.
type clientSecretData struct {
	Client  *auth.Client
	Secret  string
	Rotated bool
}

func (s *Server) handleCreateClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := readClientForm(r)
	d := clientFormData{Form: f}
	in, err := s.clientInput(v, f, nil)
	if err != nil {
		s.showClientForm(w, r, v, d, err)
		return
	}
	c, secret, err := s.cfg.Clients.Create(r.Context(), v.actor(), in)
	if err != nil {
		s.showClientForm(w, r, v, d, err)
		return
	}
	if secret == "" {
		redirectDone(w, r, clientPath(c.ID), "created")
		return
	}
	s.show(w, r, v, http.StatusCreated, "clientsecret.html", &view{
		Title: "Client created", Nav: "clients", Data: clientSecretData{Client: c, Secret: secret},
	})
}

// clientInput reads the form as the admin API reads its JSON, after the
// rules only the dashboard has: a developer's owners and grants (old: the
// client edited, nil for a new one).
func (s *Server) clientInput(v *viewer, f clientForm, old *auth.Client) (client.Input, error) {
	if err := checkOwnerChoice(v, strings.TrimSpace(f.Owner)); err != nil {
		return client.Input{}, err
	}
	req, err := f.request()
	if err != nil {
		return client.Input{}, err
	}
	in, err := admin.ClientInput(req)
	if err != nil {
		return client.Input{}, err
	}
	if old != nil {
		// The form does not show registration metadata: an edit keeps it.
		in.Metadata = old.Metadata
	}
	return in, s.checkClientGrants(v, scopesAndAudiences{in.Scopes, in.Audiences, in.GrantTypes}, old)
}

func clientPath(id string) string { return "/dashboard/clients/" + url.PathEscape(id) }

// viewClient reads the client of the request's path that the viewer may
// see: another owner's client, and the dashboard's own for a developer, are
// the same 404 as a missing one.
func (s *Server) viewClient(ctx context.Context, r *http.Request, v *viewer) (*auth.Client, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	c, err := s.cfg.Clients.Get(ctx, id)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, hidden("client")
	}
	if err != nil {
		return nil, err
	}
	if !v.owns(c.Owner) || (c.ID == ClientID && !v.admin()) {
		return nil, hidden("client")
	}
	return c, nil
}

// manageClient is viewClient for a change: the registry refuses to change
// a first-party client such as the dashboard's own, and asking it before
// showing a form or a confirmation keeps those pages from offering what
// would be refused.
func (s *Server) manageClient(ctx context.Context, r *http.Request, v *viewer) (*auth.Client, error) {
	c, err := s.viewClient(ctx, r, v)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Clients.Changeable(c.ID); err != nil {
		return nil, err
	}
	return c, nil
}

type clientData struct {
	Client    *auth.Client
	ReadOnly  bool // the dashboard's own client
	HasSecret bool
}

func (s *Server) handleClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, err := s.viewClient(r.Context(), r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusOK, "client.html", &view{Title: c.Name, Nav: "clients", Data: clientData{
		Client: c, ReadOnly: c.ID == ClientID, HasSecret: usesSecret(c.AuthMethod),
	}})
}

// usesSecret reports whether a client with that method authenticates with
// a secret, which the dashboard can rotate.
func usesSecret(method string) bool {
	return method == auth.AuthMethodSecretBasic || method == auth.AuthMethodSecretPost
}

func (s *Server) handleEditClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, err := s.manageClient(r.Context(), r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.showClientForm(w, r, v, clientFormData{Client: c, Form: formOf(c)}, nil)
}

func (s *Server) handleUpdateClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, err := s.manageClient(r.Context(), r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := readClientForm(r)
	// A client keeps its type (the registry refuses a change): the edit
	// form shows it without a field.
	f.Type = formOf(c).Type
	d := clientFormData{Client: c, Form: f}
	in, err := s.clientInput(v, f, c)
	if err != nil {
		s.showClientForm(w, r, v, d, err)
		return
	}
	if _, err := s.cfg.Clients.Update(r.Context(), v.actor(), c.ID, in); err != nil {
		s.showClientForm(w, r, v, d, err)
		return
	}
	redirectDone(w, r, clientPath(c.ID), "updated")
}

func (s *Server) handleConfirmRotateClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.confirmClient(w, r, v, "clientrotate.html", "Rotate the secret of ")
}

// errNoSecret refuses to rotate what does not exist, in the registry's
// words (client.Registry.RotateSecret), before asking to confirm it.
func errNoSecret(c *auth.Client) error {
	return auth.Errorf(auth.EINVALID, "The client authenticates with %s and has no secret.", c.AuthMethod)
}

func (s *Server) handleConfirmDeleteClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.confirmClient(w, r, v, "clientdelete.html", "Delete ")
}

func (s *Server) confirmClient(w http.ResponseWriter, r *http.Request, v *viewer, tmpl, title string) {
	c, err := s.manageClient(r.Context(), r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if tmpl == "clientrotate.html" && !usesSecret(c.AuthMethod) {
		s.fail(w, r, errNoSecret(c))
		return
	}
	s.show(w, r, v, http.StatusOK, tmpl, &view{Title: title + c.Name, Nav: "clients", Data: clientData{
		Client: c, HasSecret: usesSecret(c.AuthMethod),
	}})
}

func (s *Server) handleRotateClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, err := s.manageClient(r.Context(), r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.checkClientSecret(v, c); err != nil {
		s.fail(w, r, err)
		return
	}
	c, secret, err := s.cfg.Clients.RotateSecret(r.Context(), v.actor(), c.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.show(w, r, v, http.StatusOK, "clientsecret.html", &view{
		Title: "Secret rotated", Nav: "clients", Data: clientSecretData{Client: c, Secret: secret, Rotated: true},
	})
}

func (s *Server) handleDeleteClient(w http.ResponseWriter, r *http.Request, v *viewer) {
	c, err := s.manageClient(r.Context(), r, v)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Clients.Delete(r.Context(), v.actor(), c.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	redirectDone(w, r, "/dashboard/clients", "deleted")
}
