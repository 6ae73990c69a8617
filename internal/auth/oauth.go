package auth

import (
	"context"
	"time"
)

// Grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"    // RFC 8628 3.4
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange" // RFC 8693 2.1
)

// Client authentication methods at the token, revocation and introspection
// endpoints.
const (
	AuthMethodSecretBasic   = "client_secret_basic"
	AuthMethodSecretPost    = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none" // public clients
)

// Client is an OAuth client. A confidential client authenticates with a
// server-generated secret (SecretHash, a keyed hash of it) or with a signed
// JWT (JWKS); a public client (a browser or native app) cannot keep a secret
// and uses only PKCE.
type Client struct {
	ID         string // "cli_..."; public
	Name       string
	Owner      string // the team or service it belongs to; "" for none. Never read by the protocol.
	Public     bool
	AuthMethod string // one of the AuthMethod* constants; AuthMethodNone iff Public
	SecretHash []byte // HMAC-SHA-256 of the secret under the server secret; nil for public clients
	SecretHint string // last 4 characters of the secret
	JWKS       []byte // public keys (a JWK Set document) for private_key_jwt; nil otherwise

	RedirectURIs           []string // exact strings; loopback ports are free for native clients
	PostLogoutRedirectURIs []string
	GrantTypes             []string // sorted, unique
	Scopes                 []string // the scopes it may ask for; sorted, unique
	Audiences              []string // resource indicators it may ask for; the first is the default

	AccessTokenTTL     time.Duration // zero: the server default
	RefreshTokenTTL    time.Duration // idle lifetime; zero: the server default
	RefreshTokenMaxTTL time.Duration // absolute lifetime of a family; zero: the server default

	// RequireDPoP makes the token endpoint refuse this client's token
	// requests without a DPoP proof (RFC 9449 5).
	RequireDPoP bool
	// RequirePAR makes the authorize endpoint accept this client's
	// requests only through a pushed request_uri (RFC 9126 6).
	RequirePAR bool
	// BackchannelLogoutURI receives logout tokens when a user's session
	// ends (OpenID Connect Back-Channel Logout 1.0, 2.2); "" for none.
	BackchannelLogoutURI string
	// ApplicationType is ApplicationWeb or ApplicationNative (OIDC Dynamic
	// Client Registration 2); "" is web.
	ApplicationType string

	// ExchangeIssuers are the issuers whose subject tokens the client may
	// exchange (RFC 8693), besides this server's own, which is always
	// accepted; the audiences and scopes it may exchange for are Audiences
	// and Scopes. AllowImpersonation lets it obtain a token without an act
	// claim (impersonation, RFC 8693 1.1); otherwise every exchanged token
	// names it as the actor (delegation).
	ExchangeIssuers    []string
	AllowImpersonation bool

	// MFA is the client's second-factor policy (MFAOptional or
	// MFARequired); "" follows the server's (identity.mfa).
	MFA string

	// RegistrationTokenHash is the keyed hash of the registration access
	// token of a dynamically registered client (RFC 7592 3); nil for a
	// client created by an admin.
	RegistrationTokenHash []byte
	// Metadata holds the registration metadata the server keeps but does
	// not act on (client_uri, logo_uri, contacts, software_id, ...; RFC
	// 7591 2), as a JSON object; nil for none.
	Metadata []byte

	CreatedAt       time.Time
	UpdatedAt       time.Time
	SecretRotatedAt time.Time
}

// Application types of Client.ApplicationType.
const (
	ApplicationWeb    = "web"
	ApplicationNative = "native"
)

// User is a local account that signs in on the login page.
type User struct {
	ID            string // "usr_..."; the sub claim
	Username      string // unique, compared as NormalizeUsername folds it
	PasswordHash  string // argon2id in the PHC string format
	Email         string
	EmailVerified bool
	Name          string
	// Role is RoleAdmin or RoleDeveloper; Owners are the key and client
	// owners a developer may manage, sorted and unique (CheckRoleOwners).
	Role   string
	Owners []string

	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
	DisabledAt        time.Time // zero: enabled
}

