package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
)

// PasskeyScriptPath is where the passkey script is served: below the
// authorization server's paths, so the sign-in and account pages share it.
const PasskeyScriptPath = "/oauth2/static/passkey.js"

//go:embed static/passkey.js
var passkeyScript []byte

var passkeyScriptETag = func() string {
	sum := sha256.Sum256(passkeyScript)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// PasskeyScriptHandler serves the embedded passkey script (GET and HEAD only):
// the WebAuthn ceremonies of the forms marked data-passkey="register"
// (the account page) and data-passkey="login" (the login page and the
// second step), one JSON protocol with the server (see the script's
// header comment).
func PasskeyScriptHandler() http.Handler {
	return asset(passkeyScript, passkeyScriptETag, "text/javascript; charset=utf-8", "no-cache",
		map[string]string{"Cross-Origin-Resource-Policy": "same-origin"})
}

// PasskeysPage is /account/passkeys: the user's passkeys, each with a
// rename and a remove form, and the form that adds one (run by the
// passkey script, with the JSON endpoints RegisterBegin and
// RegisterFinish).
type PasskeysPage struct {
	AccountFrame
	Passkeys []PasskeyItem
	// CanAdd is false when the sign-in is too old to add a passkey; the
	// page then links to AddPath, which asks to sign in again.
	CanAdd         bool
	AddPath        string
	RegisterBegin  string
	RegisterFinish string
	RegisterCSRF   string
	Return         string // where to go once a passkey is added, if anywhere
	Full           bool   // the user has the most passkeys an account may have
}

// PasskeyItem is one passkey on the page.
type PasskeyItem struct {
	ID         string
	Name       string
	Kind       string // "Synced passkey" or "Passkey on one device"
	Created    string
	LastUsed   string // "" when never used
	Warning    bool   // possibly cloned: no longer signs in
	RenameCSRF string
	RemoveCSRF string
}
