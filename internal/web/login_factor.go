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

// PasskeyForm is a form that /oauth2/static/passkey.js drives: on a click
// of its button marked data-passkey-button (or at once, for Conditional,
// through the browser's autofill: data-passkey-conditional), the script
// POSTs the form's fields (urlencoded) to the URL in data-passkey-begin
// and gets the WebAuthn request options as JSON ({"publicKey": {...}},
// base64url for binary members); it calls navigator.credentials.get with
// them, puts the PublicKeyCredential as JSON (base64url for binary
// members: id, rawId, type, response.clientDataJSON, authenticatorData,
// signature, userHandle) in the hidden input named credential, and submits
// the form to its action. The server answers that POST as it answers the
// password form.
type PasskeyForm struct {
	Begin       string // URL of the begin endpoint
	Finish      string // the form's action
	Request     string
	Pending     string // "" on the login page
	CSRF        string
	Conditional bool // offer passkeys in the username field's autofill
	Label       string
}

// PasskeyScript is the path of the passkey pages' script, served from the
// binary by the passkey package.
const PasskeyScript = "/oauth2/static/passkey.js"

// RenderSecondFactor writes the second-step page. A page offering a
// passkey runs passkey.js (script-src 'self'); none runs inline script.
func RenderSecondFactor(w http.ResponseWriter, status int, p SecondFactorPage, formTargets ...string) {
	if p.Passkey != nil {
		renderScripted(w, status, "login_factor.html", p, formTargets)
		return
	}
	render(w, status, "login_factor.html", p, formTargets)
}