// Disabled reports whether the account may not sign in.
func (u *User) Disabled() bool { return !u.DisabledAt.IsZero() }

// SigningKey is an asymmetric key that signs JWTs. The private key is sealed
// with AES-256-GCM under a master secret that never enters the store.
type SigningKey struct {
	ID         string // the kid
	Algorithm  string // ES256, RS256 or EdDSA
	PublicJWK  []byte // the public key as a JWK (JSON)
	PrivateKey []byte // the sealed private key (nonce || ciphertext)

	CreatedAt   time.Time
	ActivatesAt time.Time // signs from this time on; published from CreatedAt
	RetiredAt   time.Time // stopped signing; zero while it may sign
	ExpiresAt   time.Time // removed from the JWKS after this; zero while not retired
}

// AuthCode is an issued authorization code, stored as a keyed hash.
type AuthCode struct {
	Hash          []byte
	ClientID      string
	UserID        string
	RedirectURI   string
	Scopes        []string
	Audiences     []string
	CodeChallenge string // S256 only
	Nonce         string
	AuthTime      time.Time
	SessionID     string
	FamilyID      string // the token family the code's tokens belong to
	// IDTokenClaims are the standard claims the claims request parameter
	// asked for in the ID token (OIDC Core 5.5); ACR is the acr claim of
	// a requested authentication context class the sign-in satisfied, ""
	// for none.
	IDTokenClaims []string
	ACR           string
	// AMR are the authentication methods of the sign-in behind the code
	// (Session.AMR), for the amr and acr claims of its tokens.
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until redeemed

	// DPoPJKT binds the code to a DPoP key (RFC 9449 10, the dpop_jkt
	// authorization request parameter): only a token request with a
	// proof of that key may redeem it; "" for none.
	DPoPJKT string
}

// RefreshToken is one refresh token of a family: every rotation adds a token
// to the family and marks the previous one used. Presenting a used token
// (outside the grace window, or a second time within it) revokes the
// family; Refusal and Rotate hold the rules.
type RefreshToken struct {
	Hash      []byte
	FamilyID  string
	ClientID  string
	UserID    string // "" for tokens without a user
	Scopes    []string
	Audiences []string
	AuthTime  time.Time
	SessionID string
	// DPoPJKT binds the token to a DPoP key (RFC 9449 5): a public
	// client's refresh token is refreshed only with a proof of that key,
	// and the family keeps it through every rotation; "" for none.
	DPoPJKT string
	// AMR are the authentication methods of the sign-in that started the
	// family, kept through every rotation.
	AMR []string

	CreatedAt       time.Time
	ExpiresAt       time.Time // idle lifetime: a token not used by then is dead
	FamilyExpiresAt time.Time // absolute lifetime of the family
	UsedAt          time.Time // zero until rotated; the first rotation's time
	RevokedAt       time.Time // zero unless its family was revoked
	Presentations   int       // times presented for rotation: 0 until rotated, 2 after a retry in grace
}

// IssuedToken records the jti of an access token issued in a family, so
// that revoking the family can put it on the revocation list.
type IssuedToken struct {
	JTI       string
	FamilyID  string
	ExpiresAt time.Time
}

// RevokedToken is an entry of the JWT revocation list, kept until ExpiresAt
// (the token's own exp), after which the token is refused anyway.
type RevokedToken struct {
	JTI       string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// Consent remembers that a user allowed a client some scopes.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string // sorted, unique
	GrantedAt time.Time
}

// Session is a browser sign-in, referenced by a cookie that holds a secret
// whose keyed hash is ID.
//
// UserAgent and Address describe the browser that signed in (its
// User-Agent header and client IP address, as the server saw them), so the
// user can be shown where a session came from and notice one they did not
// start. They are informative, not checked: both are easily spoofed or
// change legitimately (a browser update, a mobile network). Sessions
// created before they were recorded have them empty.
type Session struct {
	Hash      []byte
	UserID    string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	UserAgent string
	Address   string
	// AMR are the authentication methods of the sign-in (RFC 8176),
	// normalised (NormalizeAMR); a step-up adds to them (UpgradeSession).
	AMR []string
}

