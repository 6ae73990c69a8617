package admin

import "time"

// RegistrationToken is an initial access token of dynamic client
// registration as the API shows it: never the token or its hash.
type RegistrationToken struct {
	ID        string `json:"id"`
	Hint      string `json:"hint"` // last 4 characters of the token
	CreatedBy string `json:"created_by,omitempty"`
	Uses      int    `json:"uses"` // registrations allowed in all
	Used      int    `json:"used"` // registrations made
	// Status is active, used_up, expired or revoked.
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// CreatedRegistrationToken is a new token with its secret, shown this
// once: the bearer token of POST /oauth2/register.
type CreatedRegistrationToken struct {
	RegistrationToken
	Token string `json:"token"`
}

// RegistrationTokenRequest is the body of POST
// /admin/v1/registration-tokens; every member is optional.
type RegistrationTokenRequest struct {
	Uses      int    `json:"uses,omitempty"`       // default 1
	ExpiresIn string `json:"expires_in,omitempty"` // a Go duration; default 24h
}

// RegistrationTokenList is one page of GET /admin/v1/registration-tokens.
type RegistrationTokenList struct {
	Items      []RegistrationToken `json:"items"`
	NextCursor string              `json:"next_cursor"`
}
