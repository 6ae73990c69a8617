package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// DPoP (RFC 9449) at the authorization server: the token endpoint takes a
// proof on every grant and binds the tokens it issues to the proof's key
// (cnf.jkt, token_type DPoP); a public client's refresh tokens are bound
// too, and an authorization code can be bound ahead with dpop_jkt. The
// userinfo endpoint enforces the binding as any resource server does.

// Error codes of RFC 9449.
const (
	CodeInvalidDPoPProof = "invalid_dpop_proof" // RFC 9449 5, 7.1
	CodeUseDPoPNonce     = "use_dpop_nonce"     // RFC 9449 8, 9
)

// DPoPConfig is the server's DPoP policy (Config.DPoP).
type DPoPConfig struct {
	// Required makes every token request carry a proof, whatever the
	// client; a client's own auth.Client.RequireDPoP does it for that
	// client alone.
	Required bool
	// Nonce makes proofs at the token and userinfo endpoints carry a nonce
	// the server issued (RFC 9449 8): a request without one is answered
	// use_dpop_nonce with a DPoP-Nonce header. Nonces are an HMAC of the
	// time under a key derived from the server secret, so every node
	// issues and accepts the same ones without sharing state.
	Nonce bool
	// NoncePeriod is how often the nonce changes; default
	// verify.DefaultNoncePeriod. A nonce is accepted for up to two periods.
	NoncePeriod time.Duration
	// ProofWindow is how far a proof's iat may be from now; default
	// verify.DefaultProofWindow.
	ProofWindow time.Duration
	// Replay remembers the proofs accepted, so that each is used once; it
	// must be shared by every node (internal/replay). nil keeps them in
	// this process: right for a single node only.
	Replay verify.ReplayCache
}

// nonceKeyLabel derives the nonce key from the server secret: the secret
// itself never leaves the hasher.
const nonceKeyLabel = "gatehouse dpop nonce key v1"

// initDPoP builds the server's proof checker from Config.DPoP.
func (s *Server) initDPoP() error {
	cfg := s.cfg.DPoP
	dc := verify.DPoPConfig{
		Window: cfg.ProofWindow,
		Replay: cfg.Replay,
		Now:    s.now,
		// The only resource endpoint here: userinfo.
		RequestURL: func(*http.Request) string { return s.url(PathUserinfo) },
	}
	if cfg.Nonce {
		n, err := NewDPoPNonces(s.hasher, cfg.NoncePeriod)
		if err != nil {
			return err
		}
		dc.Nonces = n
	}
	d, err := verify.NewDPoP(dc)
	if err != nil {
		return fmt.Errorf("oauth: %w", err)
	}
	s.dpop = d
	return nil
}

// NewDPoPNonces returns the DPoP nonces of a server secret: every node
// (token endpoint, userinfo, gateway) holding the same secret issues and
// accepts the same nonces.
func NewDPoPNonces(h *secret.Hasher, period time.Duration) (*verify.HMACNonces, error) {
	key := h.Sum(nonceKeyLabel)
	n, err := verify.NewHMACNonces(key[:], period)
	if err != nil {
		return nil, fmt.Errorf("oauth: DPoP nonces: %w", err)
	}
	return n, nil
}

type dpopKey struct{}

// dpopJKT returns the thumbprint of the key the token request proved,
// "" without a proof.
func dpopJKT(ctx context.Context) string {
	jkt, _ := ctx.Value(dpopKey{}).(string)
	return jkt
}

// tokenDPoP checks the DPoP proof of a token request (RFC 9449 5), if it
// has one, and returns ctx carrying its key's thumbprint for the grant to
// bind the tokens to (dpopJKT). Without a proof it refuses a client that
// must use DPoP, and a server that requires it for all.
func (s *Server) tokenDPoP(ctx context.Context, r *http.Request, c *auth.Client) (context.Context, error) {
	proof, ok := verify.ProofHeader(r.Header)
	if !ok {
		return ctx, newError(CodeInvalidDPoPProof, "Send one DPoP proof.")
	}
	if proof == "" {
		if c.RequireDPoP || s.cfg.DPoP.Required {
			return ctx, newError(CodeInvalidDPoPProof, "A DPoP proof is required.")
		}
		return ctx, nil
	}
	p, err := s.dpop.Check(ctx, proof, verify.ProofRequest{Method: r.Method, URL: s.url(PathToken)})
	if err != nil {
		return ctx, dpopError(err, http.StatusBadRequest)
	}
	return context.WithValue(ctx, dpopKey{}, p.JKT), nil
}