// ClientFilter selects clients in ListClients, in ascending ID order.
type ClientFilter struct {
	After string
	Limit int
	// Owners, when not empty, keeps only the clients whose owner is one
	// of them (a developer's owners). Empty means every owner.
	Owners []string
}

// UserFilter selects users in ListUsers, in ascending ID order.
type UserFilter struct {
	After string
	Limit int
}

// ClientStore keeps OAuth clients.
type ClientStore interface {
	// CreateClient inserts c. ECONFLICT if the ID exists.
	CreateClient(ctx context.Context, c *Client, events ...AuditEvent) error
	// GetClient returns the client, or ENOTFOUND.
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context, f ClientFilter) (clients []*Client, next string, err error)
	// UpdateClient replaces every field of the stored client with c's, if
	// the stored client's UpdatedAt is still ifUpdatedAt (the value it was
	// read with): a concurrent change — a secret rotation above all — is
	// never overwritten by a write based on an older read. ENOTFOUND if it
	// does not exist; ECONFLICT if it changed since.
	UpdateClient(ctx context.Context, c *Client, ifUpdatedAt time.Time, events ...AuditEvent) error
	// DeleteClient removes the client and, in the same transaction, its
	// codes, refresh tokens and consents; the jtis of its unexpired access
	// tokens go on the revocation list. ENOTFOUND if it does not exist.
	DeleteClient(ctx context.Context, id string, at time.Time, events ...AuditEvent) error
}

// UserStore keeps local user accounts.
type UserStore interface {
	// CreateUser inserts u. ECONFLICT if the ID or the username (in lower
	// case) exists.
	CreateUser(ctx context.Context, u *User, events ...AuditEvent) error
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername finds a user by username, case-insensitively.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	ListUsers(ctx context.Context, f UserFilter) (users []*User, next string, err error)
	// UpdateUser replaces every field of the stored user with u's.
	// ENOTFOUND if it does not exist; ECONFLICT if the new username is taken.
	UpdateUser(ctx context.Context, u *User, events ...AuditEvent) error
}

// SigningKeyStore keeps signing keys.
type SigningKeyStore interface {
	// CreateSigningKey inserts k. ECONFLICT if the ID exists.
	CreateSigningKey(ctx context.Context, k *SigningKey, events ...AuditEvent) error
	// ListSigningKeys returns every key not yet deleted, oldest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// RetireSigningKey sets RetiredAt and ExpiresAt of a key that is not
	// retired. ENOTFOUND if it does not exist; ECONFLICT if already retired.
	RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time, events ...AuditEvent) error
	// DeleteExpiredSigningKeys removes retired keys whose ExpiresAt is
	// before now, and returns their IDs.
	DeleteExpiredSigningKeys(ctx context.Context, now time.Time) ([]string, error)
}

