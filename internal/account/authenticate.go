package account

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/password"
)

// ErrInvalidCredentials is the message of every failed login: unknown
// user, wrong password and disabled account alike, so the answer tells an
// attacker nothing about which usernames exist.
const ErrInvalidCredentials = "Invalid username or password."

// LimitedError is the ERATELIMITED error of a throttled login. It unwraps
// to an *auth.Error, so auth.ErrorCode sees ERATELIMITED.
type LimitedError struct {
	RetryAfter time.Duration // until one more attempt is allowed; at least one second
	err        *auth.Error
}

func (e *LimitedError) Error() string { return e.err.Error() }
func (e *LimitedError) Unwrap() error { return e.err }

// RetryAfter returns the wait of a LimitedError in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitedError
	if errors.As(err, &le) {
		return le.RetryAfter, true
	}
	return 0, false
}

// Device is a device cookie presented with a sign-in (OWASP's "device
// cookies"), its signature and age already checked by the server that
// issued it: the browser signed in as UserID at IssuedAt (to the
// microsecond: it is exempt only if issued after the password's last
// change). ID is the cookie's random nonce, which keys its own failure
// budget.
type Device struct {
	ID       string
	UserID   string
	IssuedAt time.Time
}

// Authenticate checks a username and password given from the client
// address addr (an IP address, with or without a port; the caller decides
// which address to trust) and returns the user without its PasswordHash.
// dev is the client's device cookie, or nil.
//
// Failures are throttled so that guessing is slow but a guesser cannot
// lock the account's owner out:
//
//   - A client with a device cookie of the account (issued to this user,
//     after its last password change) answers only to the cookie's own
//     budget of DeviceFailures per Window: neither the username's nor the
//     address's failures elsewhere refuse it. While that budget is spent,
//     attempts with the cookie are refused (the device is locked out), so
//     a stolen cookie buys no more guesses.
//   - Any other client answers to three limits. Per username and address,
//     capped exponential back-off: SourceFailures failures free, then
//     waits of BackoffBase, doubling up to BackoffMax, after each failure.
//     Per username, AccountFailures per AccountWindow: more than one
//     address's back-off lets through, so failures from one address never
//     refuse the username at another. Per address, AddressFailures per
//     Window whatever the username (one address trying many names).
//
// Errors: EUNAUTHORIZED with ErrInvalidCredentials for an unknown user, a
// wrong password or a disabled account, each after the same argon2id work
// (an unknown user is checked against a dummy hash); a *LimitedError
// (ERATELIMITED) while a limit refuses the attempt — decided before the
// password is checked and, without a device cookie of the account, before
// the user is looked up, so it is the same for names that exist and names
// that do not. Anything else is an internal error.
//
// Each attempt is counted as a failure before the password is checked and
// refunded on success, so parallel guesses cannot all slip past a limit.
// A success clears the back-off of its address, or its device's failures.
func (s *Service) Authenticate(ctx context.Context, username, pw, addr string, dev *Device) (*auth.User, error) {
	now := s.now()
	acctKey := accountKey(username)
	addrKey := addressKey(addr)
	trusted, err := s.trustedDevice(ctx, username, dev)
	if err != nil {
		return nil, err
	}
	var limits []limit
	if trusted {
		limits = []limit{{local{s.devices}, dev.ID, "device"}}
	} else {
		// The client's own limit last (see the success below); it is also
		// the back-off, whose refund is exact only for the last take.
		limits = []limit{{s.accounts, acctKey, "account"}, {s.addresses, addrKey, "address"},
			{local{s.sources}, acctKey + "\x00" + addrKey, "source"}}
	}
	for i, l := range limits {
		if d, ok := l.t.take(ctx, l.key, now); !ok {
			refund(ctx, limits[:i], now)
			return nil, s.limited(ctx, l.name, addrKey, d)
		}
	}
	u, err := s.check(ctx, username, pw)
	if err != nil {
		if auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			// Our fault, not the caller's: do not count it.
			refund(ctx, limits, now)
			return nil, err
		}
		if !trusted && s.accounts.full(ctx, acctKey, now) {
			s.recordLockout(ctx, now, acctKey, addrKey)
		}
		return nil, err
	}
	// The last limit is the client's own (its device, or its back-off
	// for this username), forgotten on success; the shared ones only get
	// the attempt back.
	own := len(limits) - 1
	if trusted {
		s.devices.reset(dev.ID)
	} else {
		s.sources.reset(limits[own].key)
	}
	refund(ctx, limits[:own], now)
	s.rehash(ctx, u, pw)
	return public(u), nil
}

// limit is one throttle as it applies to an attempt.
type limit struct {
	t    failureLimit
	key  string
	name string // for the log
}

func refund(ctx context.Context, limits []limit, now time.Time) {
	for _, l := range limits {
		l.t.refund(ctx, l.key, now)
	}
}

// trustedDevice reports whether dev proves that this client signed in to
// username's account before: issued to the user who has that name now
// (not to an earlier holder of a reused name), and not before its last
// password change, so a reset also ends the exemption of the devices
// that knew the old password. Only clients holding a cookie we signed get
// this lookup, which costs the same whether the name exists or not; its
// outcome differs only for the cookie's own account.
func (s *Service) trustedDevice(ctx context.Context, username string, dev *Device) (bool, error) {
	if dev == nil || ValidateUsername(username) != nil {
		return false, nil
	}
	u, err := s.store.GetUserByUsername(ctx, username)
	if err != nil {
		if auth.ErrorCode(err) == auth.ENOTFOUND {
			return false, nil
		}
		return false, fmt.Errorf("account: look up the user of a device: %w", err)
	}
	// Strictly after, at the stores' precision (microseconds, as is
	// IssuedAt): a cookie issued in the same microsecond as the change
	// cannot be told from one issued before it, and is not trusted.
	return u.ID == dev.UserID && !u.Disabled() && dev.IssuedAt.After(u.PasswordChangedAt.Truncate(time.Microsecond)), nil
}

