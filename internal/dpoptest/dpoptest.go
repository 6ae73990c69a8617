// Package dpoptest is a DPoP client for tests (RFC 9449), built on
// go-jose alone so that it checks Gatehouse's proof handling
// independently: it makes keys, signs proofs and can break them in the
// ways an attacker would.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Client holds a DPoP key.
type Client struct {
	Alg   jose.SignatureAlgorithm
	Key   crypto.Signer
	Now   func() time.Time // default time.Now
	Nonce string           // the last DPoP-Nonce the server sent, sent back in proofs
}

// New returns a client with a new key for alg: ES256, EdDSA or RS256.
func New(alg jose.SignatureAlgorithm) (*Client, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case jose.RS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("dpoptest: algorithm %s", alg)
	}
	if err != nil {
		return nil, err
	}
	return &Client{Alg: alg, Key: k}, nil
}

// MustNew is New for tests; it panics on failure.
func MustNew(alg jose.SignatureAlgorithm) *Client {
	c, err := New(alg)
	if err != nil {
		panic(err)
	}
	return c
}

// JKT is the key's SHA-256 JWK thumbprint (RFC 7638).
func (c *Client) JKT() string {
	tp, err := (&jose.JSONWebKey{Key: c.Key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Options change a proof, mostly to break it.
type Options struct {
	JTI         string         // default: a fresh random one
	IssuedAt    time.Time      // default: Now
	AccessToken string         // sets ath
	ATH         string         // sets ath as given
	Nonce       string         // default: c.Nonce
	Typ         string         // default "dpop+jwt"
	JWK         any            // the jwk header; default the public key (a private key to attack)
	NoJWK       bool           // no jwk header
	Claims      map[string]any // extra or replaced claims
}

// Proof returns a proof for method and url.
func (c *Client) Proof(method, url string, o Options) string {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	if o.JTI == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		o.JTI = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if o.IssuedAt.IsZero() {
		o.IssuedAt = now()
	}
	if o.Typ == "" {
		o.Typ = "dpop+jwt"
	}
	if o.Nonce == "" {
		o.Nonce = c.Nonce
	}
	claims := map[string]any{"jti": o.JTI, "htm": method, "htu": url, "iat": o.IssuedAt.Unix()}
	if o.AccessToken != "" {
		sum := sha256.Sum256([]byte(o.AccessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if o.ATH != "" {
		claims["ath"] = o.ATH
	}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	for k, v := range o.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(o.Typ))
	if !o.NoJWK {
		jwk := o.JWK
		if jwk == nil {
			jwk = c.Key.Public()
		}
		opts = opts.WithHeader("jwk", jose.JSONWebKey{Key: jwk})
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: c.Alg, Key: c.Key}, opts)
	if err != nil {
		panic(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// Sign sets r's DPoP header to a fresh proof for r's method and URL (its
// query dropped), with ath for the access token in r's "DPoP" Authorization
// header, if any.
func (c *Client) Sign(r *http.Request, o Options) {
	u := *r.URL
	u.RawQuery, u.Fragment = "", ""
	if o.AccessToken == "" {
		if a := r.Header.Get("Authorization"); len(a) > 5 && a[:5] == "DPoP " {
			o.AccessToken = a[5:]
		}
	}
	r.Header.Set("DPoP", c.Proof(r.Method, u.String(), o))
}

// Transport is an http.RoundTripper that signs every request with c,
// sends access tokens in the DPoP scheme and keeps the server's nonces,
// retrying once when asked for one (use_dpop_nonce).
type Transport struct {
	Client *Client
	Base   http.RoundTripper // default http.DefaultTransport
	Token  string            // access token to send as "DPoP <token>"; "" for none
}

func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	for try := 0; ; try++ {
		req := r.Clone(r.Context())
		if r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		if t.Token != "" {
			req.Header.Set("Authorization", "DPoP "+t.Token)
		}
		t.Client.Sign(req, Options{})
		resp, err := base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			t.Client.Nonce = n
			if try == 0 && (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) {
				resp.Body.Close()
				continue
			}
		}
		return resp, nil
	}
}

// SignatureOnly returns a func that checks proof's signature with c's
// public key and the standard library, and nothing else: the signing
// input hashed and the signature verified, the floor of any proof check.
// Benchmarks time it against the whole path. It panics on a proof that
// is not a compact JWS.
func (c *Client) SignatureOnly(proof string) func() bool {
	i := strings.LastIndexByte(proof, '.')
	input := []byte(proof[:i])
	sig, err := base64.RawURLEncoding.DecodeString(proof[i+1:])
	if err != nil {
		panic(err)
	}
	switch k := c.Key.Public().(type) {
	case *ecdsa.PublicKey:
		return func() bool {
			h := sha256.Sum256(input)
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			return ecdsa.Verify(k, h[:], r, s)
		}
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(k, input, sig) }
	case *rsa.PublicKey:
		return func() bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
		}
	}
	panic("dpoptest: unknown key type")
}
