package web

// AccountProvidersPage is /account/providers: the upstream identity
// providers a user may sign in through, linked or not.
type AccountProvidersPage struct {
	AccountFrame
	Providers  []AccountProvider
	UnlinkCSRF string // the unlink forms' token
	LinkCSRF   string // the link forms' token (in the POST body, never a URL)
	// Continue is the upstream's authorization URL once a link form was
	// sent: the page then goes there (Refresh header, and this link).
	Continue      string
	ContinueLabel string
}

// AccountProvider is one provider on /account/providers.
type AccountProvider struct {
	Name   string
	Label  string
	Linked bool
	Email  string // the upstream address when linked
}
