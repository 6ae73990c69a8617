package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// ClientService is what the API needs of the client registry
// (*client.Registry).
type ClientService interface {
	Create(ctx context.Context, actor string, in client.Input) (*auth.Client, string, error)
	Update(ctx context.Context, actor, id string, in client.Input) (*auth.Client, error)
	RotateSecret(ctx context.Context, actor, id string) (*auth.Client, string, error)
	Delete(ctx context.Context, actor, id string) error
	Get(ctx context.Context, id string) (*auth.Client, error)
	List(ctx context.Context, f auth.ClientFilter) ([]*auth.Client, string, error)
}

// ConsentService is what the API needs of the authorization server's
// consents (*oauth.Server).
type ConsentService interface {
	ListConsents(ctx context.Context, userID string) ([]*auth.Consent, error)
	RevokeConsent(ctx context.Context, actor, userID, clientID string) error
}

// UserService is what the API needs of the account service (*account.Service).
type UserService interface {
	Create(ctx context.Context, actor string, in account.CreateInput) (*auth.User, error)
	Get(ctx context.Context, id string) (*auth.User, error)
	List(ctx context.Context, f auth.UserFilter) ([]*auth.User, string, error)
	Disable(ctx context.Context, actor, id string) (*auth.User, error)
	Enable(ctx context.Context, actor, id string) (*auth.User, error)
	Update(ctx context.Context, actor, id string, in account.UpdateInput) (*auth.User, error)
	ResetPassword(ctx context.Context, actor, id, password string) error
	CreateResetLink(ctx context.Context, actor, id string, email bool) (*account.ResetLink, error)
}

// SigningKeyService is what the API needs of the keyring (*signing.Keyring).
type SigningKeyService interface {
	Keys() []signing.KeyInfo
	Rotate(ctx context.Context, actor string) (signing.KeyInfo, error)
}

var (
	_ ClientService     = (*client.Registry)(nil)
	_ ConsentService    = (*oauth.Server)(nil)
	_ UserService       = (*account.Service)(nil)
	_ SigningKeyService = (*signing.Keyring)(nil)
)

// errNoOAuth answers the OAuth routes of a server built without the
// authorization server (some tests, and embedders that want keys alone).
func errNoOAuth() error {
	return auth.Errorf(auth.ENOTFOUND, "The authorization server is not enabled on this node.")
}

// handleCreateClient serves POST /admin/v1/clients: 201 with the client and
// its secret, shown this once.
func (s *Server) handleCreateClient(w http.ResponseWriter, r *http.Request) error {
	var req ClientRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	in, err := ClientInput(req)
	if err != nil {
		return err
	}
	c, secret, err := s.clients.Create(r.Context(), actorOf(r), in)
	if err != nil {
		return fmt.Errorf("admin: create client: %w", err)
	}
	w.Header().Set("Location", "/admin/v1/clients/"+url.PathEscape(c.ID))
	s.writeJSON(w, r, http.StatusCreated, CreatedClient{OAuthClient: clientFromRecord(c), ClientSecret: secret})
	return nil
}

// ClientInput checks the formats the transport owns (durations) and leaves
// every other rule to the client registry. The dashboard builds the same
// request from its form, so both read a client's settings alike.
func ClientInput(req ClientRequest) (client.Input, error) {
	in := client.Input{
		Name:                   req.Name,
		Owner:                  req.Owner,
		Public:                 req.Public,
		AuthMethod:             req.TokenEndpointAuthMethod,
		RedirectURIs:           req.RedirectURIs,
		PostLogoutRedirectURIs: req.PostLogoutRedirectURIs,
		GrantTypes:             req.GrantTypes,
		Scopes:                 req.Scopes,
		Audiences:              req.Audiences,
		RequireDPoP:            req.RequireDPoP,
		RequirePAR:             req.RequirePAR,
		BackchannelLogoutURI:   req.BackchannelLogoutURI,
		ApplicationType:        req.ApplicationType,
		ExchangeIssuers:        req.ExchangeIssuers,
		AllowImpersonation:     req.AllowImpersonation,
		MFA:                    req.MFA,
	}
	if len(req.JWKS) > 0 {
		in.JWKS = slices.Clone([]byte(req.JWKS))
	}
	if len(req.Metadata) > 0 {
		in.Metadata = slices.Clone([]byte(req.Metadata))
	}
	for _, d := range []struct {
		member string
		value  string
		dst    *time.Duration
	}{
		{"access_token_ttl", req.AccessTokenTTL, &in.AccessTokenTTL},
		{"refresh_token_ttl", req.RefreshTokenTTL, &in.RefreshTokenTTL},
		{"refresh_token_max_ttl", req.RefreshTokenMaxTTL, &in.RefreshTokenMaxTTL},
	} {
		if d.value == "" {
			continue
		}
		v, err := parseDuration(d.member, d.value)
		if err != nil {
			return in, err
		}
		if v <= 0 {
			return in, auth.Errorf(auth.EINVALID, "The member %q must be a positive duration.", d.member)
		}
		*d.dst = v
	}
	return in, nil
}

