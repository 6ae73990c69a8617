// Package factors lets an administrator see and remove a user's second
// factors — the authenticator app with its recovery codes, and passkeys —
// for a user locked out of them (a lost phone, a lost key). It reads and
// deletes through the stores the mfa and passkey services own, never a
// secret, and ends the user's sessions so nothing signed in with a removed
// factor survives its removal.
package factors

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Store is what the service needs of the storage backend.
type Store interface {
	auth.MFAStore
	auth.PasskeyStore
	auth.AuditStore
	// DeleteUserSessions ends the user's sessions (auth.SessionStore).
	DeleteUserSessions(ctx context.Context, userID string) error
}

// Users finds users (*account.Service does).
type Users interface {
	// Get returns the user, or ENOTFOUND.
	Get(ctx context.Context, id string) (*auth.User, error)
}

// Service lists and removes users' second factors.
type Service struct {
	store Store
	users Users
	now   auth.Now
}

// New returns a Service; now nil means auth.SystemNow.
func New(store Store, users Users, now auth.Now) (*Service, error) {
	if store == nil || users == nil {
		return nil, errors.New("factors: a store and users are required")
	}
	if now == nil {
		now = auth.SystemNow
	}
	return &Service{store: store, users: users, now: now}, nil
}

// TOTP is a user's confirmed authenticator app.
type TOTP struct {
	EnrolledAt        time.Time
	RecoveryCodesLeft int
}

// Passkey is one of a user's passkeys, as an administrator sees it.
type Passkey struct {
	ID         string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

// Factors is what second factors a user has.
type Factors struct {
	TOTP     *TOTP // nil when none is confirmed
	Passkeys []Passkey
}

// List returns the user's second factors. ENOTFOUND for an unknown user.
func (s *Service) List(ctx context.Context, userID string) (*Factors, error) {
	if _, err := s.users.Get(ctx, userID); err != nil {
		return nil, err
	}
	var f Factors
	t, err := s.store.GetTOTP(ctx, userID)
	switch {
	case err == nil && t.Confirmed():
		n, err := s.store.CountRecoveryCodes(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("factors: %w", err)
		}
		f.TOTP = &TOTP{EnrolledAt: t.ConfirmedAt, RecoveryCodesLeft: n}
	case err != nil && auth.ErrorCode(err) != auth.ENOTFOUND:
		return nil, fmt.Errorf("factors: %w", err)
	}
	list, err := s.store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("factors: %w", err)
	}
	for _, p := range list {
		f.Passkeys = append(f.Passkeys, Passkey{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt})
	}
	return &f, nil
}

// Which names the factors Reset removes: all of them (the zero value), the
// authenticator app alone, or one passkey.
type Which struct {
	TOTP      bool
	PasskeyID string
}

// Reset removes the user's factors named by which, ends the user's
// sessions, and records user.factors_reset (actor: the administrator) with
// each removal. ENOTFOUND for an unknown user, or when which names a
// factor the user does not have; removing all of a user without any is
// not an error (the sessions still end).
func (s *Service) Reset(ctx context.Context, actor, userID string, which Which) error {
	if which.TOTP && which.PasskeyID != "" {
		return auth.Errorf(auth.EINVALID, "Name the authenticator app or one passkey, not both.")
	}
	if _, err := s.users.Get(ctx, userID); err != nil {
		return err
	}
	all := !which.TOTP && which.PasskeyID == ""
	var removed []string
	now := s.now()
	if all || which.TOTP {
		err := s.store.DeleteTOTP(ctx, userID, s.event(now, auth.EventTOTPRemoved, actor, userID, nil))
		switch {
		case err == nil:
			removed = append(removed, "totp")
		case auth.ErrorCode(err) == auth.ENOTFOUND && which.TOTP:
			return auth.Errorf(auth.ENOTFOUND, "The user has no authenticator app.")
		case auth.ErrorCode(err) != auth.ENOTFOUND:
			return fmt.Errorf("factors: %w", err)
		}
	}
	if all || which.PasskeyID != "" {
		list, err := s.store.ListPasskeys(ctx, userID)
		if err != nil {
			return fmt.Errorf("factors: %w", err)
		}
		found := false
		for _, p := range list {
			if !all && p.ID != which.PasskeyID {
				continue
			}
			found = true
			err := s.store.DeletePasskey(ctx, userID, p.ID,
				s.event(now, auth.EventPasskeyRemoved, actor, userID, map[string]string{"passkey_id": p.ID, "name": p.Name}))
			if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
				return fmt.Errorf("factors: %w", err)
			}
			removed = append(removed, "passkey:"+p.ID)
		}
		if !all && !found {
			return auth.Errorf(auth.ENOTFOUND, "The user has no such passkey.")
		}
	}
	if err := s.store.DeleteUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("factors: end sessions: %w", err)
	}
	details := map[string]string{"removed": strings.Join(removed, ","), "count": strconv.Itoa(len(removed))}
	if err := s.store.AppendAuditEvents(ctx, s.event(now, auth.EventUserFactorsReset, actor, userID, details)); err != nil {
		return fmt.Errorf("factors: %w", err)
	}
	return nil
}

// event is an audit event about the user's factors, acted by an
// administrator.
func (s *Service) event(now time.Time, typ, actor, userID string, details map[string]string) auth.AuditEvent {
	d := map[string]string{"user_id": userID}
	for k, v := range details {
		d[k] = v
	}
	return auth.AuditEvent{Time: now, Type: typ, Actor: actor, Count: 1, Details: d}
}
