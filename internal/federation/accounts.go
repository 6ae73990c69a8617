package federation

import (
	"context"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// How an upstream identity was resolved to a local account.
const (
	ResolvedLink  = "link"  // an existing link
	ResolvedEmail = "email" // linked now by a verified address
	ResolvedNew   = "new"   // an account created just in time
)

// Resolve finds the local account of an upstream identity:
//
//  1. the account linked to it;
//  2. with LinkVerifiedEmail on for the server AND TrustEmail on for this
//     provider, and only when the provider says the address is verified, the one account whose address (verified too)
//     is the same: the link is made now;
//  3. when the provider creates users, a new account (username from the
//     username claim; a taken one gets a suffix, never the other
//     account) linked to it.
//
// Otherwise the identity must first be linked by its signed-in owner
// (ReasonNotLinked). A disabled account is refused (ReasonAccountDisabled).
// A new link is audited (user.provider_linked, and user.created for a
// new account), and so is a refusal (user.provider_failed).
func (s *Service) Resolve(ctx context.Context, p *auth.Provider, id *Identity) (*auth.User, string, error) {
	l, err := s.cfg.Store.GetProviderLink(ctx, p.Name, id.Subject)
	switch {
	case err == nil:
		u, err := s.cfg.Store.GetUser(ctx, l.UserID)
		if err != nil {
			return nil, "", fmt.Errorf("federation: linked user: %w", err)
		}
		if u.Disabled() {
			return nil, "", s.failed(ctx, p, u.ID, refused(ReasonAccountDisabled, "the linked account is disabled"))
		}
		if err := s.cfg.Store.TouchProviderLink(ctx, p.Name, id.Subject, s.now()); err != nil {
			s.log.WarnContext(ctx, "federation: touch link", "err", err)
		}
		return u, ResolvedLink, nil
	case auth.ErrorCode(err) != auth.ENOTFOUND:
		return nil, "", err
	}
	if u, err := s.linkByEmail(ctx, p, id); u != nil || err != nil {
		return u, ResolvedEmail, err
	}
	if !p.CreateUsers {
		e := refused(ReasonNotLinked, "no account is linked to the upstream identity")
		e.Message = fmt.Sprintf("No account is linked to this %s account. Sign in with your password, then link %s on your account page.", Label(p), Label(p))
		return nil, "", s.failed(ctx, p, "", e)
	}
	u, err := s.createUser(ctx, p, id)
	if err != nil {
		return nil, "", err
	}
	return u, ResolvedNew, nil
}

// linkByEmail links the identity to the one local account with the same
// verified address, when the server (identity.link_verified_email), the
// provider's settings (TrustEmail: the operator trusts its email_verified)
// and the provider (email_verified) all allow it; nil and no error when it
// does not apply. A provider, OIDC or plain OAuth 2.0, is never trusted by
// default.
func (s *Service) linkByEmail(ctx context.Context, p *auth.Provider, id *Identity) (*auth.User, error) {
	if !s.cfg.LinkVerifiedEmail || !p.TrustEmail || !id.EmailVerified || id.Email == "" {
		return nil, nil
	}
	users, err := s.cfg.Store.ListUsersByEmail(ctx, id.Email, 2)
	if err != nil {
		return nil, err
	}
	// Two accounts with the address: which one is meant cannot be told.
	if len(users) != 1 || !users[0].EmailVerified {
		return nil, nil
	}
	u := users[0]
	if u.Disabled() {
		return nil, s.failed(ctx, p, u.ID, refused(ReasonAccountDisabled, "the account of that address is disabled"))
	}
	if err := s.link(ctx, u.ID, p, id, "email"); err != nil {
		return nil, err
	}
	return u, nil
}

// maxUsernameTries bounds the suffixed usernames tried for a new account.
const maxUsernameTries = 5

// createUser creates an account for the identity, with its link, in one
// transaction. The username comes from the username claim (made valid);
// when it is taken, a random suffix is added: an existing account is
// never taken over by its username.
func (s *Service) createUser(ctx context.Context, p *auth.Provider, id *Identity) (*auth.User, error) {
	base := usernameFrom(id.Username)
	if base == "" {
		base = usernameFrom(p.Name + "-" + id.Subject)
	}
	email, verified := "", false
	if id.Email != "" && validEmail(id.Email) && id.EmailVerified {
		// A verified address only, and only if no account has it: a
		// second account with someone's address would confuse whatever
		// finds accounts by address.
		others, err := s.cfg.Store.ListUsersByEmail(ctx, id.Email, 1)
		if err != nil {
			return nil, err
		}
		if len(others) == 0 {
			email, verified = id.Email, true
		}
	}
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, id.Name)
	if len(name) > account.MaxNameLength {
		name = ""
	}
	for try := 0; try < maxUsernameTries; try++ {
		username := base
		if try > 0 {
			username = suffixed(base, randomSuffix())
		}
		now := s.now()
		uid, err := auth.NewID(account.IDPrefix, now)
		if err != nil {
			return nil, err
		}
		u := &auth.User{
			ID: uid, Username: username, Email: email, EmailVerified: verified, Name: name,
			Role: auth.RoleDeveloper, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
		}
		l := &auth.ProviderLink{Provider: p.Name, Subject: id.Subject, UserID: uid, Email: id.Email, CreatedAt: now, LastUsedAt: now}
		created := auth.AuditEvent{Time: now, Type: auth.EventUserCreated, Actor: auth.ActorSystem, Count: 1, Details: map[string]string{
			"user_id": uid, "username": username, "role": u.Role, "owners": "", "provider": p.Name,
		}}
		err = s.cfg.Store.CreateUserWithLink(ctx, u, l, created, s.linkedEvent(uid, p, id, "created"))
		if err == nil {
			return u, nil
		}
		if auth.ErrorCode(err) != auth.ECONFLICT {
			return nil, err
		}
		// The identity may have been linked meanwhile (a concurrent
		// callback): then that is the account.
		if l, lerr := s.cfg.Store.GetProviderLink(ctx, p.Name, id.Subject); lerr == nil {
			return s.cfg.Store.GetUser(ctx, l.UserID)
		}
	}
	return nil, s.failed(ctx, p, "", refused(ReasonUsernameExhausted, "no free username for "+base))
}

