package auth

import (
	"context"
	"time"
)

// TOTPSecret is a user's authenticator-app secret (RFC 6238). The secret
// itself never reaches the store in the clear: Sealed is what the mfa
// service sealed (internal/signing's sealing, bound to the user), and only
// that service opens it.
type TOTPSecret struct {
	UserID    string
	Sealed    []byte
	CreatedAt time.Time
	// ConfirmedAt is when the first code proved the app holds the
	// secret; zero while the enrolment waits for it (a pending secret,
	// which signs nobody in).
	ConfirmedAt time.Time
	// LastStep is the RFC 6238 time step of the last code accepted, so
	// that no code is accepted twice (RFC 6238 5.2); 0 for none.
	LastStep int64
}

// Confirmed reports whether the secret's enrolment was confirmed.
func (t *TOTPSecret) Confirmed() bool { return !t.ConfirmedAt.IsZero() }

// CheckStorable refuses (EINVALID) a secret without user or sealed bytes,
// or whose user ID no backend can keep.
func (t *TOTPSecret) CheckStorable() error {
	if t.UserID == "" || len(t.Sealed) == 0 {
		return Errorf(EINVALID, "A TOTP secret needs a user and a sealed secret.")
	}
	return CheckText("TOTP secret", t.UserID)
}

// RecoveryCodeHashSize is the length of a recovery code's keyed hash
// (HMAC-SHA-256, secret.Hasher).
const RecoveryCodeHashSize = 32

// CheckRecoveryCodeHashes refuses (EINVALID) a list of recovery-code
// hashes with one of the wrong size or one twice.
func CheckRecoveryCodeHashes(hashes [][]byte) error {
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if len(h) != RecoveryCodeHashSize || seen[string(h)] {
			return Errorf(EINVALID, "Recovery code hashes must have %d bytes and differ.", RecoveryCodeHashSize)
		}
		seen[string(h)] = true
	}
	return nil
}

// MFAStore keeps the users' TOTP secrets and recovery codes. The rules
// (code checks, the time window, how many codes) are the mfa service's;
// the store keeps the records and makes the single-use checks atomic, so
// that they hold across nodes.
type MFAStore interface {
	// GetTOTP returns the user's secret, pending or confirmed. ENOTFOUND
	// when there is none.
	GetTOTP(ctx context.Context, userID string) (*TOTPSecret, error)
	// PutPendingTOTP stores t, which must not be confirmed, replacing the
	// user's pending secret if any. ECONFLICT when the user has a
	// confirmed secret; EINVALID for a record CheckStorable refuses.
	PutPendingTOTP(ctx context.Context, t *TOTPSecret) error
	// ConfirmTOTP confirms the user's pending secret, if it is still the
	// one sealed as sealed, at `at` with LastStep step; replaces the user's
	// recovery codes with hashes (created at `at`); and appends events:
	// all in one transaction. ENOTFOUND when there is no such pending
	// secret (none, another one, or already confirmed); EINVALID for bad
	// hashes (CheckRecoveryCodeHashes).
	ConfirmTOTP(ctx context.Context, userID string, sealed []byte, step int64, at time.Time, hashes [][]byte, events ...AuditEvent) error
	// AdvanceTOTPStep records step as the last step accepted for the
	// user's confirmed secret, if it is later than the one recorded: of
	// two uses of one code, on any nodes, exactly one succeeds.
	// ECONFLICT when step is not later; ENOTFOUND when the user has no
	// confirmed secret.
	AdvanceTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes the user's secret (pending or confirmed) and
	// recovery codes, and appends events, in one transaction. ENOTFOUND
	// when the user has no secret.
	DeleteTOTP(ctx context.Context, userID string, events ...AuditEvent) error
	// ReplaceRecoveryCodes replaces the user's recovery codes with hashes
	// (created at `at`) and appends events, in one transaction. ENOTFOUND
	// when the user has no confirmed secret; EINVALID for bad hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, at time.Time, events ...AuditEvent) error
	// UseRecoveryCode marks the user's unused recovery code with that
	// hash used at `at` and appends events, in one transaction: of two
	// uses of one code exactly one succeeds. ENOTFOUND when the user has
	// no unused code with that hash.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time, events ...AuditEvent) error
	// CountRecoveryCodes returns how many of the user's recovery codes
	// are unused.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
}

// CheckRecoveryCodesWrite refuses (EINVALID) a write of a user's recovery
// codes that no backend can store: the user ID, the hashes, the events.
func CheckRecoveryCodesWrite(userID string, hashes [][]byte, events []AuditEvent) error {
	if err := CheckText("User ID", userID); err != nil {
		return err
	}
	if err := CheckRecoveryCodeHashes(hashes); err != nil {
		return err
	}
	return CheckStorableEvents(events)
}