// check does the lookup and the constant-work password check.
func (s *Service) check(ctx context.Context, username, pw string) (*auth.User, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	var u *auth.User
	if ValidateUsername(username) == nil {
		var err error
		u, err = s.store.GetUserByUsername(ctx, username)
		if err != nil && auth.ErrorCode(err) != auth.ENOTFOUND {
			return nil, fmt.Errorf("account: look up user: %w", err)
		}
	}
	hash := s.dummyHash
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, err := password.Verify(hash, pw)
	// An account without a password (created through an identity
	// provider) signs in through the provider only; the dummy hash did
	// the same work as any other failure.
	ok = ok && u != nil && u.PasswordHash != ""
	if err != nil {
		// A corrupt stored hash: the account cannot sign in until its
		// password is reset. Logged without the hash. The dummy hash is
		// checked instead, so the answer comes after the same work as
		// any other failure.
		s.logger.ErrorContext(ctx, "stored password hash is unusable", "user_id", u.ID, "error", err)
		_, _ = password.Verify(s.dummyHash, pw)
		ok = false
	}
	if u == nil || !ok || u.Disabled() {
		return nil, auth.Errorf(auth.EUNAUTHORIZED, ErrInvalidCredentials)
	}
	return u, nil
}

// rehash replaces a hash made under older parameters after a successful
// login, the only time the password is known. A failure only costs a later
// retry, so it is logged, not returned.
//
// UpdateUser replaces the whole record, and u was read before the password
// check and a whole argon2id hash ago: writing it back would undo a disable
// or password reset made meanwhile (re-enabling the account, or making the
// old password work again). So the user is read again after hashing and
// only the hash of that fresh copy is replaced, and only if it is still
// the hash just verified on an enabled account. The store offers no
// conditional update, so a change landing between this read and the write
// can still be lost; the window is one round trip instead of a hash.
func (s *Service) rehash(ctx context.Context, u *auth.User, pw string) {
	if !password.NeedsRehash(u.PasswordHash) {
		return
	}
	h, err := s.hash(ctx, pw)
	if err == nil {
		var cur *auth.User
		cur, err = s.store.GetUser(ctx, u.ID)
		switch {
		case err != nil:
		case cur.PasswordHash != u.PasswordHash || cur.Disabled():
			return // changed meanwhile: the change wins
		default:
			cur.PasswordHash = h
			cur.UpdatedAt = s.now()
			err = s.store.UpdateUser(ctx, cur)
		}
	}
	if err != nil {
		s.logger.WarnContext(ctx, "rehash password on login", "user_id", u.ID, "error", err)
	}
}

func (s *Service) limited(ctx context.Context, limit, addr string, d time.Duration) error {
	s.logger.InfoContext(ctx, "login throttled", "limit", limit, "address", addr, "retry_after", d.String())
	return &LimitedError{
		RetryAfter: d,
		err:        auth.Errorf(auth.ERATELIMITED, "Too many failed sign-in attempts. Try again in %s.", humanDuration(d)),
	}
}

func (s *Service) recordLockout(ctx context.Context, now time.Time, acctKey, addr string) {
	if s.audit == nil {
		return
	}
	ev := auth.AuditEvent{Time: now, Type: EventLoginThrottled, Actor: auth.ActorSystem, Count: 1,
		Details: map[string]string{"username": acctKey, "address": addr}}
	if err := s.audit.AppendAuditEvents(ctx, ev); err != nil {
		s.logger.WarnContext(ctx, "record login lockout", "error", err)
	}
}

func humanDuration(d time.Duration) string {
	if d < time.Minute {
		n := int(math.Ceil(d.Seconds()))
		if n <= 1 {
			return "1 second"
		}
		return strconv.Itoa(n) + " seconds"
	}
	m := int(math.Ceil(d.Minutes()))
	if m == 1 {
		return "1 minute"
	}
	return strconv.Itoa(m) + " minutes"
}

// invalidUsernameKey is the one throttle key shared by strings that
// cannot be usernames: junk input cannot grow the table with long keys,
// and no account can be locked through it. Its space and parentheses keep
// it apart from every username, and it is plain text, because lockout
// audit events name it and the stores refuse NUL and invalid UTF-8.
const invalidUsernameKey = "(invalid username)"

// accountKey is the throttle key of a username: its lower case, or
// invalidUsernameKey.
func accountKey(username string) string {
	if ValidateUsername(username) != nil {
		return invalidUsernameKey
	}
	return strings.ToLower(username)
}

// addressKey is the throttle key of a client address: the IP without port
// and zone; an IPv6 address counts as its /64, which one client usually
// holds whole.
func addressKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(addr)
		if err2 != nil {
			// Kept as text the stores accept: lockout audit events name
			// the address.
			if len(addr) > 64 {
				addr = addr[:64]
			}
			return "?" + strings.ToValidUTF8(strings.ReplaceAll(addr, "\x00", ""), "")
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