// usernameFrom makes a claim into a valid username: characters outside
// letters, digits and . _ - @ become "-", cut to the maximum length.
func usernameFrom(claim string) string {
	b := []byte(claim)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			b[i] = '-'
		}
	}
	u := strings.Trim(string(b), "-")
	if len(u) > account.MaxUsernameLength-8 {
		u = u[:account.MaxUsernameLength-8]
	}
	if account.ValidateUsername(u) != nil {
		return ""
	}
	return u
}

func suffixed(base, suffix string) string { return base + "-" + suffix }

func randomSuffix() string {
	v := randomValue()
	n := 0
	for i := 0; i < 4; i++ {
		n = n*64 + int(strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", v[i]))
	}
	return strconv.Itoa(n % 1000000)
}

func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Name == "" && a.Address == e && len(e) <= account.MaxEmailLength
}

// Link links the upstream identity to the signed-in user userID (who has
// proved control of the account by signing in). ReasonLinkedElsewhere if
// the identity is linked to another account; EINVALID-coded *Error if the
// user has a link to that provider already.
func (s *Service) Link(ctx context.Context, userID string, p *auth.Provider, id *Identity) error {
	if l, err := s.cfg.Store.GetProviderLink(ctx, p.Name, id.Subject); err == nil {
		if l.UserID == userID {
			return nil // linked already: nothing to do
		}
		e := refused(ReasonLinkedElsewhere, "the identity is linked to another account")
		e.Message = fmt.Sprintf("This %s account is linked to another account.", Label(p))
		return s.failed(ctx, p, userID, e)
	}
	return s.link(ctx, userID, p, id, "signed_in")
}

