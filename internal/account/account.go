// Package account keeps the local user accounts that sign in on the login
// page: creation with validated usernames and argon2id password hashes,
// disabling, password resets, and Authenticate with throttling of failed
// logins that slows guessing without letting a guesser lock the account's
// owner out (authenticate.go).
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/password"
)

// IDPrefix starts every user ID.
const IDPrefix = "usr_"

// Limits on user fields.
const (
	MaxUsernameLength = 64
	MaxEmailLength    = 254 // RFC 5321 4.5.3.1.3, as a path
	MaxNameLength     = 200
)

// Config configures a Service. Store is required.
type Config struct {
	Store auth.UserStore
	// Sessions, when set, lets Disable and ResetPassword end the user's
	// browser sessions at once.
	Sessions auth.SessionStore
	// Audit, when set, records lockouts of accounts by the login throttle
	// (changes to users are recorded by Store with the change itself).
	Audit  auth.AuditStore
	Now    auth.Now     // default auth.SystemNow
	Logger *slog.Logger // default: discard

	// Failed-login throttling (see Authenticate). Zero values pick the
	// defaults.
	//
	// From one client address, a username gets SourceFailures failures
	// free, then waits BackoffBase after the next, twice that after the
	// one after, and so on up to BackoffMax.
	SourceFailures int           // default 5
	BackoffBase    time.Duration // default 1 second
	BackoffMax     time.Duration // default 15 minutes
	// From all addresses together, a username takes AccountFailures per
	// AccountWindow from clients without its device cookie: more than one
	// address's back-off lets through, so only an attack from many
	// addresses reaches it.
	AccountFailures int           // default 30
	AccountWindow   time.Duration // default 1 hour
	// Per Window: failures from one client address whatever the username,
	// and failures with one device cookie.
	AddressFailures int           // default 20
	DeviceFailures  int           // default 5
	Window          time.Duration // default 15 minutes
	MaxTracked      int           // keys tracked by each limit; default 100000
	// Shared, when set, keeps the per-username and per-address limits in a
	// store every node shares (the node's ratelimit.Redis, scoped), so
	// that they hold across the cluster with the same rules; while it
	// fails each node applies its share of them. The back-off per
	// username and address, and the device cookies' budgets, are the
	// client's own and stay on each node. Nil: all on this node.
	Shared SharedLimiter

	// PasswordPolicy bounds new passwords (the zero Policy: the
	// defaults), wherever they are set: Create, ResetPassword, reset
	// links, and a user's own change.
	PasswordPolicy password.Policy
	// ResetLinks configures administrators' password-reset links
	// (reset.go); without its Hasher and URL, CreateResetLink fails.
	ResetLinks ResetLinkConfig

	// MaxConcurrentHashes bounds the argon2id computations running at once
	// (each takes password.Default.Memory KiB), so a burst of logins cannot
	// exhaust memory; default 4 × GOMAXPROCS.
	MaxConcurrentHashes int
}

// Defaults of Config.
const (
	DefaultSourceFailures  = 5
	DefaultBackoffBase     = time.Second
	DefaultBackoffMax      = 15 * time.Minute
	DefaultAccountFailures = 30
	DefaultAccountWindow   = time.Hour
	DefaultAddressFailures = 20
	DefaultDeviceFailures  = 5
	DefaultWindow          = 15 * time.Minute
	DefaultMaxTracked      = 100_000
)

// backoffMemory is how long a username's failures from one address are
// remembered after the last one: long enough that waiting does not buy an
// attacker a fresh set of free failures often (five a day at most), short
// enough that a forgetful user's back-off does not outlive the day.
const backoffMemory = 24 * time.Hour

// EventLoginThrottled is the audit event recorded when a username reaches
// its failed-login limit for clients without its device cookie.
const EventLoginThrottled = "user.login_throttled"

