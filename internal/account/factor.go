package account

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// FactorConfig configures a FactorLimiter. Zero values pick the defaults.
type FactorConfig struct {
	// Failures wrong codes per Window are allowed for one account, and
	// for one client address whatever the account.
	Failures   int           // default 10
	Window     time.Duration // default 15 minutes
	MaxTracked int           // keys tracked by each limit on this node; default 100000
	// Shared, when set, keeps both limits in the store every node shares
	// (the node's ratelimit.Redis, scoped), as Config.Shared does for
	// failed sign-ins; while it fails, each node applies its share.
	Shared SharedLimiter
	Now    auth.Now     // default auth.SystemNow
	Logger *slog.Logger // default: discard
}

// Defaults of FactorConfig.
const (
	DefaultFactorFailures = 10
	DefaultFactorWindow   = 15 * time.Minute
)

// FactorLimiter throttles wrong second-factor codes (one-time codes,
// recovery codes) with the buckets of the failed-login throttle: per
// account and per client address, shared by the nodes when Shared is set.
// A six-digit code has a million values and three are accepted at a time
// (±1 step), so without it a guesser would get in after some 300,000
// tries; with the defaults that takes years.
//
// It is safe for concurrent use.
type FactorLimiter struct {
	accounts, addresses failureLimit
	now                 auth.Now
	logger              *slog.Logger
}

// NewFactorLimiter checks cfg and returns a FactorLimiter.
func NewFactorLimiter(cfg FactorConfig) (*FactorLimiter, error) {
	if cfg.Failures < 0 || cfg.Window < 0 || cfg.MaxTracked < 0 {
		return nil, errors.New("account: negative second-factor throttling setting")
	}
	setDefault(&cfg.Failures, DefaultFactorFailures)
	setDefault(&cfg.Window, DefaultFactorWindow)
	setDefault(&cfg.MaxTracked, DefaultMaxTracked)
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &FactorLimiter{now: cfg.Now, logger: cfg.Logger,
		accounts:  local{newThrottle(newBucket(cfg.Failures, cfg.Window), cfg.MaxTracked)},
		addresses: local{newThrottle(newBucket(cfg.Failures, cfg.Window), cfg.MaxTracked)},
	}
	if cfg.Shared != nil {
		// Prefixes apart from the sign-in limits' ("account:",
		// "address:"): a wrong code and a wrong password draw on
		// budgets of their own.
		l.accounts = newSharedBucket(cfg.Shared, "factor-account:", cfg.Failures, cfg.Window, cfg.MaxTracked)
		l.addresses = newSharedBucket(cfg.Shared, "factor-address:", cfg.Failures, cfg.Window, cfg.MaxTracked)
	}
	return l, nil
}

// Take counts an attempt at a code for the user userID from the client
// address addr (an IP address, with or without a port), before the code
// is checked, so that parallel guesses cannot all slip past the limit.
// It returns a *LimitedError (ERATELIMITED, with RetryAfter) when either
// limit refuses it; then nothing is counted.
func (l *FactorLimiter) Take(ctx context.Context, userID, addr string) error {
	now := l.now()
	limits := l.limits(userID, addr)
	for i, lim := range limits {
		if d, ok := lim.t.take(ctx, lim.key, now); !ok {
			refund(ctx, limits[:i], now)
			l.logger.InfoContext(ctx, "second factor throttled", "limit", lim.name, "user_id", userID, "address", addressKey(addr), "retry_after", d.String())
			return &LimitedError{
				RetryAfter: d,
				err:        auth.Errorf(auth.ERATELIMITED, "Too many wrong codes. Try again in %s.", humanDuration(d)),
			}
		}
	}
	return nil
}

// Refund gives back the attempt Take counted: the code was right, or was
// not checked through no fault of the client.
func (l *FactorLimiter) Refund(ctx context.Context, userID, addr string) {
	refund(ctx, l.limits(userID, addr), l.now())
}

func (l *FactorLimiter) limits(userID, addr string) []limit {
	if userID == "" {
		// No account named yet (a passkey no account holds): the address
		// alone, never one bucket shared by every such attempt.
		return []limit{{l.addresses, addressKey(addr), "address"}}
	}
	return []limit{{l.accounts, userID, "account"}, {l.addresses, addressKey(addr), "address"}}
}