func (s *Service) link(ctx context.Context, userID string, p *auth.Provider, id *Identity, via string) error {
	now := s.now()
	l := &auth.ProviderLink{Provider: p.Name, Subject: id.Subject, UserID: userID, Email: id.Email, CreatedAt: now, LastUsedAt: now}
	err := s.cfg.Store.CreateProviderLink(ctx, l, s.linkedEvent(userID, p, id, via))
	if auth.ErrorCode(err) == auth.ECONFLICT {
		e := refused(ReasonLinkedElsewhere, "the user has a link to the provider, or the identity is linked")
		e.Message = fmt.Sprintf("Your account is already linked to another %s account, or this one is linked elsewhere. Unlink it first.", Label(p))
		return s.failed(ctx, p, userID, e)
	}
	return err
}

func (s *Service) linkedEvent(userID string, p *auth.Provider, id *Identity, via string) auth.AuditEvent {
	return auth.AuditEvent{Time: s.now(), Type: auth.EventUserProviderLinked, Actor: userID, Count: 1, Details: map[string]string{
		"user_id": userID, "provider": p.Name, "subject": id.Subject, "via": via,
	}}
}

// Links returns the user's links, in provider order.
func (s *Service) Links(ctx context.Context, userID string) ([]*auth.ProviderLink, error) {
	return s.cfg.Store.ListUserProviderLinks(ctx, userID)
}

// Unlink removes the user's link to the provider. It refuses (ECONFLICT)
// to remove the last way to sign in of a user without a password and
// without a passkey (Config.Passkeys); ENOTFOUND if there is no such link.
func (s *Service) Unlink(ctx context.Context, userID, provider string) error {
	u, err := s.cfg.Store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	links, err := s.cfg.Store.ListUserProviderLinks(ctx, userID)
	if err != nil {
		return err
	}
	found := false
	for _, l := range links {
		found = found || l.Provider == provider
	}
	if !found {
		return auth.Errorf(auth.ENOTFOUND, "Provider link not found.")
	}
	if u.PasswordHash == "" && len(links) == 1 {
		passkey := false
		if s.cfg.Passkeys != nil {
			if passkey, err = s.cfg.Passkeys.Registered(ctx, userID); err != nil {
				return err
			}
		}
		if !passkey {
			return auth.Errorf(auth.ECONFLICT, "This is the only way to sign in to your account: set a password, add a passkey or link another provider first.")
		}
	}
	ev := auth.AuditEvent{Time: s.now(), Type: auth.EventUserProviderUnlinked, Actor: userID, Count: 1, Details: map[string]string{
		"user_id": userID, "provider": provider,
	}}
	return s.cfg.Store.DeleteProviderLink(ctx, provider, userID, ev)
}

// Failed records a refused upstream sign-in (user.provider_failed, with
// the reason and the user when known) and returns err.
func (s *Service) Failed(ctx context.Context, provider, userID string, err error) error {
	return s.failed(ctx, &auth.Provider{Name: provider}, userID, err)
}

func (s *Service) failed(ctx context.Context, p *auth.Provider, userID string, err error) error {
	reason := ReasonOf(err)
	if reason == "" {
		return err
	}
	actor := userID
	if actor == "" {
		actor = auth.ActorSystem
	}
	ev := auth.AuditEvent{Time: s.now(), Type: auth.EventUserProviderSignInFailed, Actor: actor, Reason: reason, Count: 1,
		Details: map[string]string{"user_id": userID, "provider": p.Name}}
	if aerr := s.cfg.Store.AppendAuditEvents(ctx, ev); aerr != nil {
		s.log.WarnContext(ctx, "federation: audit a failure", "err", aerr)
	}
	return err
}
