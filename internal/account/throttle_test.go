package account

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The attacks of issue 9 on the login throttle, and the rules that answer
// them (Authenticate's doc comment): a guesser at one address, a guesser
// at many, and the account's owner, with and without a device cookie.

const (
	attacker = "203.0.113.66"
	victim   = "198.51.100.7"
)

// wantLimited checks an ERATELIMITED answer and returns its wait.
func wantLimited(t *testing.T, what string, err error) time.Duration {
	t.Helper()
	d, ok := RetryAfter(err)
	if auth.ErrorCode(err) != auth.ERATELIMITED || !ok {
		t.Fatalf("%s: %v, want ERATELIMITED", what, err)
	}
	return d
}

func wantFailure(t *testing.T, what string, err error) {
	t.Helper()
	if auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("%s: %v, want EUNAUTHORIZED", what, err)
	}
}

// deviceOf is the device cookie the user's browser gets at a sign-in a
// millisecond from now (after the account was made or its password
// changed: a cookie of the same instant is not trusted), as the server
// that signs them would present it.
func (f *fixture) deviceOf(u *auth.User, id string) *Device {
	f.clock.Add(time.Millisecond)
	return &Device{ID: id, UserID: u.ID, IssuedAt: f.clock.Now().Truncate(time.Microsecond)}
}

// The attacker's own back-off: five failures free, then waits of 1 s,
// 2 s, 4 s, ... capped at BackoffMax; attempts refused meanwhile neither
// count nor extend the wait.
func TestAnAddressBacksOffExponentiallyUpToTheCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.create(t, "ann", "correct horse")
	for i := range DefaultSourceFailures {
		_, err := f.svc.Authenticate(ctx, "ann", "wrong", attacker, nil)
		wantFailure(t, "free failure "+string(rune('1'+i)), err)
	}
	want := DefaultBackoffBase
	for range 13 {
		_, err := f.svc.Authenticate(ctx, "ann", "wrong", attacker, nil)
		if d := wantLimited(t, "during the back-off", err); d != want {
			t.Fatalf("back-off %v, want %v", d, want)
		}
		// Half-way, the wait has halved: the refusal did not restart it.
		if want >= 2*time.Second {
			f.clock.Add(want / 2)
			_, err := f.svc.Authenticate(ctx, "ann", "correct horse", attacker, nil)
			if d := wantLimited(t, "half-way through the back-off", err); d != want-want/2 {
				t.Fatalf("half-way: wait %v, want %v", d, want-want/2)
			}
			f.clock.Add(want - want/2)
		} else {
			f.clock.Add(want)
		}
		_, err = f.svc.Authenticate(ctx, "ann", "wrong", attacker, nil)
		wantFailure(t, "after the back-off", err)
		want = min(2*want, DefaultBackoffMax)
	}
	if want != DefaultBackoffMax {
		t.Fatalf("the back-off reached only %v", want)
	}
}

// A success clears its address's back-off; and a day without failures
// forgets it.
func TestBackOffEndsWithASuccessOrAfterADay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.create(t, "ann", "correct horse")
	fail := func(n int) {
		t.Helper()
		for range n {
			_, err := f.svc.Authenticate(ctx, "ann", "wrong", victim, nil)
			wantFailure(t, "failure", err)
		}
	}
	fail(DefaultSourceFailures)
	f.clock.Add(DefaultBackoffBase)
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, nil); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	fail(DefaultSourceFailures) // five free again
	f.clock.Add(backoffMemory)
	fail(DefaultSourceFailures) // and again a day later
}

// Issue 9's attack: a guesser at one address fails for ann as fast as
// the throttle lets him, for three hours. Ann at another address, without a
// device cookie, is never refused: one address's back-off lets through
// fewer failures than the per-username limit, which it never reaches.
func TestAGuesserAtOneAddressNeverLocksTheOwnerOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.create(t, "ann", "correct horse")
	start := f.clock.Now()
	failures := 0
	for f.clock.Now().Sub(start) < 3*time.Hour {
		_, err := f.svc.Authenticate(ctx, "ann", "wrong", attacker, nil)
		if d, ok := RetryAfter(err); ok {
			f.clock.Add(d)
			continue
		}
		wantFailure(t, "the guesser's attempt", err)
		failures++
		if f.svc.accounts.full(ctx, accountKey("ann"), f.clock.Now()) {
			t.Fatalf("after %d failures from one address in %v, the username is refused everywhere", failures, f.clock.Now().Sub(start))
		}
		// At the moment the old throttle locked ann out, and at the
		// guesser's fastest (the end of the free failures and of the
		// short waits), ann signs in from home.
		if failures == DefaultSourceFailures || failures == DefaultSourceFailures+10 {
			if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, nil); err != nil {
				t.Fatalf("ann, after %d failures of the guesser: %v", failures, err)
			}
		}
	}
	// 5 free, 10 in the first 17 minutes, then one per 15 minutes.
	if failures > 25 {
		t.Fatalf("%d failures from one address in three hours", failures)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, nil); err != nil {
		t.Fatalf("ann, after three hours of guessing: %v", err)
	}
}

