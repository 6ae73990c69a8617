package passkey

import (
	"context"
	"encoding/json"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Limiter throttles failed ceremonies: *account.FactorLimiter.
type Limiter interface {
	Take(ctx context.Context, userID, addr string) error
	Refund(ctx context.Context, userID, addr string)
}

var _ Limiter = (*account.FactorLimiter)(nil)

// FinishLoginFrom is FinishLogin for a client at addr, throttled like
// one-time codes (Config.Limiter): an attempt is counted against the
// account the offered passkey belongs to (none for a passkey no one
// holds) and against the address before it is checked, and given back
// unless it is refused. While either budget is spent it returns a
// *account.LimitedError (ERATELIMITED, account.RetryAfter) without
// looking at the assertion, and the state stays unspent.
func (s *Service) FinishLoginFrom(ctx context.Context, state string, responseJSON []byte, addr string) (string, []string, error) {
	if s.cfg.Limiter == nil {
		return s.FinishLogin(ctx, state, responseJSON)
	}
	owner := s.owner(ctx, responseJSON)
	if err := s.cfg.Limiter.Take(ctx, owner, addr); err != nil {
		return "", nil, err
	}
	userID, amr, err := s.FinishLogin(ctx, state, responseJSON)
	if auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		s.cfg.Limiter.Refund(ctx, owner, addr) // signed in, or our fault
	}
	return userID, amr, err
}

// FinishRegistrationFrom is FinishRegistration for a client at addr,
// throttled per account and address like FinishLoginFrom: a registration
// that does not verify is counted.
func (s *Service) FinishRegistrationFrom(ctx context.Context, u *auth.User, state, name string, responseJSON []byte, addr string) (*auth.Passkey, error) {
	if s.cfg.Limiter == nil {
		return s.FinishRegistration(ctx, u, state, name, responseJSON)
	}
	if err := s.cfg.Limiter.Take(ctx, u.ID, addr); err != nil {
		return nil, err
	}
	p, err := s.FinishRegistration(ctx, u, state, name, responseJSON)
	switch auth.ErrorCode(err) {
	case auth.EUNAUTHORIZED, auth.EINVALID:
	default:
		s.cfg.Limiter.Refund(ctx, u.ID, addr)
	}
	return p, err
}

// owner returns the user whose passkey an assertion names, "" when no
// user holds it or the response does not name one.
func (s *Service) owner(ctx context.Context, responseJSON []byte) string {
	if len(responseJSON) > maxResponse {
		return ""
	}
	var r struct {
		RawID protocol.URLEncodedBase64 `json:"rawId"`
	}
	if json.Unmarshal(responseJSON, &r) != nil || len(r.RawID) == 0 {
		return ""
	}
	p, err := s.cfg.Store.GetPasskeyByCredentialID(ctx, r.RawID)
	if err != nil {
		return ""
	}
	return p.UserID
}
