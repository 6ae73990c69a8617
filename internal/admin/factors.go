package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
)

// FactorService is what the API needs to show and remove users' second
// factors (*factors.Service).
type FactorService interface {
	List(ctx context.Context, userID string) (*factors.Factors, error)
	Reset(ctx context.Context, actor, userID string, which factors.Which) error
}

var _ FactorService = (*factors.Service)(nil)

func errNoFactors() error {
	return auth.Errorf(auth.ENOTFOUND, "Second factors are not served on this node.")
}

// UserFactors is the answer of GET /admin/v1/users/{id}/factors: what
// second factors the user has, never a secret.
type UserFactors struct {
	// TOTP is the authenticator app; null when none is set up.
	TOTP     *UserTOTP     `json:"totp"`
	Passkeys []UserPasskey `json:"passkeys"`
}

// UserTOTP is a user's authenticator app.
type UserTOTP struct {
	EnrolledAt        time.Time `json:"enrolled_at"`
	RecoveryCodesLeft int       `json:"recovery_codes_left"`
}

// UserPasskey is one of a user's passkeys.
type UserPasskey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func userFactorsFrom(f *factors.Factors) UserFactors {
	out := UserFactors{Passkeys: make([]UserPasskey, 0, len(f.Passkeys))}
	if f.TOTP != nil {
		out.TOTP = &UserTOTP{EnrolledAt: f.TOTP.EnrolledAt.UTC(), RecoveryCodesLeft: f.TOTP.RecoveryCodesLeft}
	}
	for _, p := range f.Passkeys {
		up := UserPasskey{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC()}
		if !p.LastUsedAt.IsZero() {
			t := p.LastUsedAt.UTC()
			up.LastUsedAt = &t
		}
		out.Passkeys = append(out.Passkeys, up)
	}
	return out
}

// handleListFactors serves GET /admin/v1/users/{id}/factors.
func (s *Server) handleListFactors(w http.ResponseWriter, r *http.Request) error {
	if s.factors == nil {
		return errNoFactors()
	}
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	f, err := s.factors.List(r.Context(), id)
	if err != nil {
		return fmt.Errorf("admin: list factors: %w", err)
	}
	s.writeJSON(w, r, http.StatusOK, userFactorsFrom(f))
	return nil
}

// handleResetFactors serves DELETE /admin/v1/users/{id}/factors: 204; every
// second factor of the user is removed and the user's sessions end.
func (s *Server) handleResetFactors(w http.ResponseWriter, r *http.Request) error {
	return s.resetFactors(w, r, factors.Which{})
}

// handleResetTOTP serves DELETE /admin/v1/users/{id}/factors/totp: the
// authenticator app and its recovery codes.
func (s *Server) handleResetTOTP(w http.ResponseWriter, r *http.Request) error {
	return s.resetFactors(w, r, factors.Which{TOTP: true})
}

// handleResetPasskey serves DELETE
// /admin/v1/users/{id}/factors/passkeys/{passkey_id}.
func (s *Server) handleResetPasskey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathValue(r, "passkey_id", "passkey ID")
	if err != nil {
		return err
	}
	return s.resetFactors(w, r, factors.Which{PasskeyID: id})
}

func (s *Server) resetFactors(w http.ResponseWriter, r *http.Request, which factors.Which) error {
	if s.factors == nil {
		return errNoFactors()
	}
	id, err := pathValue(r, "id", "user ID")
	if err != nil {
		return err
	}
	if err := s.factors.Reset(r.Context(), actorOf(r), id, which); err != nil {
		return fmt.Errorf("admin: reset factors: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ListFactors returns a user's second factors.
func (c *Client) ListFactors(ctx context.Context, userID string) (*UserFactors, error) {
	path, err := idPath("/admin/v1/users", userID)
	if err != nil {
		return nil, err
	}
	var out UserFactors
	if err := c.do(ctx, http.MethodGet, path+"/factors", nil, nil, true, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// ResetFactors removes a user's second factors — all of them, the
// authenticator app alone (totp), or one passkey (passkeyID) — and ends the
// user's sessions.
func (c *Client) ResetFactors(ctx context.Context, userID string, totp bool, passkeyID string) error {
	path, err := idPath("/admin/v1/users", userID)
	if err != nil {
		return err
	}
	path += "/factors"
	switch {
	case totp && passkeyID != "":
		return auth.Errorf(auth.EINVALID, "Name the authenticator app or one passkey, not both.")
	case totp:
		path += "/totp"
	case passkeyID != "":
		if path, err = idPath(path+"/passkeys", passkeyID); err != nil {
			return err
		}
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil, true, nil, http.StatusNoContent)
}