// Service manages user accounts. It is safe for concurrent use.
type Service struct {
	store    auth.UserStore
	sessions auth.SessionStore
	audit    auth.AuditStore
	now      auth.Now
	logger   *slog.Logger

	sources   *throttle    // back-off keyed by username and client address
	accounts  failureLimit // keyed by lower-cased username
	addresses failureLimit // keyed by client address
	devices   *throttle    // keyed by device cookie
	hashSlots chan struct{}
	policy    password.Policy
	reset     ResetLinkConfig
	// dummyHash is verified when the username is unknown, so an unknown
	// user costs the same time as a wrong password.
	dummyHash string
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("account: Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, v := range []int{cfg.SourceFailures, cfg.AccountFailures, cfg.AddressFailures, cfg.DeviceFailures, cfg.MaxTracked, cfg.MaxConcurrentHashes} {
		if v < 0 {
			return nil, errors.New("account: negative throttling setting")
		}
	}
	for _, d := range []time.Duration{cfg.BackoffBase, cfg.BackoffMax, cfg.AccountWindow, cfg.Window} {
		if d < 0 {
			return nil, errors.New("account: negative throttling duration")
		}
	}
	setDefault(&cfg.SourceFailures, DefaultSourceFailures)
	setDefault(&cfg.AccountFailures, DefaultAccountFailures)
	setDefault(&cfg.AddressFailures, DefaultAddressFailures)
	setDefault(&cfg.DeviceFailures, DefaultDeviceFailures)
	setDefault(&cfg.MaxTracked, DefaultMaxTracked)
	setDefault(&cfg.MaxConcurrentHashes, 4*runtimeProcs())
	setDefault(&cfg.BackoffBase, DefaultBackoffBase)
	setDefault(&cfg.BackoffMax, DefaultBackoffMax)
	setDefault(&cfg.AccountWindow, DefaultAccountWindow)
	setDefault(&cfg.Window, DefaultWindow)
	if cfg.BackoffMax < cfg.BackoffBase {
		return nil, errors.New("account: BackoffMax is shorter than BackoffBase")
	}
	if rs, ok := cfg.Store.(auth.PasswordResetStore); ok && cfg.ResetLinks.Store == nil {
		cfg.ResetLinks.Store = rs
	}
	dummy, err := password.Hash("gatehouse dummy password")
	if err != nil {
		return nil, fmt.Errorf("account: dummy hash: %w", err)
	}
	var accounts, addresses failureLimit = local{newThrottle(newBucket(cfg.AccountFailures, cfg.AccountWindow), cfg.MaxTracked)},
		local{newThrottle(newBucket(cfg.AddressFailures, cfg.Window), cfg.MaxTracked)}
	if cfg.Shared != nil {
		accounts = newSharedBucket(cfg.Shared, "account:", cfg.AccountFailures, cfg.AccountWindow, cfg.MaxTracked)
		addresses = newSharedBucket(cfg.Shared, "address:", cfg.AddressFailures, cfg.Window, cfg.MaxTracked)
	}
	return &Service{
		store:    cfg.Store,
		sessions: cfg.Sessions,
		audit:    cfg.Audit,
		now:      cfg.Now,
		logger:   cfg.Logger,
		sources: newThrottle(backoff{free: cfg.SourceFailures, base: cfg.BackoffBase, ceiling: cfg.BackoffMax, memory: backoffMemory},
			cfg.MaxTracked),
		accounts:  accounts,
		addresses: addresses,
		devices:   newThrottle(newBucket(cfg.DeviceFailures, cfg.Window), cfg.MaxTracked),
		hashSlots: make(chan struct{}, cfg.MaxConcurrentHashes),
		policy:    cfg.PasswordPolicy,
		reset:     cfg.ResetLinks.withDefaults(),
		dummyHash: dummy,
	}, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// CreateInput is a new user.
type CreateInput struct {
	Username      string
	Password      string
	Email         string
	EmailVerified bool
	Name          string
	// Role is auth.RoleAdmin or auth.RoleDeveloper; "" means developer.
	// Owners follow auth.CheckRoleOwners and are stored sorted and unique.
	Role   string
	Owners []string
}

// Create validates in, hashes the password and stores a new user.
// EINVALID for a bad field (the message names it), ECONFLICT when the
// username is taken (case-insensitively). The returned user has no
// PasswordHash.
func (s *Service) Create(ctx context.Context, actor string, in CreateInput) (*auth.User, error) {
	if err := ValidateUsername(in.Username); err != nil {
		return nil, err
	}
	if err := s.CheckPassword(in.Username, in.Password); err != nil {
		return nil, err
	}
	if err := validateEmail(in.Email); err != nil {
		return nil, err
	}
	if in.EmailVerified && in.Email == "" {
		return nil, auth.Errorf(auth.EINVALID, "An email address must be given to mark it verified.")
	}
	if err := validateName(in.Name); err != nil {
		return nil, err
	}
	if in.Role == "" {
		in.Role = auth.RoleDeveloper
	}
	owners, err := auth.CheckRoleOwners(in.Role, in.Owners)
	if err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	id, err := auth.NewID(IDPrefix, now)
	if err != nil {
		return nil, err
	}
	u := &auth.User{
		ID:                id,
		Username:          in.Username,
		PasswordHash:      hash,
		Email:             in.Email,
		EmailVerified:     in.EmailVerified,
		Name:              in.Name,
		Role:              in.Role,
		Owners:            owners,
		CreatedAt:         now,
		UpdatedAt:         now,
		PasswordChangedAt: now,
	}
	ev := s.event(now, auth.EventUserCreated, actor, u.ID, map[string]string{
		"username": u.Username, "role": u.Role, "owners": strings.Join(u.Owners, ","),
	})
	if err := s.store.CreateUser(ctx, u, ev); err != nil {
		if auth.ErrorCode(err) == auth.ECONFLICT {
			return nil, auth.Errorf(auth.ECONFLICT, "The username %q is taken.", in.Username)
		}
		return nil, fmt.Errorf("account: create user: %w", err)
	}
	return public(u), nil
}

// Get returns the user (without PasswordHash), or ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (*auth.User, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return public(u), nil
}

