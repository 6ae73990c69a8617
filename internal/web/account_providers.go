package web

// AccountProvidersPage is /account/providers: the upstream identity
// providers a user may sign in through, linked or not.
type AccountProvidersPage struct {
	AccountFrame
	Providers  []AccountProvider
	UnlinkCSRF string // the unlink forms' token
}

// AccountProvider is one provider on /account/providers.
type AccountProvider struct {
	Name   string
	Label  string
	Linked bool
	Email  string // the upstream address when linked
	// LinkURL starts linking (a GET carrying a CSRF token: the browser
	// then leaves for the provider, which a form could not do under
	// form-action 'self').
	LinkURL string
}
