package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/verify"
)

// Signing in: the dashboard is an OAuth client of its own node, as any
// other would be. It sends the browser to the authorization endpoint with
// PKCE (S256), a state and a nonce; the login page there signs the user in
// (consent is skipped for this first-party client); the callback checks
// the state, exchanges the code with the code verifier through
// golang.org/x/oauth2, verifies the ID token with package verify over the
// keyring's JWKS, checks its nonce and starts a dashboard session for its
// subject. Signing out ends the dashboard session and sends the browser
// to the end-session endpoint with the ID token as id_token_hint, which
// ends the Gatehouse session too.
//
// The state, the code verifier and the nonce all derive from one random
// seed kept in a short-lived cookie (keyed hashes of it, each for its
// purpose), so no server-side state is needed between the two legs and any
// node can serve the callback.

// signinTTL bounds how long a user may take on the login page.
const signinTTL = 15 * time.Minute

type signin struct {
	s        *Server
	oauth    oauth2.Config
	client   *http.Client // to the authorization server, in process
	verifier *verify.Verifier
}

func newSignin(s *Server) (*signin, error) {
	issuer := strings.TrimSuffix(s.cfg.Issuer, "/")
	v, err := verify.New(verify.Config{
		Issuer:     issuer,
		Audience:   ClientID,
		Types:      []string{"JWT"},
		Algorithms: signing.SupportedAlgorithms(),
		JWKS:       s.cfg.JWKS,
		CacheSize:  -1, // each ID token is seen once
		Now:        s.now,
		Logger:     s.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: ID token verifier: %w", err)
	}
	return &signin{
		s: s,
		oauth: oauth2.Config{
			ClientID: ClientID,
			Endpoint: oauth2.Endpoint{
				AuthURL:   issuer + "/oauth2/authorize",
				TokenURL:  issuer + "/oauth2/token",
				AuthStyle: oauth2.AuthStyleInParams, // a public client: client_id in the body, no secret
			},
			RedirectURL: issuer + CallbackPath,
			Scopes:      strings.Fields(Scopes),
		},
		client:   &http.Client{Transport: inProcess{s.cfg.Authorization}, Timeout: 10 * time.Second},
		verifier: v,
	}, nil
}

func (s *Server) signinPages() []page {
	return []page{
		{"GET /dashboard/signin", anyone, s.handleSignin},
		{"GET " + CallbackPath, anyone, s.handleCallback},
		{"POST /dashboard/signout", signedIn, s.handleSignout},
		{"GET " + SignedOutPath, anyone, s.handleSignedOut},
	}
}

func (s *Server) signinCookieName() string {
	if s.cfg.Insecure {
		return auth.CookieDashboardSigninInsecure
	}
	return auth.CookieDashboardSignin
}

// derive returns the value of one purpose (state, PKCE verifier, nonce)
// from the sign-in seed: 43 URL-safe characters, as RFC 7636 §4.1 wants
// of a verifier.
func (s *Server) derive(purpose, seed string) string {
	sum := s.cfg.Hasher.Sum("gatehouse-dashboard-signin\x00" + purpose + "\x00" + seed)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// handleSignin starts signing in, or goes straight back for a browser that
// has a live session.
func (s *Server) handleSignin(w http.ResponseWriter, r *http.Request, _ *viewer) {
	next := localPath(r.URL.Query().Get("next"))
	if v, err := s.session(w, r); err == nil && v != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	seed, err := randomToken()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, s.cookie(s.signinCookieName(), seed+"."+base64.RawURLEncoding.EncodeToString([]byte(next)), int(signinTTL/time.Second)))
	// max_age is the idle timeout (OIDC Core §3.1.2.1): a console left
	// alone asks for the password again, although the Gatehouse session
	// (hours long, shared with other applications) would still sign the
	// browser in.
	u := s.signin.oauth.AuthCodeURL(s.derive("state", seed),
		oauth2.S256ChallengeOption(s.derive("pkce", seed)),
		oauth2.SetAuthURLParam("nonce", s.derive("nonce", seed)),
		oauth2.SetAuthURLParam("max_age", strconv.Itoa(int(s.idle/time.Second))))
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// handleCallback finishes signing in (RFC 6749 §4.1.2, RFC 7636 §4.5,
// OIDC Core §3.1.3.7).
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request, _ *viewer) {
	c, err := r.Cookie(s.signinCookieName())
	http.SetCookie(w, s.cookie(s.signinCookieName(), "", -1)) // one use, whatever happens
	if err != nil {
		s.fail(w, r, auth.Errorf(auth.EINVALID, "No sign-in was in progress in this browser (or it took too long); sign in again."))
		return
	}
	seed, nextEnc, _ := strings.Cut(c.Value, ".")
	q := r.URL.Query()
	if !validToken(seed) || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(s.derive("state", seed))) != 1 {
		s.fail(w, r, auth.Errorf(auth.EINVALID, "The sign-in response does not belong to the sign-in this browser started; sign in again."))
		return
	}
	if e := q.Get("error"); e != "" {
		s.fail(w, r, auth.Errorf(auth.EFORBIDDEN, "Signing in was refused (%s); sign in again.", auth.TruncateUTF8(e, 64)))
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, s.signin.client)
	tok, err := s.signin.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(s.derive("pkce", seed)))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			s.fail(w, r, auth.Errorf(auth.EINVALID, "The authorization server refused the sign-in (%s); sign in again.", auth.TruncateUTF8(re.ErrorCode, 64)))
			return
		}
		s.fail(w, r, fmt.Errorf("dashboard: code exchange: %w", err))
		return
	}
	idToken, _ := tok.Extra("id_token").(string)
	claims, err := s.signin.verifier.Verify(r.Context(), idToken)
	if err != nil {
		s.fail(w, r, fmt.Errorf("dashboard: the ID token from our own authorization server does not verify: %w", err))
		return
	}
	if nonce, err := tokenNonce(idToken); err != nil || subtle.ConstantTimeCompare([]byte(nonce), []byte(s.derive("nonce", seed))) != 1 {
		s.fail(w, r, auth.Errorf(auth.EINVALID, "The sign-in response was not made for this browser; sign in again."))
		return
	}
	// The authorization server honours max_age; checking auth_time is
	// what OIDC Core §3.1.2.1 asks of the client all the same.
	if claims.AuthTime.IsZero() || s.now().Sub(claims.AuthTime) > s.idle+signinTTL {
		s.fail(w, r, auth.Errorf(auth.EINVALID, "The sign-in is too old; sign in again."))
		return
	}
	if err := s.startSession(r.Context(), w, claims.Subject, idToken); err != nil {
		s.fail(w, r, err)
		return
	}
	next := "/dashboard/"
	if b, err := base64.RawURLEncoding.DecodeString(nextEnc); err == nil {
		next = localPath(string(b))
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tokenNonce reads the nonce claim of a JWT that has been verified.
func tokenNonce(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", err
	}
	return c.Nonce, nil
}