func (s *Service) get(ctx context.Context, id string) (*auth.User, error) {
	if !validID(id) {
		return nil, auth.Errorf(auth.ENOTFOUND, "User not found.")
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return nil, auth.Errorf(auth.ENOTFOUND, "User not found.")
		}
		return nil, fmt.Errorf("account: get user: %w", err)
	}
	return u, nil
}

// List returns a page of users in ID order (without PasswordHash) and the
// cursor of the next page ("" on the last).
func (s *Service) List(ctx context.Context, f auth.UserFilter) ([]*auth.User, string, error) {
	if f.Limit < 0 {
		return nil, "", auth.Errorf(auth.EINVALID, "The limit must not be negative.")
	}
	if f.After != "" && !validID(f.After) {
		return nil, "", auth.Errorf(auth.EINVALID, "The cursor is not a user ID.")
	}
	users, next, err := s.store.ListUsers(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("account: list users: %w", err)
	}
	for i, u := range users {
		users[i] = public(u)
	}
	return users, next, nil
}

// Disable stops the user from signing in and ends its sessions. Disabling
// a disabled user changes nothing. ENOTFOUND if there is no such user.
func (s *Service) Disable(ctx context.Context, actor, id string) (*auth.User, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !u.Disabled() {
		now := s.now()
		u.DisabledAt = now
		u.UpdatedAt = now
		ev := s.event(now, auth.EventUserDisabled, actor, u.ID, nil)
		if err := s.store.UpdateUser(ctx, u, ev); err != nil {
			return nil, fmt.Errorf("account: disable user: %w", err)
		}
	}
	// Also when already disabled: a session created by a racing login
	// ends too.
	if err := s.endSessions(ctx, u.ID); err != nil {
		return nil, err
	}
	return public(u), nil
}

// Enable lets a disabled user sign in again. ENOTFOUND if there is no such
// user.
func (s *Service) Enable(ctx context.Context, actor, id string) (*auth.User, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		now := s.now()
		u.DisabledAt = time.Time{}
		u.UpdatedAt = now
		ev := s.event(now, auth.EventUserUpdated, actor, u.ID, map[string]string{"change": "enabled"})
		if err := s.store.UpdateUser(ctx, u, ev); err != nil {
			return nil, fmt.Errorf("account: enable user: %w", err)
		}
	}
	return public(u), nil
}

// UpdateInput is a change to a user's role and owners; a nil field keeps
// what the user has. Owners given as an empty slice removes them all.
type UpdateInput struct {
	Role   *string
	Owners *[]string
}

// Update changes the user's role and owners, checked by
// auth.CheckRoleOwners (EINVALID, nothing stored). A change writes one
// user.updated event naming what changed, old and new; no change writes
// nothing. ENOTFOUND if there is no such user.
func (s *Service) Update(ctx context.Context, actor, id string, in UpdateInput) (*auth.User, error) {
	u, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	role, owners := u.Role, u.Owners
	if in.Role != nil {
		role = *in.Role
	}
	if in.Owners != nil {
		owners = *in.Owners
	}
	if owners, err = auth.CheckRoleOwners(role, owners); err != nil {
		return nil, err
	}
	details := map[string]string{}
	if role != u.Role {
		details["old_role"], details["role"] = u.Role, role
	}
	if !slices.Equal(owners, u.Owners) {
		details["old_owners"], details["owners"] = strings.Join(u.Owners, ","), strings.Join(owners, ",")
	}
	if len(details) == 0 {
		return public(u), nil
	}
	now := s.now()
	u.Role, u.Owners, u.UpdatedAt = role, owners, now
	ev := s.event(now, auth.EventUserUpdated, actor, u.ID, details)
	if err := s.store.UpdateUser(ctx, u, ev); err != nil {
		return nil, fmt.Errorf("account: update user: %w", err)
	}
	return public(u), nil
}