// dpopError is the OAuth error of a refused proof, with status.
func dpopError(err error, status int) error {
	var e *Error
	switch verify.ReasonOf(err) {
	case verify.ReasonUseDPoPNonce:
		e = newError(CodeUseDPoPNonce, "Use the DPoP-Nonce the server sent in the proof.")
	case verify.ReasonKeysUnavailable:
		return errTemporarilyUnavailable(err)
	case verify.ReasonDPoPBinding:
		e = errInvalidToken("The access token is bound to a DPoP key; present it in the DPoP scheme with a proof of that key.")
	default:
		e = newError(CodeInvalidDPoPProof, "The DPoP proof is invalid.")
	}
	e.Status = status
	return e
}

// setDPoPNonce sends the current nonce, when the server asks for them, in
// every answer of an endpoint that checks proofs (RFC 9449 8.2).
func (s *Server) setDPoPNonce(w http.ResponseWriter) {
	if n := s.dpop.Nonce(); n != "" {
		w.Header().Set(verify.HeaderDPoPNonce, n)
	}
}

// tokenType is the token_type of a response (RFC 9449 5.1).
func tokenType(jkt string) string {
	if jkt != "" {
		return "DPoP"
	}
	return "Bearer"
}

// refreshJKT is the key a new refresh-token family is bound to: a public
// client's proof key (RFC 9449 5: a confidential client's refresh token is
// bound by its authentication already).
func refreshJKT(c *auth.Client, jkt string) string {
	if c.Public {
		return jkt
	}
	return ""
}

// checkBoundTo refuses a request whose proof key (jkt) is not the one a
// code or refresh token is bound to (bound, "" for none).
func checkBoundTo(bound, jkt, what string) error {
	if bound == "" || subtle.ConstantTimeCompare([]byte(bound), []byte(jkt)) == 1 {
		return nil
	}
	if jkt == "" {
		return newError(CodeInvalidDPoPProof, "The %s is bound to a DPoP key; send a proof of that key.", what)
	}
	return errInvalidGrant("The %s is bound to another DPoP key.", what)
}

// parseDPoPJKT reads the dpop_jkt authorization request parameter (RFC
// 9449 10): the thumbprint of the key the code's token request must prove.
func parseDPoPJKT(p url.Values) (string, error) {
	v := p["dpop_jkt"]
	switch {
	case len(v) == 0:
		return "", nil
	case len(v) > 1 || !verify.ValidJKT(v[0]):
		return "", errInvalidRequest("The dpop_jkt parameter must be one SHA-256 JWK thumbprint (43 characters of base64url).")
	}
	return v[0], nil
}

// userinfoDPoP enforces a DPoP-bound token's binding at the userinfo
// endpoint (RFC 9449 7), as every resource server must.
func (s *Server) userinfoDPoP(r *http.Request, token string, dpop bool, c *verify.Claims) error {
	if err := s.dpop.CheckRequest(r, token, dpop, c); err != nil {
		return dpopChallenge{dpopError(err, http.StatusUnauthorized)}
	}
	return nil
}

// dpopChallenge marks an error of the userinfo endpoint to be answered
// with a DPoP challenge (RFC 9449 7.1) rather than a Bearer one.
type dpopChallenge struct{ err error }

func (d dpopChallenge) Error() string { return d.err.Error() }
func (d dpopChallenge) Unwrap() error { return d.err }

// challengeScheme is the scheme and extra parameters of the userinfo
// endpoint's challenge for err.
func (s *Server) challengeScheme(err error) (scheme, extra string) {
	var d dpopChallenge
	if !errors.As(err, &d) {
		return "Bearer", ""
	}
	return "DPoP", `, algs="` + strings.Join(s.dpop.Algorithms(), " ") + `"`
}
