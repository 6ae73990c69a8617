package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a
// browser session ends, every client that was issued a code in it and has
// a BackchannelLogoutURI is sent a logout token. The store queues the
// deliveries in the transaction that ends the session (auth.LogoutStore);
// the LogoutNotifier, on the node holding the store's lease, signs and
// POSTs the tokens, retrying with exponential backoff, and gives up after
// MaxAttempts with an audit event.

// typLogoutToken is the JWS typ of a logout token (Back-Channel Logout 2.4).
const typLogoutToken = "logout+jwt"

// EventBackchannelLogout is the member of a logout token's events claim.
const EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"

// LogoutLeaseName names the store lease (the webhook lease table) that
// makes one node at a time deliver logout tokens.
const LogoutLeaseName = "backchannel-logout"

// Defaults of LogoutNotifierConfig.
const (
	DefaultLogoutMaxAttempts = 8
	DefaultLogoutRetryBase   = 10 * time.Second
	DefaultLogoutRetryMax    = time.Hour
	// LogoutTokenTTL is a logout token's lifetime (exp - iat): it is
	// signed afresh at each attempt, so it need only outlive the request.
	LogoutTokenTTL = 2 * time.Minute

	logoutBatch       = 32
	logoutWorkers     = 8
	logoutAttemptTime = 5 * time.Second
)

// LogoutQueue is what the notifier needs of the store.
type LogoutQueue interface {
	auth.LogoutStore
	AcquireWebhookLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseWebhookLease(ctx context.Context, name, holder string) error
}

// LogoutNotifierConfig configures a LogoutNotifier. Store and Holder are
// required.
type LogoutNotifierConfig struct {
	Store LogoutQueue
	// Holder identifies this node in the lease; unique per process.
	Holder string
	// MaxAttempts is how many attempts a delivery gets before it is given
	// up (and audited); 0: DefaultLogoutMaxAttempts.
	MaxAttempts int
	// After the nth failed attempt, the next waits RetryBase·2^(n-1), at
	// most RetryMax. 0: the defaults.
	RetryBase, RetryMax time.Duration
	// AllowLoopback lets receivers on loopback addresses (http or https)
	// get logout tokens: --dev, for local development. Otherwise a
	// receiver must be an https URL of a public address.
	AllowLoopback bool
	// Client sends the tokens; nil for webhook.NewClient(false), or
	// webhook.NewLoopbackClient() with AllowLoopback: the same guard
	// against server-side request forgery as webhooks.
	Client       *http.Client
	PollInterval time.Duration // 0: one second
	LeaseTTL     time.Duration // 0: 30 seconds
}

// LogoutNotifier delivers the queued logout tokens. Its Run follows
// background.Runner.
type LogoutNotifier struct {
	s       *Server
	cfg     LogoutNotifierConfig
	store   LogoutQueue
	client  *http.Client
	log     *slog.Logger
	holding bool
	until   time.Time
}

// NewLogoutNotifier returns the notifier that delivers the logout tokens
// of s.
func (s *Server) NewLogoutNotifier(cfg LogoutNotifierConfig) (*LogoutNotifier, error) {
	if cfg.Store == nil || cfg.Holder == "" {
		return nil, errors.New("oauth: LogoutNotifierConfig.Store and Holder are required")
	}
	if cfg.MaxAttempts < 0 || cfg.RetryBase < 0 || cfg.RetryMax < 0 {
		return nil, errors.New("oauth: negative back-channel logout retry settings")
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultLogoutMaxAttempts
	}
	setDefault(&cfg.RetryBase, DefaultLogoutRetryBase)
	setDefault(&cfg.RetryMax, DefaultLogoutRetryMax)
	setDefault(&cfg.PollInterval, time.Second)
	setDefault(&cfg.LeaseTTL, 30*time.Second)
	if cfg.LeaseTTL <= 2*cfg.PollInterval+logoutAttemptTime {
		return nil, errors.New("oauth: the back-channel logout lease must outlive two polls and an attempt")
	}
	n := &LogoutNotifier{s: s, cfg: cfg, store: cfg.Store, client: cfg.Client, log: s.logger}
	if n.client == nil {
		if cfg.AllowLoopback {
			n.client = webhook.NewLoopbackClient()
		} else {
			n.client = webhook.NewClient(false)
		}
	}
	return n, nil
}

