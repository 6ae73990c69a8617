package verify

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/go-jose/go-jose/v4"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DPoP (RFC 9449): a client proves, with a short JWT signed by a key it
// holds (the proof), that it is the one a token was issued to. A token
// bound to a key carries its SHA-256 JWK thumbprint (RFC 7638) as
// cnf.jkt; a resource server then accepts it only in the DPoP scheme,
// with a fresh proof of that key for this very request and this token.

// Header names of RFC 9449.
const (
	HeaderDPoP      = "DPoP"       // the proof (RFC 9449 4.1)
	HeaderDPoPNonce = "DPoP-Nonce" // a nonce the server asks proofs to carry (RFC 9449 8, 9)
)

// canonicalDPoP is HeaderDPoP as http.Header keys it.
const canonicalDPoP = "Dpop"

// MaxProofSize caps the proofs Check parses: an RS256 proof with a
// 4096-bit key is under 2 KiB.
const MaxProofSize = 8 << 10

// maxJTILength caps the jti of a proof; RFC 9449 asks for 96 random bits
// or more, a few dozen characters.
const maxJTILength = 256

// DefaultDPoPAlgorithms are the proof algorithms accepted when
// DPoPConfig.Algorithms is empty, and the only ones that may be configured.
var DefaultDPoPAlgorithms = []string{"ES256", "EdDSA", "RS256"}

// DefaultProofWindow is how far a proof's iat may be from the server's
// clock when DPoPConfig.Window is zero.
const DefaultProofWindow = 60 * time.Second

// ReplayCache remembers the proofs a server has accepted, so that each is
// accepted once (RFC 9449 11.1). Keys are hashes (32 bytes) of the proof's
// key and jti; an entry may be forgotten after expiresAt, when its proof
// is refused for its age anyway. Implementations shared by several nodes
// (a database, Redis) make a proof single-use across all of them.
type ReplayCache interface {
	// Use records key until expiresAt and reports whether it was new:
	// false if it is recorded and has not expired at now. An error means
	// the cache could not answer, and the proof is refused.
	Use(ctx context.Context, key [32]byte, expiresAt, now time.Time) (bool, error)
}

// NonceSource issues the nonces a server asks proofs to carry (RFC 9449
// 8 and 9) and recognises them.
type NonceSource interface {
	// Nonce returns the nonce to hand out at now.
	Nonce(now time.Time) string
	// Valid reports whether a proof's nonce is one the source issued and
	// still accepts at now.
	Valid(nonce string, now time.Time) bool
}

// DPoPConfig configures a DPoP checker. Every field is optional.
type DPoPConfig struct {
	// Algorithms are the accepted proof algorithms, a subset of
	// DefaultDPoPAlgorithms (the default).
	Algorithms []string
	// Window is how far iat may be from now, either way; default
	// DefaultProofWindow.
	Window time.Duration
	// Replay remembers accepted proofs; default a MemoryReplayCache of
	// this process (right for one node only).
	Replay ReplayCache
	// Nonces, when set, makes every proof carry a nonce it issued;
	// otherwise proofs are accepted without one (and their nonce, if any,
	// is not checked).
	Nonces NonceSource
	// RequestURL is the URL a request was sent to, as the client saw it,
	// for the htu check at a resource server; default http or https (by
	// r.TLS), r.Host and r.URL's path. Set it behind a proxy that
	// terminates TLS or rewrites the host.
	RequestURL func(r *http.Request) string
	Now        func() time.Time
}

// DPoP checks DPoP proofs. It is safe for concurrent use.
type DPoP struct {
	cfg     DPoPConfig
	algs    []string
	algList string     // for the algs parameter of challenges
	keys    *proofKeys // parsed jwk headers (dpop_keys.go)
}

