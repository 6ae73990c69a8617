// Package mfa is the second factor of a sign-in that users manage
// themselves: an authenticator app (TOTP, RFC 6238) and the ten
// single-use recovery codes that stand in for it when the phone is lost.
//
// The TOTP secret is sealed at rest with the signing keys' sealing
// (internal/signing), bound to its user; recovery codes are kept only as
// keyed hashes (secret.Hasher). A code is accepted within one step of
// the server's clock, and never twice: the last accepted step is kept in
// the store, which makes the check atomic across nodes. Wrong codes are
// throttled per account and per client address (account.FactorLimiter,
// shared through Redis), audited and sent as webhook events.
package mfa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Store is what the service keeps: the secrets and codes, and the audit
// log of wrong codes.
type Store interface {
	auth.MFAStore
	auth.AuditStore
}

// Sealer seals secrets at rest: *signing.Sealer.
type Sealer interface {
	Seal(kid string, plaintext []byte) []byte
	Open(kid string, sealed []byte) ([]byte, error)
}

// Limiter throttles wrong codes: *account.FactorLimiter.
type Limiter interface {
	Take(ctx context.Context, userID, addr string) error
	Refund(ctx context.Context, userID, addr string)
}

var _ Limiter = (*account.FactorLimiter)(nil)

// DefaultPendingTTL is how long a secret shown for enrolment stays valid
// for its first code.
const DefaultPendingTTL = time.Hour

// Config configures a Service. Store, Sealer and Hasher are required.
type Config struct {
	Store  Store
	Sealer Sealer
	// Hasher keys the recovery codes' hashes (the server's hashing
	// secret).
	Hasher *secret.Hasher
	// Limiter throttles wrong codes; nil: an account.FactorLimiter with
	// its defaults, on this node only.
	Limiter Limiter
	// Issuer names this server in authenticator apps; "" is "Gatehouse".
	Issuer string
	// PendingTTL is how long an enrolment waits for its first code;
	// 0: DefaultPendingTTL.
	PendingTTL time.Duration
	Now        auth.Now     // nil: auth.SystemNow
	Logger     *slog.Logger // nil: discard
}

// Service enrols authenticator apps and checks their codes and the
// recovery codes. It is safe for concurrent use.
type Service struct {
	store      Store
	sealer     Sealer
	hasher     *secret.Hasher
	limiter    Limiter
	issuer     string
	pendingTTL time.Duration
	now        auth.Now
	logger     *slog.Logger
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Hasher == nil {
		return nil, errors.New("mfa: Store, Sealer and Hasher are required")
	}
	s := &Service{store: cfg.Store, sealer: cfg.Sealer, hasher: cfg.Hasher, limiter: cfg.Limiter,
		issuer: cfg.Issuer, pendingTTL: cfg.PendingTTL, now: cfg.Now, logger: cfg.Logger}
	if s.issuer == "" {
		s.issuer = "Gatehouse"
	}
	if s.pendingTTL <= 0 {
		s.pendingTTL = DefaultPendingTTL
	}
	if s.now == nil {
		s.now = auth.SystemNow
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.limiter == nil {
		l, err := account.NewFactorLimiter(account.FactorConfig{Now: s.now, Logger: s.logger})
		if err != nil {
			return nil, err
		}
		s.limiter = l
	}
	return s, nil
}

// ErrWrongCode is the message of every refused code: wrong, malformed,
// used already, or of a user without a second factor.
const ErrWrongCode = "The code is not right, or was used already. Enter the current code from your authenticator app, or a recovery code."

func wrongCode() error { return auth.Errorf(auth.EUNAUTHORIZED, ErrWrongCode) }

// sealKID binds a sealed TOTP secret to its user: a sealed secret copied
// to another user's row does not open. The NUL keeps it apart from every
// signing key's kid, which the stores refuse to hold a NUL in.
func sealKID(userID string) string { return "totp\x00" + userID }

// Status is what a user's account page shows about the second factor.
type Status struct {
	Enrolled          bool
	EnrolledAt        time.Time
	RecoveryCodesLeft int
}

// Enrolled reports whether the user has a confirmed authenticator app, so
// that a sign-in asks for a code.
func (s *Service) Enrolled(ctx context.Context, userID string) (bool, error) {
	t, err := s.store.GetTOTP(ctx, userID)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: %w", err)
	}
	return t.Confirmed(), nil
}

