package web

import "net/http"

// SecondFactorPage is the second step of a sign-in, after the password
// (or of a step-up, when an application asks a signed-in user for a
// second factor): a form whose input is named code (a TOTP code or a
// recovery code), with the pending sign-in, its CSRF token and the
// request hidden; and, for a user with a passkey, a "Use a passkey" form
// that passkey.js drives.
type SecondFactorPage struct {
	Stylesheet string
	Action     string // URL the code form posts to
	ClientName string // the application the user signs in to, if any
	Username   string // who is signing in
	Request    string // opaque: what the sign-in continues
	Pending    string // opaque: the pending sign-in
	CSRF       string
	Code       bool         // the user has TOTP: show the code form
	Passkey    *PasskeyForm // the user has a passkey; nil for none
	StepUp     bool         // the user is signed in; the application asks for more
	Error      string       // shown with role="alert"
}

// PasskeyForm is a form that /oauth2/static/passkey.js drives
// (data-passkey="login"; see the script's header for its protocol): on
// submit, or at once through the browser's autofill when the page has an
// input with autocomplete="... webauthn", it POSTs the form's fields as
// JSON, with the CSRF token in X-CSRF-Token, to Begin; receives
// {"options": {"publicKey": ...}, "state": ...}; asks the authenticator;
// POSTs {"state", "credential", ...fields} to Finish and follows the
// {"redirect"} of the answer, or shows its {"error"} in the element marked
// data-passkey-status.
type PasskeyForm struct {
	Begin   string // URL of the begin endpoint
	Finish  string // URL of the finish endpoint
	Request string
	Pending string // "" on the login page
	CSRF    string
	Label   string
}

// RenderSecondFactor writes the second-step page. A page offering a
// passkey runs passkey.js (script-src 'self'); none runs inline script.
func RenderSecondFactor(w http.ResponseWriter, status int, p SecondFactorPage, formTargets ...string) {
	if p.Passkey != nil {
		renderScripted(w, status, "login_factor.html", p, formTargets)
		return
	}
	render(w, status, "login_factor.html", p, formTargets)
}