// NewDPoP checks cfg and returns a checker.
func NewDPoP(cfg DPoPConfig) (*DPoP, error) {
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultDPoPAlgorithms
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	d := &DPoP{keys: &proofKeys{}}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(DefaultDPoPAlgorithms, a) {
			return nil, fmt.Errorf("verify: DPoP algorithm %q is not supported (supported: %v)", a, DefaultDPoPAlgorithms)
		}
		d.algs = append(d.algs, a)
	}
	if cfg.Window < 0 {
		return nil, errors.New("verify: DPoP proof window is negative")
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultProofWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Replay == nil {
		cfg.Replay = NewMemoryReplayCache()
	}
	if cfg.RequestURL == nil {
		cfg.RequestURL = defaultRequestURL
	}
	d.cfg = cfg
	d.algList = strings.Join(cfg.Algorithms, " ")
	return d, nil
}

// Algorithms returns the accepted proof algorithms, for
// dpop_signing_alg_values_supported.
func (d *DPoP) Algorithms() []string { return slices.Clone(d.cfg.Algorithms) }

// Nonce returns the nonce to send in a DPoP-Nonce header, "" when the
// checker asks for none.
func (d *DPoP) Nonce() string {
	if d == nil || d.cfg.Nonces == nil {
		return ""
	}
	return d.cfg.Nonces.Nonce(d.cfg.Now())
}

// ProofRequest is what a proof must match.
type ProofRequest struct {
	Method string // the request's method: htm
	URL    string // the absolute URL the request was sent to: htu (its query and fragment are ignored)
	// AccessToken is the token presented with the proof at a resource
	// server, which ath must hash; "" at a token endpoint, where a proof
	// with ath is refused.
	AccessToken string
}

// Proof is what a valid proof establishes.
type Proof struct {
	// JKT is the base64url SHA-256 JWK thumbprint (RFC 7638) of the
	// proof's key: the cnf.jkt of the tokens bound to it.
	JKT      string
	JTI      string
	IssuedAt time.Time
}

// proofHeader reads the proof from a request: exactly one DPoP header
// (RFC 9449 4.3 check 1). ok is false when there are several or an empty
// one; "" with ok true when there is none.
func proofHeader(h http.Header) (string, bool) {
	vals := h[canonicalDPoP]
	switch len(vals) {
	case 0:
		return "", true
	case 1:
		return vals[0], vals[0] != ""
	}
	return "", false
}

// ProofFromRequest returns the request's DPoP proof; ok is false if it
// has none, or several DPoP headers (refused: RFC 9449 4.3).
func ProofFromRequest(r *http.Request) (proof string, ok bool) {
	p, ok := proofHeader(r.Header)
	return p, ok && p != ""
}

// proofClaims are the claims of a proof (RFC 9449 4.2); others are
// ignored.
type proofClaims struct {
	JTI   string  `json:"jti"`
	HTM   string  `json:"htm"`
	HTU   string  `json:"htu"`
	IAT   float64 `json:"iat"`
	ATH   string  `json:"ath"`
	Nonce string  `json:"nonce"`
}