// Status returns the user's second-factor status.
func (s *Service) Status(ctx context.Context, userID string) (Status, error) {
	t, err := s.store.GetTOTP(ctx, userID)
	if auth.ErrorCode(err) == auth.ENOTFOUND || (err == nil && !t.Confirmed()) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("mfa: %w", err)
	}
	n, err := s.store.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return Status{}, fmt.Errorf("mfa: %w", err)
	}
	return Status{Enrolled: true, EnrolledAt: t.ConfirmedAt, RecoveryCodesLeft: n}, nil
}

// Enrollment is a secret waiting for its first code: what the user adds
// to an authenticator app.
type Enrollment struct {
	Secret string // base32, as typed into an app
	URI    string // the otpauth:// URI
	QRSVG  string // the URI as a QR code, an inline SVG image
	// Expires is when the secret stops being accepted for confirmation.
	Expires time.Time
}

// BeginEnrollment returns the user's pending secret, made now unless one
// made less than PendingTTL ago is waiting (so a reloaded page shows the
// secret the app already has). ECONFLICT when the user has an
// authenticator app already.
func (s *Service) BeginEnrollment(ctx context.Context, u *auth.User) (*Enrollment, error) {
	now := s.now()
	t, err := s.store.GetTOTP(ctx, u.ID)
	switch {
	case err == nil && t.Confirmed():
		return nil, auth.Errorf(auth.ECONFLICT, "An authenticator app is already set up.")
	case err == nil && now.Sub(t.CreatedAt) < s.pendingTTL:
		key, err := s.sealer.Open(sealKID(u.ID), t.Sealed)
		if err == nil {
			return s.enrollment(u, key, t.CreatedAt), nil
		}
		// Not ours to open (the server secret changed): start again.
		s.logger.WarnContext(ctx, "mfa: a pending TOTP secret does not open; replacing it", "user_id", u.ID)
	case err != nil && auth.ErrorCode(err) != auth.ENOTFOUND:
		return nil, fmt.Errorf("mfa: %w", err)
	}
	key := make([]byte, SecretLen)
	if err := readRandom(key); err != nil {
		return nil, err
	}
	p := &auth.TOTPSecret{UserID: u.ID, Sealed: s.sealer.Seal(sealKID(u.ID), key), CreatedAt: now}
	if err := s.store.PutPendingTOTP(ctx, p); err != nil {
		if auth.ErrorCode(err) == auth.ECONFLICT {
			return nil, auth.Errorf(auth.ECONFLICT, "An authenticator app is already set up.")
		}
		return nil, fmt.Errorf("mfa: %w", err)
	}
	return s.enrollment(u, key, now), nil
}

func (s *Service) enrollment(u *auth.User, key []byte, created time.Time) *Enrollment {
	uri := KeyURI(s.issuer, u.Username, key)
	svg, err := QRSVG(uri)
	if err != nil {
		// A URI of at most a few hundred bytes always fits a QR code;
		// the page still shows the secret to type in.
		s.logger.Error("mfa: QR code", "err", err)
	}
	return &Enrollment{Secret: secretEncoding.EncodeToString(key), URI: uri, QRSVG: svg, Expires: created.Add(s.pendingTTL)}
}

