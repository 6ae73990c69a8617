package account

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// ResetTokenPrefix starts the token of every password-reset link.
const ResetTokenPrefix = "gate_pr_"

// DefaultResetLinkTTL is how long a reset link works by default.
const DefaultResetLinkTTL = time.Hour

// Mailer sends a plain-text e-mail (implemented by *mail.SMTP).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// ResetLinkConfig configures administrators' password-reset links.
type ResetLinkConfig struct {
	// Store keeps the links; nil: Config.Store, when it implements
	// auth.PasswordResetStore.
	Store auth.PasswordResetStore
	// Hasher keys the links' tokens (the server's hashing secret).
	Hasher *secret.Hasher
	// URL is the absolute URL of the page that redeems a link (the
	// account server's /account/reset); the token is added as ?token=.
	URL string
	// TTL is how long a link works; 0: DefaultResetLinkTTL.
	TTL time.Duration
	// Mailer, when set, lets CreateResetLink e-mail the link to the user.
	Mailer Mailer
	// Product names the server in e-mails; default "Gatehouse".
	Product string
}

func (c ResetLinkConfig) withDefaults() ResetLinkConfig {
	if c.TTL <= 0 {
		c.TTL = DefaultResetLinkTTL
	}
	if c.Product == "" {
		c.Product = "Gatehouse"
	}
	return c
}

// ResetLink is a link made by CreateResetLink. URL holds the token: it is
// shown to the administrator once and never stored or logged.
type ResetLink struct {
	URL       string
	UserID    string
	ExpiresAt time.Time
	Emailed   bool // sent to the user's e-mail address
}

// errLinkInvalid is the one answer for a token that is malformed, unknown,
// used, replaced or expired, so that the page does not tell them apart.
func errLinkInvalid() error {
	return auth.Errorf(auth.ENOTFOUND, "This password reset link is not valid: it may have been used, replaced by a newer one, or expired. Ask your administrator for a new link.")
}

// CreateResetLink makes a one-time password-reset link for the user,
// valid for the configured TTL, voiding the user's older links, and
// records user.password_reset_link_created. With email, the link is also
// sent to the user's address: EINVALID when no mailer is configured or
// the user has no address; EUNAVAILABLE when sending fails (the link made
// then is never shown, and the next one voids it). ENOTFOUND if there is
// no such user; ECONFLICT if the user is disabled.
func (s *Service) CreateResetLink(ctx context.Context, actor, id string, email bool) (*ResetLink, error) {
	if s.reset.Hasher == nil || s.reset.URL == "" || s.reset.Store == nil {
		return nil, errors.New("account: reset links are not configured (Store, Hasher and URL)")
	}
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, auth.Errorf(auth.ECONFLICT, "The user is disabled; enable the account before sending a reset link.")
	}
	if email {
		switch {
		case s.reset.Mailer == nil:
			return nil, auth.Errorf(auth.EINVALID, "E-mail is not configured on this server (identity.smtp); print the link and pass it on instead.")
		case u.Email == "":
			return nil, auth.Errorf(auth.EINVALID, "The user has no e-mail address; print the link and pass it on instead.")
		}
	}
	token, hash, err := s.reset.Hasher.New(ResetTokenPrefix)
	if err != nil {
		return nil, fmt.Errorf("account: reset link: %w", err)
	}
	now := s.now()
	l := &auth.PasswordResetLink{Hash: hash, UserID: u.ID, CreatedBy: actorOr(actor), CreatedAt: now, ExpiresAt: now.Add(s.reset.TTL)}
	ev := s.event(now, auth.EventUserPasswordResetLinkCreated, actor, u.ID, map[string]string{
		"expires_at": l.ExpiresAt.UTC().Format(time.RFC3339), "emailed": fmt.Sprint(email),
	})
	if err := s.reset.Store.CreatePasswordResetLink(ctx, l, ev); err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, auth.Errorf(auth.ENOTFOUND, "User not found.")
		}
		return nil, fmt.Errorf("account: create reset link: %w", err)
	}
	link := &ResetLink{URL: s.reset.URL + "?token=" + url.QueryEscape(token), UserID: u.ID, ExpiresAt: l.ExpiresAt}
	if email {
		if err := s.reset.Mailer.Send(ctx, u.Email, s.reset.Product+": choose a new password", s.resetMail(u, link)); err != nil {
			s.logger.WarnContext(ctx, "account: reset link e-mail failed", "user_id", u.ID, "err", err)
			return nil, auth.Errorf(auth.EUNAVAILABLE, "The reset link could not be e-mailed; try again, or print it instead.")
		}
		link.Emailed = true
	}
	return link, nil
}

