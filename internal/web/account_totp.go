package web

import "html/template"

// AccountTOTPPage is /account/totp: setting up an authenticator app, the
// recovery codes shown once, and removing the app or renewing the codes.
type AccountTOTPPage struct {
	AccountFrame
	// Enrolled: an app is set up (since EnrolledAt, a date), with
	// RecoveryCodesLeft unused recovery codes.
	Enrolled          bool
	EnrolledAt        string
	RecoveryCodesLeft int
	RemoveCSRF        string
	RegenerateCSRF    string

	// Set-up, while not enrolled: the secret in text (base32), the
	// otpauth:// URI as a link and as a QR code drawn by the server, and
	// the confirmation form.
	Secret      string
	KeyURI      template.URL  // otpauth://, made by internal/mfa
	QR          template.HTML // an inline SVG made by internal/mfa from the module pattern only
	ConfirmCSRF string
	Return      string // the safe return path, carried by the form

	// RecoveryCodes are shown this once, after a confirmation or a
	// renewal; Continue is where the sign-in goes on (a safe return path).
	RecoveryCodes []string
	Continue      string
}