// Check verifies a proof against req (RFC 9449 4.3): a compact JWS of at
// most MaxProofSize; typ dpop+jwt; alg among the configured ones and
// fitting the jwk header, which must be a public key (RSA of 2048 bits or
// more); a valid signature; strict JSON claims with a jti, htm equal to
// req.Method, htu equal to req.URL once both are normalised (RFC 3986 6.2.2
// and 6.2.3; query and fragment ignored), iat within the window of now;
// ath equal to the base64url SHA-256 of req.AccessToken when one is given
// and absent otherwise; a nonce the NonceSource accepts when there is one;
// and a jti (with its key) not seen in the window before, which it then
// records.
//
// Errors are *Error: ReasonInvalidDPoPProof for a proof that fails a check,
// ReasonUseDPoPNonce when the nonce is missing or stale (answer with a
// fresh one, Nonce), ReasonDPoPReplayed for a proof seen before, and
// ReasonKeysUnavailable when the replay cache cannot answer.
func (d *DPoP) Check(ctx context.Context, proof string, req ProofRequest) (*Proof, error) {
	if proof == "" {
		return nil, refuse(ReasonInvalidDPoPProof, "no DPoP proof")
	}
	if len(proof) > MaxProofSize {
		return nil, refuse(ReasonInvalidDPoPProof, "proof too long")
	}
	p, err := d.parseProof(proof)
	if err != nil {
		return nil, err
	}
	var c proofClaims
	if err := jsonv2.Unmarshal(p.payload, &c); err != nil {
		return nil, refuse(ReasonInvalidDPoPProof, "claims are not a JSON object of the expected types")
	}
	if c.JTI == "" || len(c.JTI) > maxJTILength {
		return nil, refuse(ReasonInvalidDPoPProof, "jti missing or too long")
	}
	if c.HTM != req.Method {
		return nil, refuse(ReasonInvalidDPoPProof, "htm is not the request's method")
	}
	if !sameHTU(c.HTU, req.URL) {
		return nil, refuse(ReasonInvalidDPoPProof, "htu is not the request's URL")
	}
	now := d.cfg.Now()
	iat, ok := numericDate(c.IAT)
	if !ok || c.IAT == 0 {
		return nil, refuse(ReasonInvalidDPoPProof, "iat missing or out of range")
	}
	if iat.Before(now.Add(-d.cfg.Window)) || iat.After(now.Add(d.cfg.Window)) {
		return nil, refuse(ReasonInvalidDPoPProof, "iat is outside the window")
	}
	if req.AccessToken != "" {
		if !athMatches(c.ATH, req.AccessToken) {
			return nil, refuse(ReasonInvalidDPoPProof, "ath does not hash the access token")
		}
	} else if c.ATH != "" {
		return nil, refuse(ReasonInvalidDPoPProof, "ath without an access token")
	}
	if d.cfg.Nonces != nil && (c.Nonce == "" || !d.cfg.Nonces.Valid(c.Nonce, now)) {
		return nil, refuse(ReasonUseDPoPNonce, "the proof lacks a current nonce")
	}
	jkt := p.key.jkt
	// Checked last, so that only proofs valid in every other way take a
	// place in the cache: a forger cannot burn a client's jti.
	fresh, err := d.cfg.Replay.Use(ctx, replayKey(jkt, c.JTI), iat.Add(d.cfg.Window), now)
	if err != nil {
		return nil, &Error{Reason: ReasonKeysUnavailable, detail: "the DPoP replay cache cannot answer"}
	}
	if !fresh {
		return nil, refuse(ReasonDPoPReplayed, "the proof was used before")
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat}, nil
}

var dpopTypes = []string{"dpop+jwt"}

// proofJOSEHeader is the JOSE header of a proof (RFC 9449 4.2). Other
// members are ignored, except crit, which names extensions this checker
// does not understand and so is refused (RFC 7515 4.1.11).
type proofJOSEHeader struct {
	Alg  string         `json:"alg"`
	Typ  string         `json:"typ"`
	JWK  jsontext.Value `json:"jwk"`
	Crit jsontext.Value `json:"crit"`
}

// parsedProof is a proof whose signature verified with its jwk.
type parsedProof struct {
	key     *proofKey
	payload []byte
}