// ConfirmEnrollment checks the first code of the user's pending secret,
// sent from the client address addr, and on success confirms it and
// returns the user's ten recovery codes, to be shown this once.
//
// Errors: EUNAUTHORIZED (ErrWrongCode) for a wrong code, audited; a
// *account.LimitedError (ERATELIMITED) while wrong codes are throttled;
// ENOTFOUND when no set-up is waiting (none, or older than PendingTTL);
// ECONFLICT when an app is set up already.
func (s *Service) ConfirmEnrollment(ctx context.Context, u *auth.User, code, addr string) ([]string, error) {
	t, err := s.store.GetTOTP(ctx, u.ID)
	switch {
	case auth.ErrorCode(err) == auth.ENOTFOUND:
		return nil, expiredSetup()
	case err != nil:
		return nil, fmt.Errorf("mfa: %w", err)
	case t.Confirmed():
		return nil, auth.Errorf(auth.ECONFLICT, "An authenticator app is already set up.")
	}
	now := s.now()
	if now.Sub(t.CreatedAt) >= s.pendingTTL {
		return nil, expiredSetup()
	}
	if err := s.limiter.Take(ctx, u.ID, addr); err != nil {
		return nil, err
	}
	key, err := s.sealer.Open(sealKID(u.ID), t.Sealed)
	if err != nil {
		s.limiter.Refund(ctx, u.ID, addr)
		return nil, expiredSetup()
	}
	kind, norm := ParseCode(code)
	var st int64
	ok := false
	if kind == CodeTOTP {
		st, ok = matchStep(key, norm, now, 0)
	}
	if !ok {
		s.failed(ctx, u.ID, addr, "enrolment")
		return nil, wrongCode()
	}
	codes, hashes, err := s.newRecoveryCodes(u.ID)
	if err != nil {
		s.limiter.Refund(ctx, u.ID, addr)
		return nil, err
	}
	err = s.store.ConfirmTOTP(ctx, u.ID, t.Sealed, st, now, hashes,
		s.event(now, auth.EventTOTPEnrolled, u.ID, nil),
		s.event(now, auth.EventRecoveryCodesGenerated, u.ID, map[string]string{"count": fmt.Sprint(len(codes))}))
	s.limiter.Refund(ctx, u.ID, addr)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, expiredSetup()
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	return codes, nil
}

func expiredSetup() error {
	return auth.Errorf(auth.ENOTFOUND, "The set-up expired or was replaced in another window. Scan the new code and try again.")
}

// VerifyCode checks a code the user typed at sign-in, sent from the
// client address addr: a code of their authenticator app, within one step
// of now and later than the last one accepted, or one of their unused
// recovery codes, which is used up. It returns the authentication method
// proved, auth.AMROTP, for the sign-in's amr.
//
// Errors: EUNAUTHORIZED (ErrWrongCode) for a wrong, malformed or reused
// code, or a user without an authenticator app — each audited as
// auth.EventOTPFailed; a *account.LimitedError (ERATELIMITED, see
// account.RetryAfter) while wrong codes from the account or the address
// are throttled, decided before the code is looked at. Anything else is
// an internal error.
func (s *Service) VerifyCode(ctx context.Context, userID, code, addr string) (string, error) {
	if err := s.limiter.Take(ctx, userID, addr); err != nil {
		return "", err
	}
	ok, err := s.check(ctx, userID, code)
	if err != nil {
		s.limiter.Refund(ctx, userID, addr) // our fault, not the client's
		return "", err
	}
	if !ok {
		s.failed(ctx, userID, addr, "sign-in")
		return "", wrongCode()
	}
	s.limiter.Refund(ctx, userID, addr)
	return auth.AMROTP, nil
}