// Run delivers every PollInterval until ctx is done, then gives up the
// lease and returns nil. Failures are logged and retried at the next poll.
func (n *LogoutNotifier) Run(ctx context.Context) error {
	t := time.NewTicker(n.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := n.Tick(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("back-channel logout delivery failed; retrying at the next poll", "err", err)
		}
		select {
		case <-ctx.Done():
			if n.holding {
				release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := n.store.ReleaseWebhookLease(release, LogoutLeaseName, n.cfg.Holder); err != nil {
					n.log.Warn("giving up the back-channel logout lease failed", "err", err)
				}
				cancel()
			}
			return nil
		case <-t.C:
		}
	}
}

// Tick takes or renews the lease and, holding it, attempts one batch of
// due deliveries, a few at once, and waits for them.
func (n *LogoutNotifier) Tick(ctx context.Context) error {
	now := n.s.now()
	if !n.holding || n.until.Sub(now) < 2*n.cfg.LeaseTTL/3 {
		ok, err := n.store.AcquireWebhookLease(ctx, LogoutLeaseName, n.cfg.Holder, now, n.cfg.LeaseTTL)
		if err != nil {
			n.holding = false
			return fmt.Errorf("oauth: back-channel logout lease: %w", err)
		}
		n.holding, n.until = ok, now.Add(n.cfg.LeaseTTL)
	}
	if !n.holding {
		return nil
	}
	due, err := n.store.DueLogoutDeliveries(ctx, now, logoutBatch)
	if err != nil {
		return fmt.Errorf("oauth: due logout deliveries: %w", err)
	}
	sem := make(chan struct{}, logoutWorkers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, d := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := n.deliver(ctx, d); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliver makes one attempt of d and records its outcome.
func (n *LogoutNotifier) deliver(ctx context.Context, d *auth.LogoutDelivery) error {
	c, err := n.s.clients.Lookup(ctx, d.ClientID)
	switch {
	case auth.ErrorCode(err) == auth.ENOTFOUND:
		return n.finish(ctx, d, "the client was deleted") // nobody left to tell
	case err != nil:
		return err
	case c.BackchannelLogoutURI == "":
		return n.finish(ctx, d, "") // the client no longer wants them
	}
	if err := n.checkReceiver(c.BackchannelLogoutURI); err != nil {
		// Never sent: an attempt would only repeat this.
		d.Attempts++
		d.LastError = err.Error()
		return n.giveUp(ctx, d, "receiver_not_allowed")
	}
	read := d.Attempts
	status, excerpt, err := n.post(ctx, c, d)
	if err != nil && ctx.Err() != nil {
		return nil // stopped: the delivery stays due
	}
	if err == nil && status >= 200 && status < 300 {
		return n.finish(ctx, d, "")
	}
	d.Attempts++
	if err != nil {
		d.LastError = auth.TruncateUTF8(err.Error(), 256)
	} else {
		d.LastError = auth.TruncateUTF8(strconv.Itoa(status)+" "+excerpt, 256)
	}
	if d.Attempts >= n.cfg.MaxAttempts {
		return n.giveUp(ctx, d, "gave_up")
	}
	d.NextAttemptAt = n.s.now().Add(n.retryDelay(d.Attempts))
	if _, err := n.store.RetryLogoutDelivery(ctx, d, read); err != nil {
		return fmt.Errorf("oauth: record a logout attempt: %w", err)
	}
	return nil
}

// retryDelay is the wait after the attempts-th failed attempt.
func (n *LogoutNotifier) retryDelay(attempts int) time.Duration {
	d := n.cfg.RetryBase
	for i := 1; i < attempts && d < n.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, n.cfg.RetryMax)
}

// finish deletes a delivery that succeeded or is moot.
func (n *LogoutNotifier) finish(ctx context.Context, d *auth.LogoutDelivery, why string) error {
	if why != "" {
		n.log.Info("back-channel logout dropped", "client_id", d.ClientID, "reason", why)
	}
	if _, err := n.store.FinishLogoutDelivery(ctx, d.ID, d.Attempts); err != nil {
		return fmt.Errorf("oauth: finish a logout delivery: %w", err)
	}
	return nil
}

// giveUp deletes a delivery that failed d.Attempts times (d.Attempts-1 as
// stored) and audits it.
func (n *LogoutNotifier) giveUp(ctx context.Context, d *auth.LogoutDelivery, reason string) error {
	now := n.s.now()
	ev := auth.AuditEvent{Time: now, Type: auth.EventBackchannelLogoutFailed, Actor: auth.ActorSystem, KeyID: d.ClientID,
		Reason: reason, Count: 1, Details: map[string]string{
			"client_id": d.ClientID, "user_id": d.UserID, "sid": d.SID,
			"attempts": strconv.Itoa(d.Attempts), "last_error": d.LastError,
		}}
	n.log.Warn("back-channel logout given up", "client_id", d.ClientID, "attempts", d.Attempts, "err", d.LastError)
	if _, err := n.store.FinishLogoutDelivery(ctx, d.ID, d.Attempts-1, ev); err != nil {
		return fmt.Errorf("oauth: give up a logout delivery: %w", err)
	}
	return nil
}

// checkReceiver applies the registry's rule (client.CheckBackchannelLogoutURI)
// with AllowLoopback, the setting the registry was given too: a receiver
// registered under another setting (a client registered in --dev, a
// store moved between servers) is refused here, given up and audited as
// receiver_not_allowed. The client's dialer then refuses internal
// addresses whatever the name resolves to (webhook.NewClient).
func (n *LogoutNotifier) checkReceiver(raw string) error {
	if err := client.CheckBackchannelLogoutURI(raw, n.cfg.AllowLoopback); err != nil {
		return fmt.Errorf("the back-channel logout URI is not allowed: %w", err)
	}
	return nil
}

// logoutTokenClaims are the claims of a logout token (Back-Channel Logout
// 2.4): never a nonce.
type logoutTokenClaims struct {
	Issuer    string              `json:"iss"`
	Audience  string              `json:"aud"`
	IssuedAt  int64               `json:"iat"`
	Expiry    int64               `json:"exp"`
	ID        string              `json:"jti"`
	Subject   string              `json:"sub,omitempty"`
	SessionID string              `json:"sid,omitempty"`
	Events    map[string]struct{} `json:"events"`
}

// logoutToken signs a logout token for d, with a fresh jti.
func (s *Server) logoutToken(d *auth.LogoutDelivery, now time.Time) (string, error) {
	jti, err := newJTI()
	if err != nil {
		return "", err
	}
	return s.keys.Sign(typLogoutToken, logoutTokenClaims{
		Issuer: s.issuer, Audience: d.ClientID, IssuedAt: now.Unix(), Expiry: now.Add(LogoutTokenTTL).Unix(),
		ID: jti, Subject: d.UserID, SessionID: d.SID,
		Events: map[string]struct{}{EventBackchannelLogout: {}},
	})
}

// post sends one logout token (Back-Channel Logout 2.5) and returns the
// answer's status and, for a failure, an excerpt of its body.
func (n *LogoutNotifier) post(ctx context.Context, c *auth.Client, d *auth.LogoutDelivery) (int, string, error) {
	tok, err := n.s.logoutToken(d, n.s.now())
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, logoutAttemptTime)
	defer cancel()
	body := url.Values{"logout_token": {tok}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Gatehouse-Backchannel-Logout/1")
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	excerpt := strings.ReplaceAll(strings.ToValidUTF8(string(answer[:min(len(answer), 200)]), ""), "\x00", "")
	return resp.StatusCode, strings.TrimSpace(excerpt), nil
}

// recordSessionClient notes that the session's user is being issued a
// code for the client, so that the client is told when the session ends.
func (s *Server) recordSessionClient(ctx context.Context, sess *browserSession, clientID string) error {
	err := s.store.RecordSessionClient(ctx, &auth.SessionClient{
		SessionHash: sess.Hash, SID: sid(sess.Hash), ClientID: clientID, UserID: sess.user.ID,
		CreatedAt: s.now(), ExpiresAt: sess.ExpiresAt,
	})
	if err != nil {
		return fmt.Errorf("oauth: record session client: %w", err)
	}
	return nil
}
