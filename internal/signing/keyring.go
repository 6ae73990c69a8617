package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Defaults of Options.
const (
	DefaultRotationPeriod = 30 * 24 * time.Hour
	DefaultMaxTokenTTL    = 24 * time.Hour
	DefaultLeeway         = 30 * time.Second
	DefaultReloadInterval = 30 * time.Second
)

// JWKSMaxAge is how long relying parties may cache the JWKS, and
// JWKSCacheControl the Cache-Control header that says so. A next key is
// published a whole rotation period before it signs, and Rotate refuses to
// promote one published for less than this plus the reload interval, so a
// cached JWKS always holds the key of any token a client can receive.
const (
	JWKSMaxAge       = 5 * time.Minute
	JWKSCacheControl = "public, max-age=300"
)

// Key statuses in KeyInfo.
const (
	StatusCurrent = "current" // signs now
	StatusNext    = "next"    // published, signs later
	StatusRetired = "retired" // no longer signs; published until it expires
)

// Options configure a Keyring. Zero values take the defaults.
type Options struct {
	Algorithm      string        // ES256 (default), RS256 or EdDSA; used for keys created from now on
	RSABits        int           // 2048 (default), 3072 or 4096
	RotationPeriod time.Duration // how long a key signs; default 30 days
	MaxTokenTTL    time.Duration // longest lifetime of any token signed; a retired key is kept this long (+Leeway +ReloadInterval); default 24h
	Leeway         time.Duration // clock skew allowance; default 30s
	ReloadInterval time.Duration // how often the store is read again, so nodes see each other's rotations; default 30s
	Now            auth.Now      // default auth.SystemNow
	Logger         *slog.Logger  // default slog.Default()
	// Changed, if set, makes Run reload at once when it receives: the
	// node's change feed (a changes.Kick subscribed to
	// auth.ChangeSigningKey) sends on it when any node creates, retires or
	// deletes a key, so other nodes' rotations apply within a second
	// rather than a ReloadInterval; while the feed is lost the Kick sends
	// every second instead. The schedule still counts on ReloadInterval,
	// the safety net of a node without a feed.
	Changed <-chan struct{}
}