// Guessers at many addresses do reach the per-username limit: clients
// without ann's device cookie are then refused, whether the name exists
// or not; ann's browser, with the cookie from her last sign-in, gets in
// at once with the right password.
func TestADistributedAttackLocksOutOnlyClientsWithoutTheDeviceCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.AccountFailures = 5 })
	ctx := context.Background()
	ann := f.create(t, "ann", "correct horse")
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, nil); err != nil {
		t.Fatal(err)
	}
	dev := f.deviceOf(ann, "ann-laptop")
	f.clock.Add(time.Hour)
	for i := range 5 {
		for _, name := range []string{"ann", "nobody"} {
			_, err := f.svc.Authenticate(ctx, name, "wrong", "203.0.113."+string(rune('1'+i)), nil)
			wantFailure(t, "distributed guess", err)
		}
	}
	for _, name := range []string{"ann", "nobody"} {
		_, err := f.svc.Authenticate(ctx, name, "correct horse", "192.0.2.200", nil)
		wantLimited(t, name+" from a new address without a device cookie", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, dev); err != nil {
		t.Fatalf("ann with her device cookie: %v", err)
	}
	// Also from one of the guessers' addresses (a shared NAT).
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "203.0.113.1", dev); err != nil {
		t.Fatalf("ann with her device cookie behind the guessers' address: %v", err)
	}
	events, _, _ := f.db.ListAuditEvents(ctx, auth.AuditFilter{Type: EventLoginThrottled})
	if len(events) != 2 {
		t.Fatalf("lockout events %+v, want one per username", events)
	}
}

// The first attack again, with a device cookie: five wrong passwords for
// ann at one address do not delay ann's browser with its cookie at all.
func TestTheOwnersDeviceSignsInAtOnceAfterAnotherAddressFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ann := f.create(t, "ann", "correct horse")
	dev := f.deviceOf(ann, "ann-laptop")
	for range DefaultSourceFailures + 1 {
		f.svc.Authenticate(ctx, "ann", "wrong", attacker, nil)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", attacker, nil); auth.ErrorCode(err) != auth.ERATELIMITED {
		t.Fatalf("the guesser is not backing off: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, dev); err != nil {
		t.Fatalf("ann with her device cookie: %v", err)
	}
}

// A device cookie has a budget of its own: once its holder has failed
// DeviceFailures times, attempts with it are refused (the device is
// locked out; a stolen cookie buys few guesses), while other clients keep
// their own limits. The budget drains like a leaky bucket, and a success
// restores it.
func TestADeviceCookieHasItsOwnFailureBudget(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ann := f.create(t, "ann", "correct horse")
	dev := f.deviceOf(ann, "stolen")
	for range DefaultDeviceFailures {
		_, err := f.svc.Authenticate(ctx, "ann", "wrong", attacker, dev)
		wantFailure(t, "guess with the device cookie", err)
	}
	_, err := f.svc.Authenticate(ctx, "ann", "correct horse", attacker, dev)
	d := wantLimited(t, "the locked-out device", err)
	if want := DefaultWindow / DefaultDeviceFailures; d != want {
		t.Fatalf("device wait %v, want %v", d, want)
	}
	// The device's failures are its own: the address and the username
	// have none.
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", attacker, nil); err != nil {
		t.Fatalf("without the device cookie: %v", err)
	}
	f.clock.Add(d)
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", victim, dev); err != nil {
		t.Fatalf("after the device's wait: %v", err)
	}
	for range DefaultDeviceFailures {
		_, err := f.svc.Authenticate(ctx, "ann", "wrong", victim, dev)
		wantFailure(t, "after a success, the whole budget", err)
	}
}

