package web

// The account pages of the account part (internal/selfservice's
// password.go, sessions.go, applications.go): page types embedding
// AccountFrame, rendered with RenderAccount.

// AccountPasswordPage is /account/password: the current password and the
// new one twice (inputs current_password, new_password, confirm_password).
type AccountPasswordPage struct {
	AccountFrame
	CSRF string
	// Invalid names the input the Error is about, for aria-invalid.
	Invalid string
}

// AccountSessionsPage is /account/sessions: where the user is signed in.
type AccountSessionsPage struct {
	AccountFrame
	CSRF     string
	Sessions []AccountSession
	Others   bool // there are sessions besides the current one
}

// AccountSession is one session on the sessions page. Ref identifies it
// in the sign-out form (never its secret or stored hash).
type AccountSession struct {
	Ref     string
	Current bool
	Info    *SessionInfo
	Expires string
	MFA     bool // signed in with two factors
}

// AccountApplicationsPage is /account/applications: the applications the
// user allowed access.
type AccountApplicationsPage struct {
	AccountFrame
	CSRF         string
	Applications []AccountApplication
}

// AccountApplication is one consent on the applications page.
type AccountApplication struct {
	ClientID string
	Name     string
	Scopes   []string
	Granted  string
}
