package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// ResetLinkRequest is the optional body of POST
// /admin/v1/users/{id}/reset-link.
type ResetLinkRequest struct {
	// Email sends the link to the user's e-mail address too (the server
	// needs identity.smtp).
	Email bool `json:"email,omitzero"`
}

// ResetLink is the answer of POST /admin/v1/users/{id}/reset-link: the
// one-time link, shown this once.
type ResetLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Emailed   bool      `json:"emailed"`
}

// handleCreateResetLink serves POST /admin/v1/users/{id}/reset-link: 201
// with a one-time link for the user to choose a new password, voiding the
// user's older links; with {"email": true} also sent to the user.
func (s *Server) handleCreateResetLink(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	var req ResetLinkRequest
	if err := decodeJSON(w, r, s.maxBody, bodyOptional, &req); err != nil {
		return err
	}
	l, err := s.users.CreateResetLink(r.Context(), actorOf(r), id, req.Email)
	if err != nil {
		return fmt.Errorf("admin: create reset link: %w", err)
	}
	// The link is a credential: no cache may keep the answer.
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, r, http.StatusCreated, ResetLink{URL: l.URL, ExpiresAt: l.ExpiresAt.UTC(), Emailed: l.Emailed})
	return nil
}

// CreateResetLink makes a one-time password-reset link for a user; with
// email, the server also sends it to the user's address.
func (c *Client) CreateResetLink(ctx context.Context, id string, email bool) (*ResetLink, error) {
	path, err := idPath("/admin/v1/users", id)
	if err != nil {
		return nil, err
	}
	var out ResetLink
	if err := c.do(ctx, http.MethodPost, path+"/reset-link", nil, &ResetLinkRequest{Email: email}, true, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}
