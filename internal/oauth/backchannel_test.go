package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// logoutReceiver is a relying party's back-channel logout endpoint, as
// Back-Channel Logout 2.6 tells it to validate a logout token, with go-jose
// against the issuer's JWKS: typ logout+jwt, iss, aud, iat, exp, jti, the
// events member, sid or sub, and no nonce. Each jti is accepted once (the
// replay check a receiver keeps). Its first failFirst requests answer 503.
type logoutReceiver struct {
	t        *testing.T
	ts       *testServer
	clientID string
	srv      *httptest.Server

	mu        sync.Mutex
	failFirst int
	requests  int
	seen      map[string]bool  // jtis accepted
	accepted  []map[string]any // claims of the accepted tokens
	raw       []string         // the accepted tokens
	refusals  []string         // why tokens were refused
}

func newLogoutReceiver(t *testing.T, ts *testServer, clientID string) *logoutReceiver {
	rcv := &logoutReceiver{t: t, ts: ts, clientID: clientID, seen: map[string]bool{}}
	rcv.srv = httptest.NewServer(http.HandlerFunc(rcv.serve))
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func (rcv *logoutReceiver) serve(w http.ResponseWriter, r *http.Request) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	rcv.requests++
	if rcv.requests <= rcv.failFirst {
		http.Error(w, "try again later", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tok := r.PostForm.Get("logout_token")
	claims, err := rcv.validate(tok)
	if err != nil {
		rcv.refusals = append(rcv.refusals, err.Error())
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	rcv.accepted = append(rcv.accepted, claims)
	rcv.raw = append(rcv.raw, tok)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// validate is Back-Channel Logout 2.6, steps 1 to 10.
func (rcv *logoutReceiver) validate(tok string) (map[string]any, error) {
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		return nil, err
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders["typ"].(string); typ != typLogoutToken {
		return nil, fmt.Errorf("typ %q", typ)
	}
	body, _ := rcv.ts.Keys.JWKS()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	keys := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(keys) != 1 {
		return nil, errors.New("unknown kid")
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return nil, err
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	now := float64(rcv.ts.Clock.Now().Unix())
	events, _ := c["events"].(map[string]any)
	member, ok := events[EventBackchannelLogout].(map[string]any)
	switch {
	case c["iss"] != rcv.ts.URL:
		return nil, fmt.Errorf("iss %v", c["iss"])
	case c["aud"] != rcv.clientID:
		return nil, fmt.Errorf("aud %v", c["aud"])
	case c["iat"] == nil || c["iat"].(float64) > now+60:
		return nil, errors.New("iat")
	case c["exp"] == nil || c["exp"].(float64) < now:
		return nil, errors.New("expired")
	case !ok || len(member) != 0:
		return nil, fmt.Errorf("events %v", c["events"])
	case c["sid"] == nil && c["sub"] == nil:
		return nil, errors.New("neither sid nor sub")
	case c["nonce"] != nil:
		return nil, errors.New("a logout token must not have a nonce")
	}
	jti, _ := c["jti"].(string)
	if jti == "" || rcv.seen[jti] {
		return nil, errors.New("replayed jti")
	}
	rcv.seen[jti] = true
	return c, nil
}

func (rcv *logoutReceiver) snapshot() (requests int, accepted []map[string]any) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return rcv.requests, slices.Clone(rcv.accepted)
}

// setLogoutURI sets the client's back-channel logout URI in the store.
func (ts *testServer) setLogoutURI(c *auth.Client, uri string) {
	ts.t.Helper()
	ctx := context.Background()
	stored, err := ts.Store.GetClient(ctx, c.ID)
	if err != nil {
		ts.t.Fatal(err)
	}
	stored.BackchannelLogoutURI = uri
	if err := ts.Store.UpdateClient(ctx, stored, stored.UpdatedAt); err != nil {
		ts.t.Fatal(err)
	}
	ts.Clients.Forget(c.ID)
}

// signInAt runs a code flow for c in browser b (signing in when the
// browser has no session) and returns the ID token's claims, verified by
// go-oidc.
func (ts *testServer) signInAt(t *testing.T, b *browser, c *auth.Client, secret string, extra ...oauth2.AuthCodeOption) (string, map[string]any) {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: provider.Endpoint(), RedirectURL: c.RedirectURIs[0], Scopes: []string{"openid"}}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("s", append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, extra...)...)
	p := b.get(authURL)
	if p.StatusCode == http.StatusSeeOther && p.location(t).Path == PathLogin {
		loc := p.location(t)
		lp := b.get(p.Request.URL.ResolveReference(loc).String())
		p = b.submit(lp, url.Values{"username": {"alice"}, "password": {testPassword}})
	}
	if p.StatusCode == http.StatusOK && strings.Contains(p.body, `value="allow"`) {
		p = b.submit(p, url.Values{"decision": {"allow"}})
	}
	code := b.codeFrom(p, c.RedirectURIs[0], "s")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID, Now: ts.Clock.Now}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return raw, claims
}

func (ts *testServer) notifier(t *testing.T, holder string, mod ...func(*LogoutNotifierConfig)) *LogoutNotifier {
	t.Helper()
	cfg := LogoutNotifierConfig{Store: ts.Store, Holder: holder, AllowLoopback: true}
	for _, m := range mod {
		m(&cfg)
	}
	n, err := ts.NewLogoutNotifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tick(t *testing.T, n *LogoutNotifier) {
	t.Helper()
	if err := n.Tick(context.Background()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

func openidClient(ts *testServer) (*auth.Client, string) {
	return ts.mustClient(client.Input{RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid"}})
}

// TestBackchannelLogout signs a user in to two clients, one of them with a
// back-channel logout URI, logs out at the end-session endpoint, and
// checks that exactly that client gets a valid logout token naming the
// session of its ID token; a replay of the token is refused by the
// receiver's jti check, and a second node (the lease) sends nothing more.
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	u := ts.mustUser("alice")
	a, secretA := openidClient(ts)
	other, secretOther := openidClient(ts)
	rcv := newLogoutReceiver(t, ts, a.ID)
	ts.setLogoutURI(a, rcv.srv.URL+"/logout")

	b := newBrowser(t, ts)
	idToken, claims := ts.signInAt(t, b, a, secretA)
	sid, _ := claims["sid"].(string)
	if sid == "" {
		t.Fatalf("ID token has no sid: %v", claims)
	}
	_, otherClaims := ts.signInAt(t, b, other, secretOther)
	if otherClaims["sid"] != sid {
		t.Fatalf("the same session has two sids: %v and %v", sid, otherClaims["sid"])
	}

	n1, n2 := ts.notifier(t, "node-1"), ts.notifier(t, "node-2")
	tick(t, n1)
	if req, _ := rcv.snapshot(); req != 0 {
		t.Fatalf("%d logout requests before any logout", req)
	}
	q := url.Values{"id_token_hint": {idToken}}
	if p := b.get(ts.URL + PathLogout + "?" + q.Encode()); p.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", p.StatusCode)
	}
	tick(t, n2) // not the lease holder: sends nothing
	tick(t, n1)
	tick(t, n1)
	req, got := rcv.snapshot()
	if req != 1 || len(got) != 1 {
		t.Fatalf("%d requests, %d tokens accepted (refused: %v), want one", req, len(got), rcv.refusals)
	}
	if got[0]["sid"] != sid || got[0]["sub"] != u.ID || got[0]["aud"] != a.ID {
		t.Fatalf("logout token claims %v, want sid %s, sub %s, aud %s", got[0], sid, u.ID, a.ID)
	}
	if exp, iat := got[0]["exp"].(float64), got[0]["iat"].(float64); exp-iat > 300 {
		t.Errorf("logout token lives %v s", exp-iat)
	}

	// A captured token replayed to the receiver is refused.
	resp, err := http.PostForm(rcv.srv.URL+"/logout", url.Values{"logout_token": {rcv.raw[0]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed logout token: %d, want 400", resp.StatusCode)
	}
}

// signedInWithReceiver is a server where alice signed in to a client
// whose back-channel logout URI is uri, or a receiver's when uri is "".
func signedInWithReceiver(t *testing.T, failFirst int, uri string) (*testServer, *auth.User, *auth.Client, *logoutReceiver) {
	ts := newTestServer(t, insecureCookies)
	u := ts.mustUser("alice")
	a, secretA := openidClient(ts)
	rcv := newLogoutReceiver(t, ts, a.ID)
	rcv.failFirst = failFirst
	if uri == "" {
		uri = rcv.srv.URL
	}
	ts.setLogoutURI(a, uri)
	ts.signInAt(t, newBrowser(t, ts), a, secretA)
	return ts, u, a, rcv
}

// TestBackchannelLogoutRetries: a receiver that fails twice gets the
// token on the third attempt, each after its backoff (an injected clock,
// no sleeps), with a new jti each time; the session here ends by a
// password reset on the account side.
func TestBackchannelLogoutRetries(t *testing.T) {
	t.Parallel()
	ts, u, _, rcv := signedInWithReceiver(t, 2, "")
	if err := ts.Accounts.ResetPassword(context.Background(), "admin", u.ID, "another correct horse battery"); err != nil {
		t.Fatal(err)
	}
	n := ts.notifier(t, "node-1", func(c *LogoutNotifierConfig) { c.RetryBase = 10 * time.Second })
	steps := []struct {
		advance  time.Duration
		requests int
	}{
		{0, 1},                // first attempt: 503
		{0, 1},                // not due yet
		{9 * time.Second, 1},  // still not due
		{time.Second, 2},      // 10 s after the first failure: 503 again
		{10 * time.Second, 2}, // the backoff doubled: 20 s
		{10 * time.Second, 3}, // delivered
		{time.Hour, 3},        // and nothing more
	}
	for i, st := range steps {
		ts.Clock.Add(st.advance)
		tick(t, n)
		if req, _ := rcv.snapshot(); req != st.requests {
			t.Fatalf("step %d: %d requests, want %d", i, req, st.requests)
		}
	}
	if _, got := rcv.snapshot(); len(got) != 1 || got[0]["sub"] != u.ID {
		t.Fatalf("accepted %v", got)
	}
}

// TestBackchannelLogoutGivesUp: after MaxAttempts failures the delivery is
// dropped and audited.
func TestBackchannelLogoutGivesUp(t *testing.T) {
	t.Parallel()
	ts, u, a, rcv := signedInWithReceiver(t, 1000, "")
	if _, err := ts.Accounts.Disable(context.Background(), "admin", u.ID); err != nil {
		t.Fatal(err)
	}
	n := ts.notifier(t, "node-1", func(c *LogoutNotifierConfig) { c.MaxAttempts, c.RetryBase = 3, time.Second })
	for range 10 {
		tick(t, n)
		ts.Clock.Add(time.Minute)
	}
	if req, _ := rcv.snapshot(); req != 3 {
		t.Fatalf("%d attempts, want 3", req)
	}
	ev := wantLogoutFailure(t, ts, a.ID, "gave_up")
	if ev.Details["attempts"] != "3" || !strings.Contains(ev.Details["last_error"], "503") {
		t.Fatalf("audit details %v", ev.Details)
	}
}

func wantLogoutFailure(t *testing.T, ts *testServer, clientID, reason string) auth.AuditEvent {
	t.Helper()
	evs, _, err := ts.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventBackchannelLogoutFailed})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].KeyID != clientID || evs[0].Reason != reason {
		t.Fatalf("audit events %+v, want one %s for %s", evs, reason, clientID)
	}
	return evs[0]
}

// TestBackchannelLogoutRefusesInternalReceivers is the server-side
// request forgery attack: a client registered with a logout URI on
// loopback, a private address or plain http gets nothing outside --dev.
func TestBackchannelLogoutRefusesInternalReceivers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, uri, reason string
		allowLoopback     bool
	}{
		{"loopback outside dev", "", "receiver_not_allowed", false},
		{"plain http to a public host", "http://rp.example.com/logout", "receiver_not_allowed", true},
		{"https to a private address", "https://10.1.2.3/logout", "gave_up", true},
		{"https to cloud metadata", "https://169.254.169.254/logout", "gave_up", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts, u, a, rcv := signedInWithReceiver(t, 0, tc.uri)
			if err := ts.Store.DeleteUserSessions(context.Background(), u.ID); err != nil {
				t.Fatal(err)
			}
			n := ts.notifier(t, "node-1", func(c *LogoutNotifierConfig) { c.AllowLoopback, c.MaxAttempts = tc.allowLoopback, 1 })
			tick(t, n)
			if req, _ := rcv.snapshot(); req != 0 {
				t.Fatalf("the receiver got %d requests", req)
			}
			ev := wantLogoutFailure(t, ts, a.ID, tc.reason)
			if tc.reason == "gave_up" && !strings.Contains(ev.Details["last_error"], "internal address") {
				t.Fatalf("last error %q, want the dialer's refusal", ev.Details["last_error"])
			}
		})
	}
}

