package auth

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The checks below are what every backend applies before it writes a
// record, kept here once so that the backends cannot drift apart (see
// storable.go for why text is checked at all). Each returns EINVALID with
// a message safe to show to the caller.

// CheckText returns EINVALID if any text cannot be stored exactly as it is;
// what names the record in the message.
func CheckText(what string, s ...string) error {
	if !storable(s...) {
		return Errorf(EINVALID, "%s text must be valid UTF-8 without NUL characters.", what)
	}
	return nil
}

// CheckLists is CheckText for string lists.
func CheckLists(what string, lists ...[]string) error {
	for _, l := range lists {
		if err := CheckText(what, l...); err != nil {
			return err
		}
	}
	return nil
}

// CheckHash returns EINVALID for an empty hash: every secret has one, and
// an empty key would match nothing the server ever issued.
func CheckHash(what string, h []byte) error {
	if len(h) == 0 {
		return Errorf(EINVALID, "%s hash is required.", what)
	}
	return nil
}

// ConflictAs replaces the generic message of an ECONFLICT error (a
// backend's unique-constraint translation names no column) with msg, which
// says what is taken; other errors pass unchanged.
func ConflictAs(err error, msg string) error {
	if ErrorCode(err) == ECONFLICT {
		return Errorf(ECONFLICT, "%s", msg)
	}
	return err
}

