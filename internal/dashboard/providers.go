package dashboard

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
)

func (s *Server) providerPages() []page {
	return []page{
		{"GET /dashboard/providers", adminOnly, s.handleProviders},
		{"POST /dashboard/providers", adminOnly, s.handleCreateProvider},
		{"POST /dashboard/providers/{name}/delete", adminOnly, s.handleDeleteProvider},
	}
}

// providerRow is one provider on the providers page.
type providerRow struct {
	*auth.Provider
	Label       string
	RedirectURI string
}

// providersData is the providers page: the list, and the create form
// with what was typed and why it was refused.
type providersData struct {
	Available bool
	Providers []providerRow
	Form      map[string]string
	Error     string
}

func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request, v *viewer) {
	s.showProviders(w, r, v, http.StatusOK, nil, "")
}

func (s *Server) showProviders(w http.ResponseWriter, r *http.Request, v *viewer, status int, form map[string]string, msg string) {
	d := providersData{Available: s.cfg.Providers != nil, Form: form, Error: msg}
	if d.Form == nil {
		d.Form = map[string]string{"kind": auth.ProviderOIDC}
	}
	if s.cfg.Providers != nil {
		ps, err := s.cfg.Providers.List(r.Context())
		if err != nil {
			s.fail(w, r, fmt.Errorf("dashboard: list providers: %w", err))
			return
		}
		for _, p := range ps {
			d.Providers = append(d.Providers, providerRow{Provider: p, Label: federation.Label(p), RedirectURI: s.cfg.Providers.RedirectURI(p.Name)})
		}
	}
	s.show(w, r, v, status, "providers.html", &view{Title: "Identity providers", Nav: "providers", Data: d})
}

// handleCreateProvider creates a provider as POST /admin/v1/providers
// does; a refusal shows the form again with the message.
func (s *Server) handleCreateProvider(w http.ResponseWriter, r *http.Request, v *viewer) {
	if s.cfg.Providers == nil {
		s.fail(w, r, auth.Errorf(auth.ENOTFOUND, "Identity providers are not served on this node."))
		return
	}
	form := map[string]string{}
	for _, k := range []string{"name", "display_name", "kind", "issuer", "client_id", "scopes", "claim_mapping",
		"authorization_url", "token_url", "userinfo_url", "emails_url", "username_claim"} {
		form[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	in := federation.Input{Name: form["name"]}
	opt := func(k string) *string {
		if form[k] == "" {
			return nil
		}
		v := form[k]
		return &v
	}
	in.DisplayName, in.Kind, in.Issuer, in.ClientID = opt("display_name"), opt("kind"), opt("issuer"), opt("client_id")
	in.AuthorizationURL, in.TokenURL, in.UserinfoURL = opt("authorization_url"), opt("token_url"), opt("userinfo_url")
	in.EmailsURL, in.UsernameClaim = opt("emails_url"), opt("username_claim")
	if sc := strings.FieldsFunc(form["scopes"], func(r rune) bool { return r == ',' || r == ' ' }); len(sc) > 0 {
		in.Scopes = &sc
	}
	if secret := r.PostForm.Get("client_secret"); secret != "" {
		in.ClientSecret = &secret
	}
	m, err := federation.ParseClaimMapping(form["claim_mapping"])
	if err == nil {
		in.ClaimMapping = &m
		createUsers := r.PostForm.Get("create_users") == "on"
		in.CreateUsers = &createUsers
		trustEmail := r.PostForm.Get("trust_email") == "on"
		in.TrustEmail = &trustEmail
		_, err = s.cfg.Providers.Create(r.Context(), v.actor(), in)
	}
	switch auth.ErrorCode(err) {
	case "":
		redirectDone(w, r, "/dashboard/providers", "created")
	case auth.EINVALID, auth.ECONFLICT:
		status := http.StatusBadRequest
		if auth.ErrorCode(err) == auth.ECONFLICT {
			status = http.StatusConflict
		}
		s.showProviders(w, r, v, status, form, auth.ErrorMessage(err))
	default:
		s.fail(w, r, fmt.Errorf("dashboard: create provider: %w", err))
	}
}

// handleDeleteProvider deletes a provider and every link to it.
func (s *Server) handleDeleteProvider(w http.ResponseWriter, r *http.Request, v *viewer) {
	if s.cfg.Providers == nil {
		s.fail(w, r, auth.Errorf(auth.ENOTFOUND, "Identity providers are not served on this node."))
		return
	}
	if err := s.cfg.Providers.Delete(r.Context(), v.actor(), r.PathValue("name")); err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: delete provider: %w", err))
		return
	}
	redirectDone(w, r, "/dashboard/providers", "deleted")
}
