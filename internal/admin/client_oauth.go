package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// PageParams are the query parameters of the plain list routes.
type PageParams struct {
	Limit  int    // 1..500; 0 means the server default (100)
	Cursor string // next_cursor of the previous page
}

func (p PageParams) query() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	setIf(q, "cursor", p.Cursor)
	return q
}

func idPath(base, id string) (string, error) {
	if id == "" {
		return "", auth.Errorf(auth.EINVALID, "an ID is required")
	}
	return base + "/" + url.PathEscape(id), nil
}

// CreateClient registers a client; the secret in the answer is its only copy.
func (c *Client) CreateClient(ctx context.Context, req ClientRequest) (*CreatedClient, error) {
	var out CreatedClient
	if err := c.do(ctx, http.MethodPost, "/admin/v1/clients", nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListClients returns one page of clients.
func (c *Client) ListClients(ctx context.Context, p PageParams) (*ClientList, error) {
	var out ClientList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/clients", p.query(), nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetClient returns one client.
func (c *Client) GetClient(ctx context.Context, id string) (*OAuthClient, error) {
	path, err := idPath("/admin/v1/clients", id)
	if err != nil {
		return nil, err
	}
	var out OAuthClient
	if err := c.do(ctx, http.MethodGet, path, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateClient replaces every setting of a client.
func (c *Client) UpdateClient(ctx context.Context, id string, req ClientRequest) (*OAuthClient, error) {
	path, err := idPath("/admin/v1/clients", id)
	if err != nil {
		return nil, err
	}
	var out OAuthClient
	if err := c.do(ctx, http.MethodPut, path, nil, &req, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteClient deletes a client and revokes everything issued to it.
func (c *Client) DeleteClient(ctx context.Context, id string) error {
	path, err := idPath("/admin/v1/clients", id)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true, nil, http.StatusNoContent)
}

// RotateClientSecret replaces a client's secret; the answer holds the new one.
func (c *Client) RotateClientSecret(ctx context.Context, id string) (*CreatedClient, error) {
	path, err := idPath("/admin/v1/clients", id)
	if err != nil {
		return nil, err
	}
	var out CreatedClient
	if err := c.do(ctx, http.MethodPost, path+"/rotate-secret", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUser creates a local user.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	var out User
	if err := c.do(ctx, http.MethodPost, "/admin/v1/users", nil, &req, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListUsers returns one page of users.
func (c *Client) ListUsers(ctx context.Context, p PageParams) (*UserList, error) {
	var out UserList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/users", p.query(), nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, id string) (*User, error) {
	path, err := idPath("/admin/v1/users", id)
	if err != nil {
		return nil, err
	}
	var out User
	if err := c.do(ctx, http.MethodGet, path, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes a user's role or owners.
func (c *Client) UpdateUser(ctx context.Context, id string, patch UserPatch) (*User, error) {
	path, err := idPath("/admin/v1/users", id)
	if err != nil {
		return nil, err
	}
	var out User
	if err := c.do(ctx, http.MethodPatch, path, nil, &patch, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetUserEnabled enables or disables a user.
func (c *Client) SetUserEnabled(ctx context.Context, id string, enabled bool) (*User, error) {
	path, err := idPath("/admin/v1/users", id)
	if err != nil {
		return nil, err
	}
	action := "/disable"
	if enabled {
		action = "/enable"
	}
	var out User
	if err := c.do(ctx, http.MethodPost, path+action, nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResetPassword sets a user's password and ends their sessions.
func (c *Client) ResetPassword(ctx context.Context, id, password string) error {
	path, err := idPath("/admin/v1/users", id)
	if err != nil {
		return err
	}
	req := ResetPasswordRequest{Password: password}
	return c.do(ctx, http.MethodPost, path+"/reset-password", nil, &req, true, nil, http.StatusNoContent)
}

// ListConsents returns every consent of a user.
func (c *Client) ListConsents(ctx context.Context, userID string) (*ConsentList, error) {
	path, err := idPath("/admin/v1/users", userID)
	if err != nil {
		return nil, err
	}
	var out ConsentList
	if err := c.do(ctx, http.MethodGet, path+"/consents", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeConsent removes a user's consent to a client and revokes its tokens.
func (c *Client) RevokeConsent(ctx context.Context, userID, clientID string) error {
	path, err := idPath("/admin/v1/users", userID)
	if err != nil {
		return err
	}
	path, err = idPath(path+"/consents", clientID)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true, nil, http.StatusNoContent)
}

// ListSigningKeys returns every published signing key.
func (c *Client) ListSigningKeys(ctx context.Context) (*SigningKeyList, error) {
	var out SigningKeyList
	if err := c.do(ctx, http.MethodGet, "/admin/v1/signing-keys", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateSigningKey makes the next key sign from now on.
func (c *Client) RotateSigningKey(ctx context.Context) (*SigningKey, error) {
	var out SigningKey
	if err := c.do(ctx, http.MethodPost, "/admin/v1/signing-keys/rotate", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}