// check reports whether code is right for the user, using it up.
func (s *Service) check(ctx context.Context, userID, code string) (bool, error) {
	kind, norm := ParseCode(code)
	if kind == CodeInvalid {
		return false, nil
	}
	t, err := s.store.GetTOTP(ctx, userID)
	if auth.ErrorCode(err) == auth.ENOTFOUND || (err == nil && !t.Confirmed()) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: %w", err)
	}
	now := s.now()
	if kind == CodeRecovery {
		err := s.store.UseRecoveryCode(ctx, userID, s.recoveryHash(userID, norm), now,
			s.event(now, auth.EventRecoveryCodeUsed, userID, nil))
		switch auth.ErrorCode(err) {
		case "":
			return true, nil
		case auth.ENOTFOUND:
			return false, nil
		}
		return false, fmt.Errorf("mfa: %w", err)
	}
	key, err := s.sealer.Open(sealKID(userID), t.Sealed)
	if err != nil {
		return false, fmt.Errorf("mfa: open the TOTP secret of %s: %w", userID, err)
	}
	st, ok := matchStep(key, norm, now, t.LastStep)
	if !ok {
		return false, nil
	}
	err = s.store.AdvanceTOTPStep(ctx, userID, st)
	switch auth.ErrorCode(err) {
	case "":
		return true, nil
	case auth.ECONFLICT, auth.ENOTFOUND: // used meanwhile, or removed
		return false, nil
	}
	return false, fmt.Errorf("mfa: %w", err)
}

// Remove removes the user's authenticator app and recovery codes.
// ENOTFOUND when there is none.
func (s *Service) Remove(ctx context.Context, u *auth.User) error {
	t, err := s.store.GetTOTP(ctx, u.ID)
	if err == nil && !t.Confirmed() {
		err = auth.Errorf(auth.ENOTFOUND, "No authenticator app is set up.")
	}
	if err != nil {
		return err
	}
	err = s.store.DeleteTOTP(ctx, u.ID, s.event(s.now(), auth.EventTOTPRemoved, u.ID, nil))
	if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
		return fmt.Errorf("mfa: %w", err)
	}
	return err
}

// RegenerateRecoveryCodes replaces the user's recovery codes with ten new
// ones, returned to be shown this once. ENOTFOUND without an
// authenticator app.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, u *auth.User) ([]string, error) {
	codes, hashes, err := s.newRecoveryCodes(u.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.store.ReplaceRecoveryCodes(ctx, u.ID, hashes, now,
		s.event(now, auth.EventRecoveryCodesGenerated, u.ID, map[string]string{"count": fmt.Sprint(len(codes))}))
	if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// newRecoveryCodes returns RecoveryCodeCount new codes, formatted for
// display, and their hashes.
func (s *Service) newRecoveryCodes(userID string) ([]string, [][]byte, error) {
	codes := make([]string, 0, RecoveryCodeCount)
	hashes := make([][]byte, 0, RecoveryCodeCount)
	seen := map[string]bool{}
	for len(codes) < RecoveryCodeCount {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, nil, fmt.Errorf("mfa: recovery code: %w", err)
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		codes = append(codes, FormatRecoveryCode(c))
		hashes = append(hashes, s.recoveryHash(userID, c))
	}
	return codes, hashes, nil
}

// recoveryHash is the keyed hash a canonical recovery code is stored
// under, bound to its user and apart from every other use of the hasher.
func (s *Service) recoveryHash(userID, norm string) []byte {
	sum := s.hasher.Sum("gatehouse recovery code\x00" + userID + "\x00" + norm)
	return sum[:]
}

// failed audits a wrong code (the attempt stays counted by the limiter).
func (s *Service) failed(ctx context.Context, userID, addr, during string) {
	ev := s.event(s.now(), auth.EventOTPFailed, userID, map[string]string{"address": auditAddress(addr), "during": during})
	if err := s.store.AppendAuditEvents(ctx, ev); err != nil {
		s.logger.WarnContext(ctx, "mfa: audit a wrong code", "user_id", userID, "err", err)
	}
}

// event is an audit event about the user's own second factor.
func (s *Service) event(now time.Time, typ, userID string, details map[string]string) auth.AuditEvent {
	d := map[string]string{"user_id": userID}
	for k, v := range details {
		d[k] = v
	}
	return auth.AuditEvent{Time: now, Type: typ, Actor: userID, Count: 1, Details: d}
}