// TokenStore keeps authorization codes, refresh tokens, the revocation list
// and the other short-lived state of the authorization server.
type TokenStore interface {
	// CreateAuthCode inserts c. ECONFLICT if the hash exists.
	CreateAuthCode(ctx context.Context, c *AuthCode) error
	// ConsumeAuthCode applies AuthCode.Consume at time at to the code with
	// that hash, stores the result and returns the code as it was before.
	// ENOTFOUND if there is no such code. If it was already used it is left
	// alone and returned with Consume's ECONFLICT error (the caller then
	// revokes the code's family).
	ConsumeAuthCode(ctx context.Context, hash []byte, at time.Time) (*AuthCode, error)

	// CreateRefreshToken inserts t (the first token of a family), and
	// records the access token issued with it. ECONFLICT if the hash exists.
	CreateRefreshToken(ctx context.Context, t *RefreshToken, issued *IssuedToken) error
	// GetRefreshToken returns the token with that hash, or ENOTFOUND.
	GetRefreshToken(ctx context.Context, hash []byte) (*RefreshToken, error)
	// RotateRefreshToken, in one transaction, applies RefreshToken.Rotate at
	// time at with the grace window to the token oldHash and stores the
	// result (its UsedAt and Presentations), inserts next (same family) and
	// records issued. If Rotate refuses, it returns that ECONFLICT and
	// changes nothing. ENOTFOUND if there is no such token.
	RotateRefreshToken(ctx context.Context, oldHash []byte, at time.Time, grace time.Duration, next *RefreshToken, issued *IssuedToken) error
	// RecordIssuedToken records an access token issued in a family without a
	// new refresh token.
	RecordIssuedToken(ctx context.Context, issued *IssuedToken) error
	// RevokeFamily, in one transaction, marks every refresh token of the
	// family revoked at time at and puts the jtis of its access tokens that
	// expire after at on the revocation list. Revoking an unknown or revoked
	// family is not an error. It returns the jtis it revoked.
	RevokeFamily(ctx context.Context, familyID string, at time.Time, events ...AuditEvent) ([]string, error)

	// RevokeToken puts a jti on the revocation list until expiresAt.
	// Revoking it again is not an error.
	RevokeToken(ctx context.Context, t RevokedToken, events ...AuditEvent) error
	// IsTokenRevoked reports whether the jti is on the revocation list.
	IsTokenRevoked(ctx context.Context, jti string) (bool, error)
	// ListRevokedTokens returns the entries revoked after since that have not
	// expired at now, for nodes that keep the list in memory.
	ListRevokedTokens(ctx context.Context, since, now time.Time) ([]RevokedToken, error)

	// UseJTI records a one-time JWT id (client assertions) until expiresAt.
	// ECONFLICT if it was recorded before and has not expired at now.
	UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error

	// PurgeExpired deletes codes, refresh tokens, revocation entries, used
	// jtis, pushed requests and sessions that have been dead since before
	// PurgeExpired deletes codes, device grants, refresh tokens, revocation
	// entries, used jtis and sessions that have been dead since before
	// `before`.
	PurgeExpired(ctx context.Context, before time.Time) error
}

// ConsentStore remembers consents.
type ConsentStore interface {
	// GetConsent returns the consent of the user to the client, or ENOTFOUND.
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// SaveConsent inserts or replaces the consent of c.UserID to c.ClientID.
	SaveConsent(ctx context.Context, c *Consent, events ...AuditEvent) error
	// ListConsents returns every consent of a user.
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)
	// DeleteConsent removes the consent and, in the same transaction,
	// revokes every refresh-token family of that user and client (as
	// RevokeFamily does). ENOTFOUND if there is no such consent.
	DeleteConsent(ctx context.Context, userID, clientID string, at time.Time, events ...AuditEvent) error
}

// SessionStore keeps browser sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session with that hash, or ENOTFOUND (also when
	// it has expired at now).
	GetSession(ctx context.Context, hash []byte, now time.Time) (*Session, error)
	// DeleteSession removes it and, in the same transaction, queues a
	// LogoutDelivery for each client recorded in it (LogoutStore) that has
	// a BackchannelLogoutURI, and forgets those records. Deleting an
	// unknown session is not an error.
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions removes every session of a user (password reset,
	// disabling), queueing logout deliveries as DeleteSession does.
	DeleteUserSessions(ctx context.Context, userID string) error
	// UpgradeSession replaces the authentication methods and time of a
	// session after a step-up (a second factor, an enrolment that proved
	// one). ENOTFOUND if there is no such session.
	UpgradeSession(ctx context.Context, hash []byte, amr []string, authTime time.Time) error
	// ListUserSessions returns the user's sessions that have not expired
	// at now (their ExpiresAt is after now), newest first (by CreatedAt,
	// then by hash): the account page's list of where the user is signed in.
	ListUserSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)
}

// OAuthStore is everything the authorization server keeps.
type OAuthStore interface {
	ClientStore
	UserStore
	SigningKeyStore
	TokenStore
	ConsentStore
	SessionStore
	PushedRequestStore
	LogoutStore
	DeviceGrantStore
}
