package web

import "net/http"

// AccountFrame is what every account page (/account) shows around its
// own content: the navigation between the account pages, who is signed
// in, a sign-out form, and a notice or an error about the last action.
// Page types embed it.
type AccountFrame struct {
	Stylesheet  string
	Username    string
	Nav         []AccountLink
	Current     string // path of this page
	SignOutCSRF string // the sign-out form's token
	Notice      string // shown with role="status"
	Error       string // shown with role="alert"
	// Script is the URL of the page's own script (the passkey pages'),
	// served from the binary; "" for none. Pages with one are rendered
	// with script-src 'self'.
	Script string
}

// AccountLink is one entry of the account navigation.
type AccountLink struct {
	Path, Label string
	Current     bool
}

// AccountOverviewPage is /account.
type AccountOverviewPage struct {
	AccountFrame
	Email string
	Name  string
}

// scripted is implemented by account pages through their AccountFrame.
type scripted interface{ frame() *AccountFrame }

func (f *AccountFrame) frame() *AccountFrame { return f }

// RenderAccount writes the account page template name with p, a page type
// embedding AccountFrame (passed by pointer or value). A page whose frame
// names a Script may run it (script-src 'self'); no page runs inline
// script.
func RenderAccount(w http.ResponseWriter, status int, name string, p any) {
	var f *AccountFrame
	switch v := p.(type) {
	case scripted:
		f = v.frame()
	}
	if f != nil && f.Script != "" {
		renderScripted(w, status, name, p, nil)
		return
	}
	render(w, status, name, p, nil)
}
