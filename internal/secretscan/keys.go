package secretscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// DefaultPublicKeysURL is where GitHub publishes the keys that sign its
// secret scanning reports.
const DefaultPublicKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// Defaults of KeysConfig.
const (
	DefaultKeysTTL        = time.Hour
	DefaultMinRefetch     = 5 * time.Minute
	DefaultMaxStale       = 24 * time.Hour
	DefaultFetchTimeout   = 10 * time.Second
	MaxPublicKeysDocBytes = 64 << 10
)

// KeysConfig configures a PublicKeys.
type KeysConfig struct {
	// URL serves the key document, GitHub's shape:
	// {"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}.
	URL string
	// Client fetches it; default: an http.Client with FetchTimeout.
	Client *http.Client
	// TTL is how long a fetched document is used before it is fetched
	// again. Default DefaultKeysTTL.
	TTL time.Duration
	// MinRefetch is the shortest time between two fetches, whatever
	// happens: an unknown key identifier makes us fetch again (GitHub may
	// have added a key), and without this bound anyone could make this
	// node hammer the URL (and spend its GitHub rate limit) by sending
	// made-up identifiers. Default DefaultMinRefetch.
	MinRefetch time.Duration
	// MaxStale is how long past TTL a document is still used while
	// fetching it fails, so that a GitHub outage does not lose reports;
	// past it, reports are answered 503 (GitHub retries). Default
	// DefaultMaxStale.
	MaxStale time.Duration
	// FetchTimeout bounds one fetch. Default DefaultFetchTimeout.
	FetchTimeout time.Duration
	Now          auth.Now     // default auth.SystemNow
	Logger       *slog.Logger // default: discard
}

// PublicKeys holds the report signers' public keys, fetched from a URL and
// cached. It is safe for concurrent use.
type PublicKeys struct {
	cfg KeysConfig
	// fetching holds one token: one fetch at a time, which waiters can
	// give up on with their context.
	fetching chan struct{}

	mu          sync.Mutex
	keys        map[string]*ecdsa.PublicKey // nil before the first successful fetch
	fetchedAt   time.Time
	lastAttempt time.Time
}

// NewPublicKeys checks cfg and fills in its defaults. It fetches nothing:
// the first report does.
func NewPublicKeys(cfg KeysConfig) (*PublicKeys, error) {
	if cfg.URL == "" {
		return nil, errors.New("secretscan: KeysConfig.URL is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultKeysTTL
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = DefaultMinRefetch
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.FetchTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = auth.SystemNow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &PublicKeys{cfg: cfg, fetching: make(chan struct{}, 1)}
	p.fetching <- struct{}{}
	return p, nil
}

// Key returns the public key with that identifier. It fetches the document
// when the cached one is older than TTL, or does not hold id, unless the
// last fetch was less than MinRefetch ago.
//
// Errors: auth.EUNAUTHORIZED when no usable document holds id;
// auth.EUNAVAILABLE when there is no usable document at all (never fetched,
// or stale past MaxStale, and fetching fails), when the fetch made for an
// unknown id fails, or when ctx ends while another request fetches.
func (p *PublicKeys) Key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	if k, ok := p.fresh(id); ok {
		return k, nil
	}
	// Take the fetch token, then look again: whoever held it may have
	// fetched what we need.
	select {
	case <-p.fetching:
	case <-ctx.Done():
		return nil, auth.Errorf(auth.EUNAVAILABLE, "The public keys that sign reports are being fetched; retry later.")
	}
	defer func() { p.fetching <- struct{}{} }()
	if k, ok := p.fresh(id); ok {
		return k, nil
	}
	now := p.cfg.Now()
	p.mu.Lock()
	may := p.lastAttempt.IsZero() || now.Sub(p.lastAttempt) >= p.cfg.MinRefetch
	if may {
		p.lastAttempt = now
	}
	p.mu.Unlock()
	var fetchErr error
	if may {
		// Not cancelled with the request: a caller that hangs up must not
		// spend the fetch that MinRefetch allows (FetchTimeout bounds it).
		var keys map[string]*ecdsa.PublicKey
		keys, fetchErr = p.fetch(context.WithoutCancel(ctx))
		if fetchErr != nil {
			p.cfg.Logger.WarnContext(ctx, "secretscan: fetching the public keys failed", "url", p.cfg.URL, "err", fetchErr)
		} else {
			p.mu.Lock()
			p.keys, p.fetchedAt = keys, now
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys == nil || now.Sub(p.fetchedAt) >= p.cfg.TTL+p.cfg.MaxStale {
		return nil, errNoKeys
	}
	if k := p.keys[id]; k != nil {
		return k, nil
	}
	if fetchErr != nil || !may {
		// The key may be one GitHub just added, and the document that
		// holds it could not be fetched, or not yet again (MinRefetch,
		// which anyone may spend with a made-up id): say "retry", not
		// "forged".
		return nil, errNoKeys
	}
	return nil, errUnknownKey
}

var errNoKeys = auth.Errorf(auth.EUNAVAILABLE, "The public keys that sign reports cannot be fetched now; retry later.")

var errUnknownKey = auth.Errorf(auth.EUNAUTHORIZED, "The report is signed by an unknown key.")

// fresh returns the key if the cached document is within TTL and holds it.
func (p *PublicKeys) fresh(id string) (*ecdsa.PublicKey, bool) {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys == nil || now.Sub(p.fetchedAt) >= p.cfg.TTL {
		return nil, false
	}
	k := p.keys[id]
	return k, k != nil
}

// keysDocument is the shape of GitHub's public keys document.
type keysDocument struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// fetch reads and parses the document, bounded in time and size.
func (p *PublicKeys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "gatehouse-secret-scanning")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPublicKeysDocBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxPublicKeysDocBytes {
		return nil, fmt.Errorf("the document is larger than %d bytes", MaxPublicKeysDocBytes)
	}
	return ParsePublicKeys(body)
}

// ParsePublicKeys parses a public keys document. Keys that are not ECDSA
// P-256 public keys in PEM are left out; a document without any usable key
// is an error.
func ParsePublicKeys(body []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc keysDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("the document is not the expected JSON: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, k := range doc.PublicKeys {
		if k.KeyIdentifier == "" {
			continue
		}
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil || block.Type != "PUBLIC KEY" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			continue
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			continue
		}
		keys[k.KeyIdentifier] = ec
	}
	if len(keys) == 0 {
		return nil, errors.New("the document holds no ECDSA P-256 public key")
	}
	return keys, nil
}
