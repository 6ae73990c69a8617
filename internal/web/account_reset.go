package web

import "net/http"

// AccountResetPage is /account/reset: the page where a user redeems an
// administrator's password-reset link. It has no account frame: whoever
// holds the link is not signed in.
type AccountResetPage struct {
	Stylesheet string
	Action     string // the form's target path
	Token      string // the link's token, sent back with the form
	CSRF       string
	Username   string // whose password this sets (for password managers too)
	MinLength  int
	MaxLength  int
	Error      string // shown with role="alert"
	// Done: the password is set; the page says so and links to SignIn.
	Done   bool
	SignIn string
}

// RenderAccountReset writes the reset page.
func RenderAccountReset(w http.ResponseWriter, status int, p AccountResetPage) {
	render(w, status, "account_reset.html", p, nil)
}