// TestLogoutTokenClaims pins the token's header and claims.
func TestLogoutTokenClaims(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	now := ts.Clock.Now()
	tok, err := ts.logoutToken(&auth.LogoutDelivery{ClientID: "cli_x", UserID: "usr_x", SID: "sid_x"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := ts.logoutToken(&auth.LogoutDelivery{ClientID: "cli_x", UserID: "usr_x", SID: "sid_x"}, now)
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "logout+jwt" {
		t.Fatalf("typ %v", typ)
	}
	var c map[string]any
	json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c)
	jws2, _ := jose.ParseSigned(tok2, []jose.SignatureAlgorithm{jose.ES256})
	var c2 map[string]any
	json.Unmarshal(jws2.UnsafePayloadWithoutVerification(), &c2)
	if c["jti"] == c2["jti"] || c["jti"] == "" {
		t.Fatalf("jtis %v and %v: want unique", c["jti"], c2["jti"])
	}
	delete(c, "jti")
	want := map[string]any{"iss": ts.URL, "aud": "cli_x", "sub": "usr_x", "sid": "sid_x",
		"iat": float64(now.Unix()), "exp": float64(now.Add(LogoutTokenTTL).Unix()),
		"events": map[string]any{EventBackchannelLogout: map[string]any{}}}
	got, _ := json.Marshal(c)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Fatalf("claims\n%s\nwant\n%s", got, wantJSON)
	}
}