// A device cookie exempts only the account it was issued to, and only
// until the password changes: one for another user, for a name that does
// not exist, or older than a password reset is no device cookie at all.
func TestADeviceCookieOfAnotherAccountGivesNoExemption(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.AccountFailures = 3 })
	ctx := context.Background()
	ann := f.create(t, "ann", "correct horse")
	bob := f.create(t, "bob", "battery staple")
	bobs := f.deviceOf(bob, "bob-phone")
	old := f.deviceOf(ann, "ann-old")
	f.clock.Add(time.Minute)
	if err := f.svc.ResetPassword(ctx, "admin", ann.ID, "correct horse"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for _, name := range []string{"ann", "nobody"} {
			_, err := f.svc.Authenticate(ctx, name, "wrong", "203.0.113."+string(rune('1'+i)), nil)
			wantFailure(t, "distributed guess", err)
		}
	}
	for name, tc := range map[string]struct {
		username string
		dev      *Device
	}{
		"another user's":                 {"ann", bobs},
		"for a name that does not exist": {"nobody", bobs},
		"issued before a password reset": {"ann", old},
	} {
		_, err := f.svc.Authenticate(ctx, tc.username, "correct horse", victim, tc.dev)
		wantLimited(t, name+" device cookie", err)
	}
	// Bob's own cookie still works for bob.
	if _, err := f.svc.Authenticate(ctx, "bob", "battery staple", attacker, bobs); err != nil {
		t.Fatalf("bob with his cookie: %v", err)
	}
}

// A device cookie issued a millisecond before a password reset, in the
// same second, exempts nobody, nor does one issued at the reset's instant
// (the two cannot be ordered); one issued a millisecond after it does.
func TestADeviceCookieIssuedJustBeforeAResetGivesNoExemption(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.AccountFailures = 3 })
	ctx := context.Background()
	ann := f.create(t, "ann", "correct horse")
	f.clock.Add(time.Minute + 500*time.Millisecond)
	reset := f.clock.Now()
	device := func(id string, at time.Time) *Device { return &Device{ID: id, UserID: ann.ID, IssuedAt: at} }
	before := device("ann-before", reset.Add(-time.Millisecond))
	same := device("ann-same", reset)
	if !before.IssuedAt.Truncate(time.Second).Equal(reset.Truncate(time.Second)) {
		t.Fatalf("the cookie (%v) and the reset (%v) are in different seconds", before.IssuedAt, reset)
	}
	if err := f.svc.ResetPassword(ctx, "admin", ann.ID, "battery staple"); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Millisecond)
	after := device("ann-after", f.clock.Now())
	for i := range 3 {
		_, err := f.svc.Authenticate(ctx, "ann", "wrong", "203.0.113."+string(rune('1'+i)), nil)
		wantFailure(t, "distributed guess", err)
	}
	_, err := f.svc.Authenticate(ctx, "ann", "battery staple", victim, before)
	wantLimited(t, "a cookie issued 1 ms before the reset", err)
	_, err = f.svc.Authenticate(ctx, "ann", "battery staple", victim, same)
	wantLimited(t, "a cookie issued at the reset's instant", err)
	if _, err := f.svc.Authenticate(ctx, "ann", "battery staple", victim, after); err != nil {
		t.Fatalf("a cookie issued 1 ms after the reset: %v", err)
	}
}

// The throttle answers the same for names that exist and names that do
// not, under each of its limits.
func TestThrottleSameForUnknownUsers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		addr func(i int) string
	}{
		{"one address backs off", func(int) string { return attacker }},
		{"many addresses reach the username's limit", func(i int) string { return "192.0.2." + string(rune('1'+i)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *Config) { c.AccountFailures = 5 })
			ctx := context.Background()
			f.create(t, "ann", "correct horse")
			answers := func(name string) []string {
				var out []string
				for i := range DefaultSourceFailures + 2 {
					_, err := f.svc.Authenticate(ctx, name, "wrong", tc.addr(i), nil)
					out = append(out, auth.ErrorCode(err)+": "+auth.ErrorMessage(err))
				}
				return out
			}
			known, unknown := answers("ann"), answers("nobody")
			if strings.Join(known, "\n") != strings.Join(unknown, "\n") {
				t.Fatalf("known user:\n%s\nunknown user:\n%s", strings.Join(known, "\n"), strings.Join(unknown, "\n"))
			}
			if !strings.HasPrefix(known[len(known)-1], auth.ERATELIMITED) {
				t.Fatalf("never throttled: %v", known)
			}
		})
	}
}

func TestThrottlePerAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.AddressFailures = 3 })
	ctx := context.Background()
	ann := f.create(t, "ann", "correct horse")
	for i, name := range []string{"u1", "u2", "u3"} {
		if _, err := f.svc.Authenticate(ctx, name, "wrong", "203.0.113.9:5555", nil); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "203.0.113.9:6666", nil); auth.ErrorCode(err) != auth.ERATELIMITED {
		t.Fatalf("same address, other port: %v", err)
	}
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "203.0.113.10", nil); err != nil {
		t.Fatalf("other address: %v", err)
	}
	// Ann's device cookie is not held by the address's failures.
	if _, err := f.svc.Authenticate(ctx, "ann", "correct horse", "203.0.113.9", f.deviceOf(ann, "d")); err != nil {
		t.Fatalf("same address with a device cookie: %v", err)
	}
	// An IPv6 client is one /64.
	f2 := newFixture(t, func(c *Config) { c.AddressFailures = 1 })
	f2.svc.Authenticate(ctx, "x", "wrong", "[2001:db8:1:2::1]:1", nil)
	if _, err := f2.svc.Authenticate(ctx, "y", "wrong", "2001:db8:1:2::ffff", nil); auth.ErrorCode(err) != auth.ERATELIMITED {
		t.Fatalf("same /64: %v", err)
	}
}

// Parallel guesses are counted before their passwords are checked, so no
// more get checked than a limit allows: from one address, the free
// failures; from many, the username's limit.
func TestConcurrentGuessesCannotPassTheLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		addr  func(i int) string
		limit int
	}{
		{"one address", func(int) string { return attacker }, DefaultSourceFailures},
		{"many addresses", func(i int) string { return "192.0.2." + string(rune('a'+i)) }, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, func(c *Config) { c.AccountFailures = 7 })
			ctx := context.Background()
			f.create(t, "ann", "correct horse")
			errs := make(chan error, 20)
			for i := range 20 {
				go func() {
					_, err := f.svc.Authenticate(ctx, "ann", "wrong", tc.addr(i), nil)
					errs <- err
				}()
			}
			unauthorized := 0
			for range 20 {
				if auth.ErrorCode(<-errs) == auth.EUNAUTHORIZED {
					unauthorized++
				}
			}
			if unauthorized != tc.limit {
				t.Fatalf("%d guesses checked, limit %d", unauthorized, tc.limit)
			}
		})
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for name, r := range map[string]rule{
		"bucket":  newBucket(5, 15*time.Minute),
		"backoff": backoff{free: 5, base: time.Second, ceiling: time.Minute, memory: time.Hour},
	} {
		th := newThrottle(r, 100)
		for i := range 10_000 {
			th.take(strings.Repeat("k", i%50)+string(rune(i)), now)
		}
		if n := th.size(); n > 100 {
			t.Fatalf("%s: %d entries tracked, cap 100", name, n)
		}
		// Forgotten entries are swept first.
		th2 := newThrottle(r, 2)
		th2.take("a", now)
		th2.take("b", now)
		th2.take("c", now.Add(2*time.Hour))
		if th2.size() != 1 {
			t.Fatalf("%s: forgotten entries kept: %d", name, th2.size())
		}
	}
}

// A refund restores the back-off as it was: an attempt that a later limit
// refused, or that failed on our side, does not push the next one back.
func TestBackoffRefundRestoresTheWait(t *testing.T) {
	t.Parallel()
	b := backoff{free: 1, base: time.Second, ceiling: time.Minute, memory: time.Hour}
	th := newThrottle(b, 10)
	t0 := time.Now()
	th.take("k", t0) // free
	if _, ok := th.take("k", t0.Add(time.Second)); !ok {
		t.Fatal("refused after the wait")
	}
	th.refund("k", t0.Add(time.Second))
	if d, ok := th.take("k", t0.Add(time.Second)); !ok {
		t.Fatalf("the refunded attempt still counts: wait %v", d)
	}
	if b.delay(0) != 0 || b.delay(1) != time.Second || b.delay(3) != 4*time.Second || b.delay(100) != time.Minute {
		t.Fatal("delays are not 0, 1 s, 2 s, 4 s, ... up to the ceiling")
	}
}