// BytesOrNull is the value to store for an optional byte field: an empty
// slice becomes NULL, so that a nil slice reads back as nil in every
// backend (the contract suite compares records field by field).
func BytesOrNull(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// DefaultPageSize is the page size of a list call whose filter leaves
// Limit at zero (or below).
const DefaultPageSize = 100

// PageSize is the number of records a list call returns for a filter's
// Limit: DefaultPageSize for zero or less, at most MaxPageSize.
func PageSize(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// Expired reports whether a deadline has passed at time at: a record is
// dead from its deadline on. The zero time is no deadline.
func Expired(deadline, at time.Time) bool {
	return !deadline.IsZero() && !at.Before(deadline)
}

// NormalizeUsername is the form in which usernames are compared and kept
// unique: lower case by Go's rules, so every backend folds the same way
// whatever its collation.
func NormalizeUsername(username string) string { return strings.ToLower(username) }

// CheckStorable returns EINVALID if c has no ID or holds text no backend
// can store.
func (c *Client) CheckStorable() error {
	switch {
	case c == nil:
		return Errorf(EINVALID, "Client is missing.")
	case c.ID == "":
		return Errorf(EINVALID, "Client ID is required.")
	}
	if err := CheckText("Client", c.ID, c.Name, c.Owner, c.AuthMethod, c.SecretHint, c.BackchannelLogoutURI, c.ApplicationType); err != nil {
		return err
	}
	return CheckLists("Client", c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.Scopes, c.Audiences, c.ExchangeIssuers)
}

// CheckStorable returns EINVALID if u has no ID or username, or holds text
// no backend can store.
func (u *User) CheckStorable() error {
	switch {
	case u == nil:
		return Errorf(EINVALID, "User is missing.")
	case u.ID == "":
		return Errorf(EINVALID, "User ID is required.")
	case u.Username == "":
		return Errorf(EINVALID, "Username is required.")
	}
	if err := CheckText("User", u.ID, u.Username, u.PasswordHash, u.Email, u.Name); err != nil {
		return err
	}
	owners, err := CheckRoleOwners(u.Role, u.Owners)
	if err != nil {
		return err
	}
	if !slices.Equal(owners, u.Owners) {
		return Errorf(EINVALID, "User owners must be sorted and unique.")
	}
	return nil
}

// CheckStorable returns EINVALID if k has no ID or holds text no backend
// can store.
func (k *SigningKey) CheckStorable() error {
	switch {
	case k == nil:
		return Errorf(EINVALID, "Signing key is missing.")
	case k.ID == "":
		return Errorf(EINVALID, "Signing key ID is required.")
	}
	return CheckText("Signing key", k.ID, k.Algorithm)
}

// CheckStorable returns EINVALID if s has no hash or user, or holds text no
// backend can store.
func (s *Session) CheckStorable() error {
	switch {
	case s == nil:
		return Errorf(EINVALID, "Session is missing.")
	case s.UserID == "":
		return Errorf(EINVALID, "Session user is required.")
	}
	if err := CheckHash("Session", s.Hash); err != nil {
		return err
	}
	if err := CheckText("Session", s.AMR...); err != nil {
		return err
	}
	return CheckText("Session", s.UserID, s.UserAgent, s.Address)
}

// CheckStorable returns EINVALID if c lacks its user or client, or holds
// text no backend can store.
func (c *Consent) CheckStorable() error {
	switch {
	case c == nil:
		return Errorf(EINVALID, "Consent is missing.")
	case c.UserID == "" || c.ClientID == "":
		return Errorf(EINVALID, "Consent user and client are required.")
	}
	if err := CheckText("Consent", c.UserID, c.ClientID); err != nil {
		return err
	}
	return CheckLists("Consent", c.Scopes)
}

// CheckStorable returns EINVALID if c has no hash or expiry, or holds text
// no backend can store. The expiry is required because Expired reads the
// zero time as no deadline: a code stored without one would never expire.
func (c *AuthCode) CheckStorable() error {
	switch {
	case c == nil:
		return Errorf(EINVALID, "Authorization code is missing.")
	case c.ExpiresAt.IsZero():
		return Errorf(EINVALID, "Authorization code expiry is required.")
	}
	if err := CheckHash("Authorization code", c.Hash); err != nil {
		return err
	}
	if err := CheckText("Authorization code", c.ClientID, c.UserID, c.RedirectURI,
		c.CodeChallenge, c.Nonce, c.SessionID, c.FamilyID, c.ACR, c.DPoPJKT); err != nil {
		return err
	}
	if err := CheckLists("Authorization code", c.IDTokenClaims, c.AMR); err != nil {
		return err
	}
	return CheckLists("Authorization code", c.Scopes, c.Audiences)
}

// CheckStorable returns EINVALID if t has no hash, family or deadlines, or
// holds text no backend can store. Both deadlines are required because
// Expired reads the zero time as no deadline: a token stored without one
// would be refreshable for ever.
func (t *RefreshToken) CheckStorable() error {
	switch {
	case t == nil:
		return Errorf(EINVALID, "Refresh token is missing.")
	case t.FamilyID == "":
		return Errorf(EINVALID, "Refresh token family is required.")
	case t.ExpiresAt.IsZero() || t.FamilyExpiresAt.IsZero():
		return Errorf(EINVALID, "Refresh token expiry and family expiry are required.")
	case t.Presentations < 0:
		return Errorf(EINVALID, "Refresh token presentations cannot be negative.")
	}
	if err := CheckHash("Refresh token", t.Hash); err != nil {
		return err
	}
	if err := CheckText("Refresh token", t.FamilyID, t.ClientID, t.UserID, t.SessionID, t.DPoPJKT); err != nil {
		return err
	}
	if err := CheckText("Refresh token", t.AMR...); err != nil {
		return err
	}
	return CheckLists("Refresh token", t.Scopes, t.Audiences)
}

// CheckWithIssued checks t and the access token issued with it (nil for
// none), which must belong to t's family: what CreateRefreshToken and
// RotateRefreshToken are given to write.
func (t *RefreshToken) CheckWithIssued(issued *IssuedToken) error {
	if err := t.CheckStorable(); err != nil {
		return err
	}
	return issued.CheckFamily(t.FamilyID)
}

// CheckFamily checks an access token to record, which must belong to
// family unless that is "" (any family). A nil token is nothing to record
// and passes.
func (it *IssuedToken) CheckFamily(family string) error {
	switch {
	case it == nil:
		return nil
	case it.JTI == "":
		return Errorf(EINVALID, "Issued token jti is required.")
	case it.FamilyID == "":
		// Without a family nothing could ever revoke it.
		return Errorf(EINVALID, "Issued token family is required.")
	case family != "" && it.FamilyID != family:
		return Errorf(EINVALID, "The access token must belong to the refresh token's family.")
	}
	return CheckText("Issued token", it.JTI, it.FamilyID)
}

// RotateTo is the transition of rotating k to the key nextID: it returns k
// pointing at nextID and expiring at oldExpiresAt unless it already
// expires earlier (RotatedExpiry), or ECONFLICT if k is revoked or already
// rotated. The caller stores the result.
func (k APIKey) RotateTo(nextID string, oldExpiresAt time.Time) (APIKey, error) {
	switch {
	case !k.RevokedAt.IsZero():
		return k, Errorf(ECONFLICT, "API key is revoked.")
	case k.RotatedTo != "":
		return k, Errorf(ECONFLICT, "API key has already been rotated.")
	}
	k.RotatedTo = nextID
	k.ExpiresAt = RotatedExpiry(k.ExpiresAt, oldExpiresAt)
	return k, nil
}

// Storable is a record that checks itself before a backend writes it.
type Storable interface {
	CheckStorable() error
}

// CheckWrite returns EINVALID if the record, or any of the audit events
// written with it in the same transaction, cannot be stored as it is.
func CheckWrite(r Storable, events []AuditEvent) error {
	if err := r.CheckStorable(); err != nil {
		return err
	}
	return CheckStorableEvents(events)
}

// Page cuts a list read with one row more than limit (which tells whether
// another page follows, so the last page never comes with a cursor to an
// empty one) to limit, and returns the cursor of the next page: the key of
// its last item, or the zero cursor on the last page.
func Page[T any, C any](items []T, limit int, cursor func(T) C) ([]T, C) {
	var none C
	if limit <= 0 || len(items) <= limit {
		return items, none
	}
	items = items[:limit]
	return items, cursor(items[limit-1])
}

// CheckStorable returns EINVALID if t has no jti or RevokedAt, or holds
// text no backend can store.
func (t *RevokedToken) CheckStorable() error {
	switch {
	case t == nil:
		return Errorf(EINVALID, "Revoked token is missing.")
	case t.JTI == "":
		return Errorf(EINVALID, "Token jti is required.")
	case t.RevokedAt.IsZero():
		return Errorf(EINVALID, "Revocation time is required.")
	}
	return CheckText("Revoked token", t.JTI)
}

// Retire is the transition of retiring k at retiredAt: it returns k
// retired, to be removed from the JWKS after expiresAt, or ECONFLICT if k
// is retired already (of two nodes retiring one key, the second learns it).
func (k SigningKey) Retire(retiredAt, expiresAt time.Time) (SigningKey, error) {
	if !k.RetiredAt.IsZero() {
		return k, Errorf(ECONFLICT, "Signing key is already retired.")
	}
	k.RetiredAt, k.ExpiresAt = retiredAt, expiresAt
	return k, nil
}

// CheckRevocation returns EINVALID for a revocation (or deletion that
// revokes) without a time, which would read back as "not revoked", or with
// events that cannot be stored.
func CheckRevocation(at time.Time, events []AuditEvent) error {
	if at.IsZero() {
		return Errorf(EINVALID, "Revocation time is required.")
	}
	return CheckStorableEvents(events)
}

// TruncateUTF8 cuts s to at most n bytes, on a rune boundary, so a valid
// UTF-8 string stays valid.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// The roles of a user. An admin manages everything; a developer only the
// keys and clients whose owner is among the user's Owners.
const (
	RoleAdmin     = "admin"
	RoleDeveloper = "developer"
)

// MaxUserOwners bounds how many owners a user may be given. Each is an
// owner name as an API key or client carries it (CheckOwner).
const MaxUserOwners = 50

// ValidRole reports whether role is one a user may have.
func ValidRole(role string) bool { return role == RoleAdmin || role == RoleDeveloper }

// CheckRoleOwners is the one check of a user's role and owners: the role
// must be RoleAdmin or RoleDeveloper, every owner a valid owner name
// (CheckOwner), at most MaxUserOwners after duplicates are dropped. It
// returns the owners sorted and unique (nil for none), the form stored.
func CheckRoleOwners(role string, owners []string) ([]string, error) {
	if !ValidRole(role) {
		return nil, Errorf(EINVALID, "The role must be %q or %q.", RoleAdmin, RoleDeveloper)
	}
	for _, o := range owners {
		// A user's owner names one, so "" (a client's "no owner") is no
		// owner to give.
		if o == "" {
			return nil, Errorf(EINVALID, "An owner must not be empty.")
		}
		if err := CheckOwner(o); err != nil {
			return nil, err
		}
	}
	if len(owners) == 0 {
		return nil, nil
	}
	out := slices.Compact(slices.Sorted(slices.Values(owners)))
	if len(out) > MaxUserOwners {
		return nil, Errorf(EINVALID, "A user may have at most %d owners.", MaxUserOwners)
	}
	return out, nil
}