func (o *Options) setDefaults() error {
	if o.Algorithm == "" {
		o.Algorithm = ES256
	}
	if !validAlgorithm(o.Algorithm) {
		return fmt.Errorf("signing: algorithm %q is not one of ES256, RS256, EdDSA", o.Algorithm)
	}
	if o.RSABits == 0 {
		o.RSABits = DefaultRSABits
	}
	if !validRSABits(o.RSABits) {
		return fmt.Errorf("signing: RSA keys of %d bits are not allowed; use 2048, 3072 or 4096", o.RSABits)
	}
	if o.RotationPeriod == 0 {
		o.RotationPeriod = DefaultRotationPeriod
	}
	if o.MaxTokenTTL == 0 {
		o.MaxTokenTTL = DefaultMaxTokenTTL
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = DefaultReloadInterval
	}
	if o.MaxTokenTTL < 0 || o.Leeway < 0 || o.ReloadInterval < 0 {
		return errors.New("signing: MaxTokenTTL, Leeway and ReloadInterval may not be negative")
	}
	if o.RotationPeriod <= 2*publishDelay(o) {
		return fmt.Errorf("signing: the rotation period %v must exceed twice the publication delay %v (JWKS max-age + reload interval + leeway)", o.RotationPeriod, publishDelay(o))
	}
	if o.Now == nil {
		o.Now = auth.SystemNow
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// publishDelay is how long a new key must be published before it may sign:
// long enough for every relying party's cached JWKS to expire and every
// node to reload, across clocks that differ by up to the leeway.
func publishDelay(o *Options) time.Duration {
	return JWKSMaxAge + o.ReloadInterval + o.Leeway
}

// retention is how long a retired key stays published: a token it signed
// just before retirement lives MaxTokenTTL; a node that has not reloaded yet
// may sign with it for up to ReloadInterval after; clocks differ by Leeway.
func retention(o *Options) time.Duration {
	return o.MaxTokenTTL + o.ReloadInterval + o.Leeway
}

// Keyring holds the signing keys: it signs with the current one, verifies
// with every published one, serves the JWKS and rotates keys on a schedule
// shared by every node through the store.
//
// Which key signs is a function of the stored keys and the time alone:
// among keys not retired, the one with the latest ActivatesAt not after now
// (ties go to the smaller kid); if none has activated, the one with the
// earliest ActivatesAt. Beside the current key a "next" key is always
// published, activating a rotation period after the current one, so
// scheduled rotation needs no coordination: every node switches at the same
// instant to a key relying parties have cached for weeks. Run then retires
// the superseded key and publishes the following one.
//
// A Keyring only signs: its tokens are verified, on this node as anywhere
// else, by package verify over the key set JWKS returns (pass JWKS as
// verify.Config.JWKS), so that one verification path checks every token.
//
// A Keyring is safe for concurrent use. Sign and JWKS read an immutable
// snapshot through an atomic pointer and take no lock.
type Keyring struct {
	store   auth.SigningKeyStore
	sealer  *Sealer
	opts    Options
	now     auth.Now
	log     *slog.Logger
	started time.Time

	snap atomic.Pointer[snapshot]
	mu   sync.Mutex // serialises Reload, Rotate and maintenance
}

// snapshot is one immutable view of the keys, rebuilt on every reload.
type snapshot struct {
	keys  []*entry          // published keys by ActivatesAt, then kid
	byKID map[string]*entry // the same keys
	names []string          // the keys' algorithms, sorted
	jwks  []byte
	etag  string
}

// entry is one stored key: its record's dates and its material.
type entry struct {
	*material
	createdAt   time.Time
	activatesAt time.Time
	retiredAt   time.Time
	expiresAt   time.Time
}

func (e *entry) retired() bool { return !e.retiredAt.IsZero() }

// publishedAt reports whether the key may verify at now: retired keys stop
// at their ExpiresAt even before the store deletes them.
func (e *entry) publishedAt(now time.Time) bool {
	return e.expiresAt.IsZero() || now.Before(e.expiresAt)
}

// New returns a keyring over store. It loads the keys, and when the store
// holds none that may sign it creates the first current key and its next.
// It fails if a key that may still sign cannot be opened with sealer (a
// different master key on this node, or a damaged row).
//
// Two nodes started at the same moment on an empty store each create a
// first key; each accepts the other's tokens from its next reload (within
// ReloadInterval), and the next Run retires one of the two. Starting one
// node first avoids even that window.
func New(ctx context.Context, store auth.SigningKeyStore, sealer *Sealer, opts Options) (*Keyring, error) {
	if store == nil || sealer == nil {
		return nil, errors.New("signing: New needs a store and a sealer")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	k := &Keyring{store: store, sealer: sealer, opts: opts, now: opts.Now, log: opts.Logger}
	k.started = k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(ctx); err != nil {
		return nil, err
	}
	if k.snap.Load().current(k.now()) == nil {
		if _, err := k.maintainLocked(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Reload reads the keys from the store again. Run does it every
// ReloadInterval; call it to see another node's rotation at once.
func (k *Keyring) Reload(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked(ctx)
}

func (k *Keyring) reloadLocked(ctx context.Context) error {
	recs, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("signing: list keys: %w", err)
	}
	now := k.now()
	old := k.snap.Load()
	s := &snapshot{byKID: make(map[string]*entry, len(recs))}
	for _, r := range recs {
		e := &entry{createdAt: r.CreatedAt, activatesAt: r.ActivatesAt, retiredAt: r.RetiredAt, expiresAt: r.ExpiresAt}
		if !e.publishedAt(now) {
			continue
		}
		if _, dup := s.byKID[r.ID]; dup {
			return fmt.Errorf("signing: the store lists key %s twice", r.ID)
		}
		// Keys do not change once made: reuse what the last snapshot
		// parsed, opening a private key only for keys that may sign.
		var prev *entry
		if old != nil {
			prev = old.byKID[r.ID]
		}
		switch {
		case prev != nil && prev.alg == r.Algorithm && (e.retired() || prev.private != nil):
			e.material = prev.material
		default:
			m, err := loadMaterial(k.sealer, r, !e.retired())
			if err != nil {
				return err
			}
			e.material = m
		}
		s.keys = append(s.keys, e)
		s.byKID[r.ID] = e
	}
	// Activation order, not the store's: Keys reads retired, current, next,
	// and every node serves the same JWKS bytes, hence the same ETag.
	slices.SortFunc(s.keys, func(a, b *entry) int {
		if c := a.activatesAt.Compare(b.activatesAt); c != 0 {
			return c
		}
		return strings.Compare(a.kid, b.kid)
	})
	if err := s.build(); err != nil {
		return err
	}
	k.snap.Store(s)
	return nil
}

// build precomputes the JWKS document, its ETag and the algorithm list.
func (s *snapshot) build() error {
	var buf bytes.Buffer
	buf.WriteString(`{"keys":[`)
	for i, e := range s.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.jwk)
		if !slices.Contains(s.names, e.alg) {
			s.names = append(s.names, e.alg)
		}
	}
	buf.WriteString("]}")
	if !json.Valid(buf.Bytes()) {
		return errors.New("signing: the JWKS document is not valid JSON")
	}
	s.jwks = buf.Bytes()
	sum := sha256.Sum256(s.jwks)
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	slices.Sort(s.names)
	return nil
}

// current returns the key that signs at now (see Keyring), or nil.
func (s *snapshot) current(now time.Time) *entry {
	if s == nil {
		return nil
	}
	var active, earliest *entry
	for _, e := range s.keys {
		if e.retired() || e.private == nil {
			continue
		}
		if !e.activatesAt.After(now) {
			if active == nil || e.activatesAt.After(active.activatesAt) ||
				(e.activatesAt.Equal(active.activatesAt) && e.kid < active.kid) {
				active = e
			}
		}
		if earliest == nil || e.activatesAt.Before(earliest.activatesAt) ||
			(e.activatesAt.Equal(earliest.activatesAt) && e.kid < earliest.kid) {
			earliest = e
		}
	}
	if active != nil {
		return active
	}
	return earliest
}

// Sign serialises claims to JSON and signs them with the current key as a
// JWS in compact serialization whose header holds alg, kid and typ (e.g.
// "at+jwt" for access tokens, RFC 9068 §2.1; "JWT" for ID tokens).
func (k *Keyring) Sign(typ string, claims any) (string, error) {
	if typ == "" || len(typ) > maxTypLength {
		return "", errors.New("signing: Sign needs a typ of at most 64 bytes")
	}
	cur := k.snap.Load().current(k.now())
	if cur == nil {
		return "", errors.New("signing: no key may sign")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("signing: encode claims: %w", err)
	}
	signer, err := cur.signer(typ)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: sign with key %s: %w", cur.kid, err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("signing: serialize token: %w", err)
	}
	return token, nil
}

// maxTypLength bounds the typ header values Sign accepts (and caches a
// signer for).
const maxTypLength = 64

// JWKS returns the JSON Web Key Set (RFC 7517 §5) of every published key,
// public parts only, for /.well-known/jwks.json, and its strong ETag. Both
// are computed on reload; serve them with JWKSCacheControl.
func (k *Keyring) JWKS() (body []byte, etag string) {
	s := k.snap.Load()
	return s.jwks, s.etag
}

// Leeway is the clock skew the keyring allows (Options.Leeway): verifiers
// of its tokens on this node allow the same.
func (k *Keyring) Leeway() time.Duration { return k.opts.Leeway }

// CacheControl returns the Cache-Control header value for the JWKS.
func (k *Keyring) CacheControl() string { return JWKSCacheControl }

// Algorithms returns the signature algorithms of the published keys, sorted,
// for discovery (id_token_signing_alg_values_supported).
func (k *Keyring) Algorithms() []string {
	return slices.Clone(k.snap.Load().names)
}

// KeyInfo describes a key for administrators: public facts only.
type KeyInfo struct {
	ID          string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	Status      string    `json:"status"` // StatusCurrent, StatusNext or StatusRetired
	CreatedAt   time.Time `json:"created_at"`
	ActivatesAt time.Time `json:"activates_at"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// Keys lists the published keys in the order they sign (by ActivatesAt).
func (k *Keyring) Keys() []KeyInfo {
	s := k.snap.Load()
	cur := s.current(k.now())
	out := make([]KeyInfo, 0, len(s.keys))
	now := k.now()
	for _, e := range s.keys {
		out = append(out, e.info(cur, now))
	}
	return out
}

func (e *entry) info(cur *entry, now time.Time) KeyInfo {
	status := StatusNext
	switch {
	case e == cur:
		status = StatusCurrent
	case e.retired() || !e.activatesAt.After(now):
		// A key a later one has superseded signs no more, even before
		// Run records its retirement (RetiredAt is still zero then).
		status = StatusRetired
	}
	return KeyInfo{
		ID: e.kid, Algorithm: e.alg, Status: status,
		CreatedAt: e.createdAt, ActivatesAt: e.activatesAt, RetiredAt: e.retiredAt, ExpiresAt: e.expiresAt,
	}
}

// CurrentKeyID is the kid Sign uses now ("" when there is no key). Callers
// that cache tokens they signed key their caches by it, so that no cached
// token outlives a rotation.
func (k *Keyring) CurrentKeyID() string {
	if e := k.snap.Load().current(k.now()); e != nil {
		return e.kid
	}
	return ""
}