// handleSignout ends the dashboard session, then the Gatehouse session
// through the end-session endpoint (OIDC RP-Initiated Logout 1.0 §2),
// with a form the script posts at once: the ID token goes as
// id_token_hint in a request body, never in a URL that a proxy or an
// access log would keep.
func (s *Server) handleSignout(w http.ResponseWriter, r *http.Request, v *viewer) {
	if err := s.endSession(r.Context(), w, v.session.Hash); err != nil {
		s.fail(w, r, err)
		return
	}
	issuer := strings.TrimSuffix(s.cfg.Issuer, "/")
	fields := []web.Field{
		{Name: "client_id", Value: ClientID},
		{Name: "post_logout_redirect_uri", Value: issuer + SignedOutPath},
	}
	if v.session.IDToken != "" {
		fields = append(fields, web.Field{Name: "id_token_hint", Value: v.session.IDToken})
	}
	s.render(w, r, http.StatusOK, "signingout.html", &view{Title: "Signing out", Data: signingOut{
		Action: issuer + "/oauth2/logout", Fields: fields,
	}})
}

// signingOut is the form that ends the Gatehouse session.
type signingOut struct {
	Action string
	Fields []web.Field
}

func (s *Server) handleSignedOut(w http.ResponseWriter, r *http.Request, _ *viewer) {
	s.render(w, r, http.StatusOK, "signedout.html", &view{Title: "Signed out"})
}

// inProcess sends requests to a handler in this process: the code
// exchange reaches the node's own token endpoint without a network round
// trip, and without depending on the node reaching its public URL.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RemoteAddr = "127.0.0.1:0"
	in.RequestURI = in.URL.RequestURI()
	in.Host = in.URL.Host
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(rec, in)
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// recorder is the ResponseWriter of an in-process request.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}