func (s *Service) resetMail(u *auth.User, l *ResetLink) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n", u.Username)
	fmt.Fprintf(&b, "An administrator of %s has made a link for you to choose a new password:\n\n", s.reset.Product)
	fmt.Fprintf(&b, "%s\n\n", l.URL)
	fmt.Fprintf(&b, "The link works once, until %s. Choosing a new password signs you out everywhere.\n", l.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("If you did not expect this message, tell your administrator and do not use the link.\n")
	return b.String()
}

// CheckResetLink returns the user whose valid reset link token is, without
// using it up (the page shows its form with it). ENOTFOUND, with a message
// for the user, for a token that is malformed, unknown, used, replaced or
// expired, or whose user is gone or disabled; a known link presented used
// or expired is recorded as user.password_reset_link_failed.
func (s *Service) CheckResetLink(ctx context.Context, token string) (*auth.User, error) {
	u, _, err := s.resetLinkUser(ctx, token)
	if err != nil {
		return nil, err
	}
	return public(u), nil
}

func (s *Service) resetLinkUser(ctx context.Context, token string) (*auth.User, []byte, error) {
	if s.reset.Hasher == nil || s.reset.Store == nil || !secret.Valid(ResetTokenPrefix, token) {
		return nil, nil, errLinkInvalid()
	}
	sum := s.reset.Hasher.Sum(token)
	hash := sum[:]
	l, err := s.reset.Store.GetPasswordResetLink(ctx, hash)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, nil, errLinkInvalid()
	} else if err != nil {
		return nil, nil, fmt.Errorf("account: get reset link: %w", err)
	}
	now := s.now()
	if !l.Usable(now) {
		reason := "expired"
		if !l.UsedAt.IsZero() {
			reason = "used"
		}
		s.appendAudit(ctx, s.event(now, auth.EventUserPasswordResetLinkFailed, l.UserID, l.UserID, map[string]string{"reason": reason}))
		return nil, nil, errLinkInvalid()
	}
	u, err := s.get(ctx, l.UserID)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, nil, errLinkInvalid()
	} else if err != nil {
		return nil, nil, err
	}
	if u.Disabled() {
		return nil, nil, errLinkInvalid()
	}
	return u, hash, nil
}

// RedeemResetLink sets the password of the user of a valid reset link
// token: checked against the policy (EINVALID, and the link still
// works), then, in one transaction, the link used up, the password and
// PasswordChangedAt set, every browser and dashboard session of the user
// ended, and user.password_reset recorded (method "link"). ENOTFOUND as
// for CheckResetLink, also when a concurrent redemption won.
func (s *Service) RedeemResetLink(ctx context.Context, token, pw string) (*auth.User, error) {
	u, hash, err := s.resetLinkUser(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.CheckPassword(u.Username, pw); err != nil {
		return nil, err
	}
	h, err := s.hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ev := s.event(now, auth.EventUserPasswordReset, u.ID, u.ID, map[string]string{"method": "link"})
	_, err = s.reset.Store.RedeemPasswordResetLink(ctx, hash, auth.PasswordReset{PasswordHash: h, At: now}, ev)
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, errLinkInvalid()
	} else if err != nil {
		return nil, fmt.Errorf("account: redeem reset link: %w", err)
	}
	u.PasswordChangedAt, u.UpdatedAt = now, now
	return public(u), nil
}

func actorOr(actor string) string {
	if actor == "" {
		return auth.ActorSystem
	}
	return actor
}

// appendAudit records an event that accompanies no change, logging (not
// failing on) an error.
func (s *Service) appendAudit(ctx context.Context, ev auth.AuditEvent) {
	if s.audit == nil {
		return
	}
	if err := s.audit.AppendAuditEvents(ctx, ev); err != nil {
		s.logger.WarnContext(ctx, "account: audit", "type", ev.Type, "err", err)
	}
}