// parseProof splits a compact JWS, decodes its header strictly (json v2:
// case-sensitive names, no duplicates), checks typ, alg and the jwk, and
// verifies the signature over the signing input exactly as received with
// the standard library. The jwk is parsed once per distinct header
// (d.keys); the signature is checked every time.
func (d *DPoP) parseProof(proof string) (parsedProof, error) {
	h, rest, ok1 := strings.Cut(proof, ".")
	pl, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 || h == "" || pl == "" || s == "" {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "proof is not a compact JWS")
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "header is not base64url")
	}
	var hdr proofJOSEHeader
	if err := jsonv2.Unmarshal(hb, &hdr); err != nil {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "header is not a JSON object of the expected types")
	}
	if hdr.Crit != nil {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "crit header")
	}
	if !slices.Contains(d.algs, hdr.Alg) {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "proof is not a compact JWS with an allowed algorithm")
	}
	if !typeAccepted(hdr.Typ, dpopTypes) {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "typ is not dpop+jwt")
	}
	if len(hdr.JWK) == 0 || hdr.JWK[0] != '{' {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "no public jwk header")
	}
	key := d.keys.get(hdr.JWK)
	if key == nil {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "no public jwk header")
	}
	if !algFits(hdr.Alg, key.key, key.alg) {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "algorithm does not fit the jwk")
	}
	sig, err := b64.DecodeString(s)
	if err != nil {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "signature is not base64url")
	}
	if !checkSignature(hdr.Alg, key.key, proof[:len(h)+1+len(pl)], sig) {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "signature does not verify")
	}
	payload, err := b64.DecodeString(pl)
	if err != nil {
		return parsedProof{}, refuse(ReasonInvalidDPoPProof, "payload is not base64url")
	}
	return parsedProof{key: key, payload: payload}, nil
}

// replayKey is the replay cache's key of a proof: its jti under its key,
// so that one client's jti never collides with another's.
func replayKey(jkt, jti string) [32]byte {
	h := sha256.New()
	h.Write([]byte("dpop\x00"))
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// ATH returns the ath claim a proof carries for an access token (RFC 9449
// 4.2): the base64url SHA-256 of its ASCII.
func ATH(accessToken string) string {
	sum := hashOf(accessToken)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func athMatches(ath, token string) bool {
	if len(ath) != 43 {
		return false
	}
	sum := hashOf(token)
	var want [43]byte
	base64.RawURLEncoding.Encode(want[:], sum[:])
	return subtle.ConstantTimeCompare(want[:], unsafe.Slice(unsafe.StringData(ath), len(ath))) == 1
}

// JKT returns the base64url SHA-256 thumbprint (RFC 7638) of a public
// key, as cnf.jkt and dpop_jkt carry it.
func JKT(key crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: key}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// ValidJKT reports whether s has the form of a SHA-256 thumbprint:
// 43 base64url characters.
func ValidJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := b64.DecodeString(s)
	return err == nil
}

// sameHTU compares a proof's htu with the request's URL after
// normalisation (RFC 9449 4.3 check 9).
func sameHTU(htu, requestURL string) bool {
	if htu == requestURL {
		// The usual case: one URL to check, not two.
		_, ok := NormalizeHTU(htu)
		return ok
	}
	a, ok1 := NormalizeHTU(htu)
	b, ok2 := NormalizeHTU(requestURL)
	return ok1 && ok2 && a == b
}

// NormalizeHTU returns an http or https URL as an htu is compared (RFC
// 9449 4.3): without query and fragment, scheme and host in lower case,
// the scheme's default port dropped, an empty path as "/", dot segments
// removed and percent-encodings normalised (RFC 3986 6.2.2, 6.2.3). ok is
// false for anything else (relative, userinfo, another scheme).
func NormalizeHTU(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case scheme == "https" && port == "443", scheme == "http" && port == "80":
		port = ""
	case scheme != "https" && scheme != "http":
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	p, ok := normalizePercent(u.EscapedPath())
	if !ok {
		return "", false
	}
	p = removeDotSegments(p)
	if p == "" {
		p = "/"
	}
	return scheme + "://" + host + p, true
}

// normalizePercent upper-cases the hex digits of percent-encodings and
// decodes those of unreserved characters (RFC 3986 6.2.2.1, 6.2.2.2).
func normalizePercent(p string) (string, bool) {
	if strings.IndexByte(p, '%') < 0 {
		return p, true
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", false
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(p[i+1 : i+3]))
		}
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// removeDotSegments is RFC 3986 5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	if !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	r := strings.Join(out, "/")
	if !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}

// defaultRequestURL is DPoPConfig.RequestURL's default.
func defaultRequestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}
