package account

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// ErrWrongCurrentPassword is the message of a password change whose
// current password is not the account's.
const ErrWrongCurrentPassword = "The current password is not right."

// ChangePassword is a user's own change of their password: current must
// be the account's password, checked as a sign-in from the client address
// addr (Authenticate: the same throttling, so a stolen session is no
// way around the limits on guessing), and next must pass the password
// policy. The change is audited as EventUserPasswordChanged with the user
// as the actor, and every browser session of the user is ended: the caller
// gives the browser that made the change a new one.
//
// Errors: ENOTFOUND when there is no such user; EINVALID when next fails
// the policy (checked before the current password: a refused password
// costs no attempt); EUNAUTHORIZED with ErrWrongCurrentPassword;
// ERATELIMITED (a *LimitedError) while the sign-in limits refuse the
// attempt.
func (s *Service) ChangePassword(ctx context.Context, id, current, next, addr string) error {
	u, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.CheckPassword(u.Username, next); err != nil {
		return err
	}
	checked, err := s.Authenticate(ctx, u.Username, current, addr, nil)
	switch {
	case auth.ErrorCode(err) == auth.EUNAUTHORIZED, err == nil && checked.ID != id:
		// checked.ID differs only if the username changed hands between
		// the two reads: not this account's password, then.
		return auth.Errorf(auth.EUNAUTHORIZED, ErrWrongCurrentPassword)
	case err != nil:
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	// Read again after the hash, as ResetPassword does, so that a change
	// made meanwhile (a disabling) is kept rather than undone.
	u, err = s.get(ctx, id)
	if err != nil {
		return err
	}
	if u.Disabled() {
		return auth.Errorf(auth.EUNAUTHORIZED, ErrWrongCurrentPassword)
	}
	now := s.now()
	u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
	ev := s.event(now, auth.EventUserPasswordChanged, u.ID, u.ID, nil)
	if err := s.store.UpdateUser(ctx, u, ev); err != nil {
		return fmt.Errorf("account: change password: %w", err)
	}
	return s.endSessions(ctx, u.ID)
}
