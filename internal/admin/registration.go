package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// RegistrationTokenService is what the API needs to manage the initial
// access tokens of dynamic client registration (*client.Registry).
type RegistrationTokenService interface {
	IssueInitialToken(ctx context.Context, actor string, uses int, ttl time.Duration) (*auth.InitialAccessToken, string, error)
	ListInitialTokens(ctx context.Context, f auth.InitialAccessTokenFilter) ([]*auth.InitialAccessToken, string, error)
	RevokeInitialToken(ctx context.Context, actor, id string) (*auth.InitialAccessToken, error)
}

var _ RegistrationTokenService = (*client.Registry)(nil)

func errNoRegistration() error {
	return auth.Errorf(auth.ENOTFOUND, "Dynamic client registration is not enabled on this node.")
}

// handleCreateRegistrationToken serves POST /admin/v1/registration-tokens:
// 201 with the token, shown this once.
func (s *Server) handleCreateRegistrationToken(w http.ResponseWriter, r *http.Request) error {
	var req RegistrationTokenRequest
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		d, err := parseDuration("expires_in", req.ExpiresIn)
		if err != nil {
			return err
		}
		if d <= 0 {
			return auth.Errorf(auth.EINVALID, "The member %q must be a positive duration.", "expires_in")
		}
		ttl = d
	}
	t, plaintext, err := s.regTokens.IssueInitialToken(r.Context(), actorOf(r), req.Uses, ttl)
	if err != nil {
		return fmt.Errorf("admin: create registration token: %w", err)
	}
	w.Header().Set("Location", "/admin/v1/registration-tokens/"+url.PathEscape(t.ID))
	s.writeJSON(w, r, http.StatusCreated, CreatedRegistrationToken{RegistrationToken: registrationTokenFromRecord(t, s.now()), Token: plaintext})
	return nil
}

// handleListRegistrationTokens serves GET /admin/v1/registration-tokens.
func (s *Server) handleListRegistrationTokens(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := plainPage(r)
	if err != nil {
		return err
	}
	ts, next, err := s.regTokens.ListInitialTokens(r.Context(), auth.InitialAccessTokenFilter{After: after, Limit: limit})
	if err != nil {
		return fmt.Errorf("admin: list registration tokens: %w", err)
	}
	now := s.now()
	out := RegistrationTokenList{Items: make([]RegistrationToken, 0, len(ts)), NextCursor: next}
	for _, t := range ts {
		out.Items = append(out.Items, registrationTokenFromRecord(t, now))
	}
	s.writeJSON(w, r, http.StatusOK, out)
	return nil
}

// handleRevokeRegistrationToken serves
// POST /admin/v1/registration-tokens/{id}/revoke: the token allows no more
// registrations; the clients registered with it stay.
func (s *Server) handleRevokeRegistrationToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "registration token ID")
	if err != nil {
		return err
	}
	var req struct{}
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	t, err := s.regTokens.RevokeInitialToken(r.Context(), actorOf(r), id)
	if err != nil {
		return fmt.Errorf("admin: revoke registration token: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, registrationTokenFromRecord(t, s.now()))
	return nil
}

// registrationTokenFromRecord shows an initial access token without its
// hash.
func registrationTokenFromRecord(t *auth.InitialAccessToken, now time.Time) RegistrationToken {
	status := "active"
	switch {
	case !t.RevokedAt.IsZero():
		status = "revoked"
	case auth.Expired(t.ExpiresAt, now):
		status = "expired"
	case t.Used >= t.Uses:
		status = "used_up"
	}
	return RegistrationToken{
		ID: t.ID, Hint: t.Hint, CreatedBy: t.CreatedBy, Uses: t.Uses, Used: t.Used, Status: status,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt,
	}
}

// CreateRegistrationToken issues an initial access token for dynamic
// client registration; the token in the answer is its only copy.
func (c *Client) CreateRegistrationToken(ctx context.Context, req RegistrationTokenRequest) (*CreatedRegistrationToken, error) {
	var out CreatedRegistrationToken
	if err := c.do(ctx, http.MethodPost, "/admin/v1/registration-tokens", nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListRegistrationTokens returns one page of initial access tokens.
func (c *Client) ListRegistrationTokens(ctx context.Context, p PageParams) (*RegistrationTokenList, error) {
	var out RegistrationTokenList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/registration-tokens", p.query(), nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeRegistrationToken revokes an initial access token.
func (c *Client) RevokeRegistrationToken(ctx context.Context, id string) (*RegistrationToken, error) {
	path, err := idPath("/admin/v1/registration-tokens", id)
	if err != nil {
		return nil, err
	}
	var out RegistrationToken
	if err := c.do(ctx, http.MethodPost, path+"/revoke", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