// plainPage reads the query of a list route that takes only a page size
// and a cursor.
func plainPage(r *http.Request) (after string, limit int, err error) {
	q, err := parseQuery(r, "limit", "cursor")
	if err != nil {
		return "", 0, err
	}
	if limit, err = pageLimit(q); err != nil {
		return "", 0, err
	}
	return q.Get("cursor"), limit, nil
}

// handleListClients serves GET /admin/v1/clients.
func (s *Server) handleListClients(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := plainPage(r)
	if err != nil {
		return err
	}
	cs, next, err := s.clients.List(r.Context(), auth.ClientFilter{After: after, Limit: limit})
	if err != nil {
		return fmt.Errorf("admin: list clients: %w", err)
	}
	out := ClientList{Items: make([]OAuthClient, 0, len(cs)), NextCursor: next}
	for _, c := range cs {
		out.Items = append(out.Items, clientFromRecord(c))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleGetClient serves GET /admin/v1/clients/{id}.
func (s *Server) handleGetClient(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "client ID")
	if err != nil {
		return err
	}
	c, err := s.clients.Get(r.Context(), id)
	if err != nil {
		return fmt.Errorf("admin: get client: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, clientFromRecord(c))
	return nil
}

// handleUpdateClient serves PUT /admin/v1/clients/{id}: the body replaces
// every setting; the secret is kept.
func (s *Server) handleUpdateClient(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "client ID")
	if err != nil {
		return err
	}
	var req ClientRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	in, err := ClientInput(req)
	if err != nil {
		return err
	}
	c, err := s.clients.Update(r.Context(), actorOf(r), id, in)
	if err != nil {
		return fmt.Errorf("admin: update client: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, clientFromRecord(c))
	return nil
}

// handleDeleteClient serves DELETE /admin/v1/clients/{id}: 204. Its codes,
// refresh tokens and consents go with it, its access tokens are revoked.
func (s *Server) handleDeleteClient(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "client ID")
	if err != nil {
		return err
	}
	if err := s.clients.Delete(r.Context(), actorOf(r), id); err != nil {
		return fmt.Errorf("admin: delete client: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleRotateClientSecret serves POST /admin/v1/clients/{id}/rotate-secret:
// the old secret stops working at once; the new one is shown this once.
func (s *Server) handleRotateClientSecret(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "client ID")
	if err != nil {
		return err
	}
	c, secret, err := s.clients.RotateSecret(r.Context(), actorOf(r), id)
	if err != nil {
		return fmt.Errorf("admin: rotate client secret: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, CreatedClient{OAuthClient: clientFromRecord(c), ClientSecret: secret})
	return nil
}

// handleCreateUser serves POST /admin/v1/users.
func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req CreateUserRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	u, err := s.users.Create(r.Context(), actorOf(r), account.CreateInput{
		Username:      req.Username,
		Password:      req.Password,
		Email:         req.Email,
		EmailVerified: req.EmailVerified,
		Name:          req.Name,
		Role:          req.Role,
		Owners:        req.Owners,
	})
	if err != nil {
		return fmt.Errorf("admin: create user: %w", err)
	}
	w.Header().Set("Location", "/admin/v1/users/"+url.PathEscape(u.ID))
	s.writeJSON(w, r, http.StatusCreated, userFromRecord(u))
	return nil
}

// handleListUsers serves GET /admin/v1/users.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := plainPage(r)
	if err != nil {
		return err
	}
	us, next, err := s.users.List(r.Context(), auth.UserFilter{After: after, Limit: limit})
	if err != nil {
		return fmt.Errorf("admin: list users: %w", err)
	}
	out := UserList{Items: make([]User, 0, len(us)), NextCursor: next}
	for _, u := range us {
		out.Items = append(out.Items, userFromRecord(u))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleGetUser serves GET /admin/v1/users/{id}.
func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	u, err := s.users.Get(r.Context(), id)
	if err != nil {
		return fmt.Errorf("admin: get user: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, userFromRecord(u))
	return nil
}

// handleUpdateUser serves PATCH /admin/v1/users/{id}: a change of role or
// owners, checked and audited (user.updated) by the account service.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	var patch UserPatch
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &patch); err != nil {
		return err
	}
	var in account.UpdateInput
	if patch.Role.Null {
		return auth.Errorf(auth.EINVALID, "The member %q cannot be null.", "role")
	}
	if patch.Role.Set {
		in.Role = &patch.Role.Value
	}
	if patch.Owners.Set {
		owners := patch.Owners.Value
		if patch.Owners.Null {
			owners = []string{}
		}
		in.Owners = &owners
	}
	u, err := s.users.Update(r.Context(), actorOf(r), id, in)
	if err != nil {
		return fmt.Errorf("admin: update user: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, userFromRecord(u))
	return nil
}

// handleDisableUser serves POST /admin/v1/users/{id}/disable: the user can
// no longer sign in and their sessions end.
func (s *Server) handleDisableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setUserEnabled(w, r, false)
}

// handleEnableUser serves POST /admin/v1/users/{id}/enable.
func (s *Server) handleEnableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setUserEnabled(w, r, true)
}

func (s *Server) setUserEnabled(w http.ResponseWriter, r *http.Request, enable bool) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	var u *auth.User
	if enable {
		u, err = s.users.Enable(r.Context(), actorOf(r), id)
	} else {
		u, err = s.users.Disable(r.Context(), actorOf(r), id)
	}
	if err != nil {
		return fmt.Errorf("admin: enable or disable user: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, userFromRecord(u))
	return nil
}

// handleResetPassword serves POST /admin/v1/users/{id}/reset-password: 204;
// the user's sessions end.
func (s *Server) handleResetPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	var req ResetPasswordRequest
	if err := decodeJSON(w, r, s.maxBody, bodyRequired, &req); err != nil {
		return err
	}
	if err := s.users.ResetPassword(r.Context(), actorOf(r), id, req.Password); err != nil {
		return fmt.Errorf("admin: reset password: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleListConsents serves GET /admin/v1/users/{id}/consents.
func (s *Server) handleListConsents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	cs, err := s.consents.ListConsents(r.Context(), id)
	if err != nil {
		return fmt.Errorf("admin: list consents: %w", err)
	}
	out := ConsentList{Items: make([]Consent, 0, len(cs))}
	for _, c := range cs {
		out.Items = append(out.Items, consentFromRecord(c))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleRevokeConsent serves DELETE /admin/v1/users/{id}/consents/{client_id}:
// 204; the tokens the user gave that client are revoked with it.
func (s *Server) handleRevokeConsent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	clientID, err := pathValue(r, "client_id", "client ID")
	if err != nil {
		return err
	}
	if err := s.consents.RevokeConsent(r.Context(), actorOf(r), id, clientID); err != nil {
		return fmt.Errorf("admin: revoke consent: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleListSigningKeys serves GET /admin/v1/signing-keys: every key still
// published, with public information only.
func (s *Server) handleListSigningKeys(w http.ResponseWriter, r *http.Request) error {
	keys := s.signingKeys.Keys()
	out := SigningKeyList{Items: make([]SigningKey, 0, len(keys))}
	for _, k := range keys {
		out.Items = append(out.Items, signingKeyFromInfo(k))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleRotateSigningKey serves POST /admin/v1/signing-keys/rotate: the next
// key, published since the current one was made, signs from now on.
func (s *Server) handleRotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.signingKeys.Rotate(r.Context(), actorOf(r))
	if err != nil {
		return fmt.Errorf("admin: rotate signing key: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, signingKeyFromInfo(k))
	return nil
}