// ResetPassword sets a new password (checked against the policy: EINVALID)
// and ends the user's sessions. ENOTFOUND if there is no such user.
func (s *Service) ResetPassword(ctx context.Context, actor, id, pw string) error {
	// Refuse an unknown user before the costly hash.
	before, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if err := s.CheckPassword(before.Username, pw); err != nil {
		return err
	}
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return err
	}
	// UpdateUser writes the whole record: read it after hashing, so a
	// change made during the hash (a disable, above all) is written back
	// rather than undone. The store has no conditional update, so only a
	// change within this read and the write can still be lost.
	u, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	now := s.now()
	u.PasswordHash = hash
	u.PasswordChangedAt = now
	u.UpdatedAt = now
	ev := s.event(now, auth.EventUserPasswordReset, actor, u.ID, nil)
	if err := s.store.UpdateUser(ctx, u, ev); err != nil {
		return fmt.Errorf("account: reset password: %w", err)
	}
	return s.endSessions(ctx, u.ID)
}

// CheckPassword applies the password policy (password.CheckPolicy with
// the configured lengths) to a new password for the account named
// username: EINVALID with a message for the user. Every way of setting a
// password goes through it.
func (s *Service) CheckPassword(username, pw string) error {
	return password.CheckPolicy(s.policy, username, pw)
}

// PasswordPolicy returns the policy CheckPassword applies, for pages that
// describe it.
func (s *Service) PasswordPolicy() password.Policy { return s.policy }

func (s *Service) endSessions(ctx context.Context, userID string) error {
	if s.sessions == nil {
		return nil
	}
	if err := s.sessions.DeleteUserSessions(ctx, userID); err != nil {
		return fmt.Errorf("account: end sessions of %s: %w", userID, err)
	}
	return nil
}

// hash runs password.Hash within the concurrency bound.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	h, err := password.Hash(pw)
	if err != nil {
		return "", fmt.Errorf("account: hash password: %w", err)
	}
	return h, nil
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("account: wait for a hashing slot: %w", ctx.Err())
	}
}

func (s *Service) release() { <-s.hashSlots }

func (s *Service) event(now time.Time, typ, actor, userID string, details map[string]string) auth.AuditEvent {
	if actor == "" {
		actor = auth.ActorSystem
	}
	d := map[string]string{"user_id": userID}
	for k, v := range details {
		d[k] = v
	}
	return auth.AuditEvent{Time: now, Type: typ, Actor: actor, Count: 1, Details: d}
}

// public returns a copy of u without the password hash, which never leaves
// this package.
func public(u *auth.User) *auth.User {
	c := *u
	c.PasswordHash = ""
	return &c
}

// ValidateUsername returns an EINVALID *auth.Error unless name has 1 to 64
// characters among ASCII letters, digits and . _ - @.
func ValidateUsername(name string) error {
	if name == "" || len(name) > MaxUsernameLength {
		return auth.Errorf(auth.EINVALID, "The username must have 1 to %d characters.", MaxUsernameLength)
	}
	for i := 0; i < len(name); i++ {
		if !usernameByte(name[i]) {
			return auth.Errorf(auth.EINVALID, "The username may contain only letters, digits and . _ - @.")
		}
	}
	return nil
}

func usernameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '@'
}

// validateEmail accepts "" (no email) or a bare address that net/mail
// parses as itself: no display name, no comments, no angle brackets.
func validateEmail(email string) error {
	if email == "" {
		return nil
	}
	if len(email) > MaxEmailLength {
		return auth.Errorf(auth.EINVALID, "The email address must be at most %d bytes long.", MaxEmailLength)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email || !strings.Contains(email, "@") {
		return auth.Errorf(auth.EINVALID, "The email address is not valid.")
	}
	return nil
}

func validateName(name string) error {
	if len(name) > MaxNameLength || !utf8.ValidString(name) {
		return auth.Errorf(auth.EINVALID, "The name must be UTF-8 text of at most %d bytes.", MaxNameLength)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return auth.Errorf(auth.EINVALID, "The name must not contain control characters.")
		}
	}
	return nil
}

// validID reports whether id looks like a user ID, so garbage is refused
// before any database work.
func validID(id string) bool {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok || len(rest) != auth.IDLength {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'v') {
			return false
		}
	}
	return true
}
