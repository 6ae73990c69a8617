package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
)

// deviceClient registers a client allowed the device grant, straight in
// the store: public (client_id only) unless a secret is wanted, with the
// grants given (device_code and refresh_token by default) and no redirect
// URI, as `gatehouse clients create` registers a CLI.
func (ts *testServer) deviceClient(public bool, grants ...string) (*auth.Client, string) {
	ts.t.Helper()
	if len(grants) == 0 {
		grants = []string{auth.GrantDeviceCode, auth.GrantRefreshToken}
	}
	now := ts.Clock.Now()
	id, err := auth.NewID(client.IDPrefix, now)
	if err != nil {
		ts.t.Fatal(err)
	}
	c := &auth.Client{
		ID: id, Name: "Living-room TV", Public: public, AuthMethod: auth.AuthMethodNone,
		GrantTypes: grants, Scopes: []string{"openid", "profile", "offline_access", "read"},
		Audiences: []string{"https://api.example.com", "https://other.example.com"},
		CreatedAt: now, UpdatedAt: now,
	}
	var secret string
	if !public {
		var hash []byte
		if secret, hash, err = ts.hasher.New(client.SecretPrefix); err != nil {
			ts.t.Fatal(err)
		}
		c.AuthMethod, c.SecretHash, c.SecretHint = auth.AuthMethodSecretBasic, hash, secret[len(secret)-4:]
	}
	if err := ts.Store.CreateClient(context.Background(), c); err != nil {
		ts.t.Fatalf("CreateClient: %v", err)
	}
	return c, secret
}

// deviceAuth asks the device authorization endpoint for codes as a public
// client.
func (ts *testServer) deviceAuth(c *auth.Client, scope string, extra ...string) map[string]any {
	ts.t.Helper()
	form := url.Values{"client_id": {c.ID}, "scope": {scope}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Add(extra[i], extra[i+1])
	}
	return decode(ts.t.(*testing.T), ts.post(PathDeviceAuthorization, form), http.StatusOK)
}

// poll polls the token endpoint once as a public client.
func (ts *testServer) poll(c *auth.Client, deviceCode string) *http.Response {
	ts.t.Helper()
	return ts.post(PathToken, url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {c.ID}, "device_code": {deviceCode}})
}

// enterCode opens the verification page (pre-filled or not) and submits
// the code.
func (b *browser) enterCode(pageURL, typed string) *page {
	b.t.Helper()
	p := b.get(pageURL)
	if p.StatusCode != http.StatusOK {
		b.t.Fatalf("device page: %d %s", p.StatusCode, p.body)
	}
	checkPageHeaders(b.t, p.Response)
	values := url.Values{}
	if typed != "" {
		values.Set("user_code", typed)
	}
	return b.submit(p, values)
}

// approveDevice takes a browser through the whole page: code, sign-in,
// consent with the decision.
func (b *browser) approveDevice(t *testing.T, pageURL, typed, username, decision string) *page {
	t.Helper()
	lp := b.enterCode(pageURL, typed)
	if lp.StatusCode != http.StatusOK || !strings.Contains(lp.body, `name="password"`) {
		t.Fatalf("after the code, want the sign-in form; got %d:\n%s", lp.StatusCode, lp.body)
	}
	cp := b.submit(lp, url.Values{"username": {username}, "password": {testPassword}})
	if cp.StatusCode != http.StatusOK || !strings.Contains(cp.body, `value="allow"`) {
		t.Fatalf("after sign-in, want the consent form; got %d:\n%s", cp.StatusCode, cp.body)
	}
	checkPageHeaders(t, cp.Response)
	return b.submit(cp, url.Values{"decision": {decision}})
}

// realTime makes the server tell time by the wall clock, for tests whose
// real client waits between polls by it.
func realTime(c *Config) { c.Now = func() time.Time { return time.Now().UTC() } }

func fastPolling(c *Config) { c.DeviceInterval = time.Second }

// TestDeviceFlowWithRealClients runs the device flow with
// golang.org/x/oauth2 (DeviceAuth, DeviceAccessToken) while a browser
// approves it through the page, opened at verification_uri_complete;
// the tokens then work: the access token verifies, the ID token names the
// user, the refresh token refreshes.
func TestDeviceFlowWithRealClients(t *testing.T) {
	ts := newTestServer(t, insecureCookies, realTime, fastPolling)
	c, _ := ts.deviceClient(true)
	u := ts.mustUser("alice")

	conf := &oauth2.Config{ClientID: c.ID, Scopes: []string{"openid", "offline_access", "read"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: ts.URL + PathDeviceAuthorization, TokenURL: ts.URL + PathToken, AuthStyle: oauth2.AuthStyleInParams}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if da.VerificationURI != ts.URL+PathDevice || da.VerificationURIComplete != ts.URL+PathDevice+"?user_code="+da.UserCode ||
		da.Interval != 1 || time.Until(da.Expiry) < 9*time.Minute || !strings.HasPrefix(da.DeviceCode, PrefixDeviceCode) {
		t.Fatalf("device auth response %+v", da)
	}
	if len(da.UserCode) != 9 || da.UserCode[4] != '-' || strings.Trim(da.UserCode, userCodeAlphabet+"-") != "" {
		t.Fatalf("user code %q is not XXXX-XXXX from the alphabet", da.UserCode)
	}

	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := conf.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()

	b := newBrowser(t, ts)
	// The complete URI pre-fills the code, and the user still confirms it.
	p := b.get(da.VerificationURIComplete)
	if f := p.form(t); f.fields.Get("user_code") != da.UserCode {
		t.Fatalf("pre-filled code %q, want %q", f.fields.Get("user_code"), da.UserCode)
	}
	end := b.approveDevice(t, da.VerificationURIComplete, "", "alice", "allow")
	if end.StatusCode != http.StatusOK || !strings.Contains(end.body, "Device connected") {
		t.Fatalf("result page %d:\n%s", end.StatusCode, end.body)
	}

	r := <-done
	if r.err != nil {
		t.Fatalf("DeviceAccessToken: %v", r.err)
	}
	claims, err := ts.verifyAccess(r.tok.AccessToken, "https://api.example.com")
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	if claims.Subject != u.ID || claims.ClientID != c.ID || strings.Join(claims.Scopes, " ") != "offline_access openid read" {
		t.Fatalf("claims %+v", claims)
	}
	if idt, _ := r.tok.Extra("id_token").(string); idt == "" {
		t.Fatal("no ID token for openid")
	}
	if r.tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: r.tok.RefreshToken}).Token()
	if err != nil || fresh.AccessToken == "" || fresh.RefreshToken == r.tok.RefreshToken {
		t.Fatalf("refresh: %v %+v", err, fresh)
	}
	// The approval is a consent the user can see and withdraw.
	if cs, err := ts.ListConsents(ctx, u.ID); err != nil || len(cs) != 1 || cs[0].ClientID != c.ID {
		t.Fatalf("consents %v %v", cs, err)
	}
}

// TestDevicePolling walks the token endpoint's answers with the test's
// clock: pending, slow_down (and the grown interval holds), denied or
// approved, expired, and the tokens exactly once.
func TestDevicePolling(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.deviceClient(true)
	ts.mustUser("alice")

	t.Run("pending, slow_down, then the tokens once; a second presentation revokes them", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid offline_access")
		dc := da["device_code"].(string)
		if da["interval"] != 5.0 || da["expires_in"] != 600.0 {
			t.Fatalf("interval %v, expires_in %v", da["interval"], da["expires_in"])
		}
		wantError(t, ts.poll(c, dc), 400, CodeAuthorizationPending)
		ts.Clock.Add(2 * time.Second)
		wantError(t, ts.poll(c, dc), 400, CodeSlowDown)
		// The interval is now 10 s: 6 s later is still too fast.
		ts.Clock.Add(6 * time.Second)
		wantError(t, ts.poll(c, dc), 400, CodeSlowDown)
		ts.Clock.Add(15 * time.Second)
		wantError(t, ts.poll(c, dc), 400, CodeAuthorizationPending)

		b := newBrowser(t, ts)
		b.approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
		ts.Clock.Add(15 * time.Second)
		tok := decode(t, ts.poll(c, dc), http.StatusOK)
		if tok["refresh_token"] == nil || tok["id_token"] == nil || tok["token_type"] != "Bearer" {
			t.Fatalf("token response %v", tok)
		}
		ts.Clock.Add(15 * time.Second)
		wantError(t, ts.poll(c, dc), 400, CodeInvalidGrant)
		// The device code was stolen, or the client is broken: what it
		// got is revoked.
		refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ID}, "refresh_token": {tok["refresh_token"].(string)}}
		wantError(t, ts.post(PathToken, refresh), 400, CodeInvalidGrant)
		if claims, err := ts.verifyAccess(tok["access_token"].(string), ""); err != nil {
			t.Fatal(err)
		} else if revoked, _ := ts.Store.IsTokenRevoked(context.Background(), claims.ID); !revoked {
			t.Fatal("the access token of a reused device code is not revoked")
		}
	})

	t.Run("denied", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		b := newBrowser(t, ts)
		end := b.approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "deny")
		if end.StatusCode != http.StatusOK || !strings.Contains(end.body, "did not get access") {
			t.Fatalf("result page %d:\n%s", end.StatusCode, end.body)
		}
		wantError(t, ts.poll(c, da["device_code"].(string)), 400, CodeAccessDenied)
	})

	t.Run("expired", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		ts.Clock.Add(10 * time.Minute)
		wantError(t, ts.poll(c, da["device_code"].(string)), 400, CodeExpiredToken)
		// Nor can the user approve it any more.
		b := newBrowser(t, ts)
		p := b.enterCode(ts.URL+PathDevice, da["user_code"].(string))
		if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, msgDeviceCodeInvalid) {
			t.Fatalf("expired code on the page: %d\n%s", p.StatusCode, p.body)
		}
	})

	t.Run("approved but collected after expiry", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		newBrowser(t, ts).approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
		ts.Clock.Add(10 * time.Minute)
		wantError(t, ts.poll(c, da["device_code"].(string)), 400, CodeExpiredToken)
	})
}

// TestDeviceErrors checks every refusal of the two endpoints.
func TestDeviceErrors(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	pub, _ := ts.deviceClient(true)
	conf, secret := ts.deviceClient(false)
	noDevice, _ := ts.deviceClient(true, auth.GrantRefreshToken)
	noRefresh, _ := ts.deviceClient(true, auth.GrantDeviceCode)
	other, _ := ts.deviceClient(true)
	ts.mustUser("alice")

	t.Run("device authorization endpoint", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			form   url.Values
			basic  []string
			status int
			code   string
		}{
			{"unknown client", url.Values{"client_id": {"cli_nobody"}}, nil, 401, CodeInvalidClient},
			{"no client", url.Values{"scope": {"openid"}}, nil, 401, CodeInvalidClient},
			{"confidential client without its secret", url.Values{"client_id": {conf.ID}}, nil, 401, CodeInvalidClient},
			{"confidential client with a wrong secret", url.Values{}, []string{conf.ID, "gate_cs_wrong"}, 401, CodeInvalidClient},
			{"client not allowed the grant", url.Values{"client_id": {noDevice.ID}}, nil, 400, CodeUnauthorizedClient},
			{"scope outside the client's", url.Values{"client_id": {pub.ID}, "scope": {"admin"}}, nil, 400, CodeInvalidScope},
			{"malformed scope", url.Values{"client_id": {pub.ID}, "scope": {"read  openid"}}, nil, 400, CodeInvalidScope},
			{"resource outside the client's", url.Values{"client_id": {pub.ID}, "resource": {"https://evil.example.com"}}, nil, 400, CodeInvalidTarget},
			{"parameter twice", url.Values{"client_id": {pub.ID}, "scope": {"openid", "read"}}, nil, 400, CodeInvalidRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, ts.post(PathDeviceAuthorization, tc.form, tc.basic...), tc.status, tc.code)
			})
		}
		t.Run("GET", func(t *testing.T) {
			resp, err := http.Get(ts.URL + PathDeviceAuthorization)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			wantError(t, resp, http.StatusMethodNotAllowed, CodeInvalidRequest)
		})
		t.Run("confidential client with its secret", func(t *testing.T) {
			m := decode(t, ts.post(PathDeviceAuthorization, url.Values{"scope": {"read"}}, conf.ID, secret), 200)
			if m["device_code"] == nil || m["user_code"] == nil {
				t.Fatalf("response %v", m)
			}
		})
	})

	t.Run("token endpoint", func(t *testing.T) {
		da := ts.deviceAuth(pub, "openid")
		dc := da["device_code"].(string)
		unknown, _, err := ts.hasher.New(PrefixDeviceCode)
		if err != nil {
			t.Fatal(err)
		}
		grant := func(id, code string) url.Values {
			return url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {id}, "device_code": {code}}
		}
		for _, tc := range []struct {
			name string
			form url.Values
			code string
		}{
			{"no device code", url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {pub.ID}}, CodeInvalidRequest},
			{"malformed device code", grant(pub.ID, "gate_dc_nope"), CodeInvalidGrant},
			{"an authorization code for a device code", grant(pub.ID, strings.Replace(dc, PrefixDeviceCode, PrefixAuthCode, 1)), CodeInvalidGrant},
			{"unknown device code", grant(pub.ID, unknown), CodeInvalidGrant},
			{"another client's device code", grant(other.ID, dc), CodeInvalidGrant},
			{"client not allowed the grant", grant(noDevice.ID, dc), CodeUnauthorizedClient},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, ts.post(PathToken, tc.form), 400, tc.code)
			})
		}
		// Another client's poll did not count as this device's.
		wantError(t, ts.poll(pub, dc), 400, CodeAuthorizationPending)
	})

	t.Run("no refresh token without the refresh grant", func(t *testing.T) {
		da := ts.deviceAuth(noRefresh, "openid offline_access")
		newBrowser(t, ts).approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
		tok := decode(t, ts.poll(noRefresh, da["device_code"].(string)), 200)
		if tok["refresh_token"] != nil || tok["id_token"] == nil {
			t.Fatalf("token response %v", tok)
		}
	})

	t.Run("no ID token without openid, resource narrows the audience", func(t *testing.T) {
		da := ts.deviceAuth(pub, "read", "resource", "https://api.example.com", "resource", "https://other.example.com")
		newBrowser(t, ts).approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
		resp := ts.post(PathToken, url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {pub.ID},
			"device_code": {da["device_code"].(string)}, "resource": {"https://other.example.com"}})
		tok := decode(t, resp, 200)
		if tok["id_token"] != nil || tok["refresh_token"] != nil {
			t.Fatalf("token response %v", tok)
		}
		if _, err := ts.verifyAccess(tok["access_token"].(string), "https://other.example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.verifyAccess(tok["access_token"].(string), "https://api.example.com"); err == nil {
			t.Fatal("the audience was not narrowed")
		}
	})
}

// TestDevicePage checks the page's steps and refusals: normalised input,
// an already signed-in user goes straight to consent (every time, even
// with a remembered consent), forms from elsewhere or without their
// token are refused, a decided code cannot be decided again.
func TestDevicePage(t *testing.T) {
	ts := newTestServer(t, insecureCookies)
	c, _ := ts.deviceClient(true)
	ts.mustUser("alice")

	t.Run("typed in lower case with spaces, the code is found", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		typed := " " + strings.ToLower(strings.Replace(da["user_code"].(string), "-", " ", 1)) + " "
		p := newBrowser(t, ts).enterCode(ts.URL+PathDevice, typed)
		if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `name="password"`) || !strings.Contains(p.body, "Living-room TV") {
			t.Fatalf("%d\n%s", p.StatusCode, p.body)
		}
	})

	t.Run("signed in: consent at once, with the code and the warning, every time", func(t *testing.T) {
		b := newBrowser(t, ts)
		da := ts.deviceAuth(c, "openid read")
		b.approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
		da2 := ts.deviceAuth(c, "openid read")
		cp := b.enterCode(ts.URL+PathDevice+"?user_code="+url.QueryEscape(da2["user_code"].(string)), "")
		if cp.StatusCode != http.StatusOK || !strings.Contains(cp.body, `value="allow"`) ||
			!strings.Contains(cp.body, da2["user_code"].(string)) || !strings.Contains(cp.body, "in front of you") {
			t.Fatalf("%d\n%s", cp.StatusCode, cp.body)
		}
		// The form names the code it was shown for: another code in it
		// is refused.
		da3 := ts.deviceAuth(c, "openid")
		code3, _ := normalizeUserCode(da3["user_code"].(string))
		p := b.submit(cp, url.Values{"decision": {"allow"}, "request": {code3}})
		wantErrorPage(t, p, http.StatusForbidden)
		wantError(t, ts.poll(c, da3["device_code"].(string)), 400, CodeAuthorizationPending)
		// Decided once; the same form again finds the code gone.
		if p := b.submit(cp, url.Values{"decision": {"deny"}}); p.StatusCode != http.StatusOK {
			t.Fatalf("decision: %d\n%s", p.StatusCode, p.body)
		}
		if p := b.submit(cp, url.Values{"decision": {"allow"}}); p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "no longer valid") {
			t.Fatalf("second decision: %d\n%s", p.StatusCode, p.body)
		}
		wantError(t, ts.poll(c, da2["device_code"].(string)), 400, CodeAccessDenied)
	})

	t.Run("malformed codes are refused without a lookup", func(t *testing.T) {
		for _, typed := range []string{"", "BCDF-GHJ", "BCDF-GHJKL", "AEIO-UBCD", "BCDF-GHJ1", strings.Repeat("B", 40)} {
			p := newBrowser(t, ts).enterCode(ts.URL+PathDevice, typed)
			if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, msgDeviceCodeFormat) {
				t.Fatalf("%q: %d\n%s", typed, p.StatusCode, p.body)
			}
		}
	})

	t.Run("a form from another site or without its token is refused", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		b := newBrowser(t, ts)
		p := b.get(ts.URL + PathDevice)
		f := p.form(t)
		f.fields.Set("user_code", da["user_code"].(string))
		wantErrorPage(t, b.post(f.action, f.fields, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
		f.fields.Set("csrf_token", "forged")
		if p := b.post(f.action, f.fields); p.StatusCode != http.StatusForbidden || !strings.Contains(p.body, msgDeviceFormExpired) {
			t.Fatalf("%d\n%s", p.StatusCode, p.body)
		}
		// A sign-in form for a code never entered (a token forged for it)
		// is refused before the password is checked.
		p = b.post(ts.URL+PathDevice, url.Values{"request": {"BCDFGHJK"}, "csrf_token": {"x"}, "username": {"alice"}, "password": {testPassword}})
		if p.StatusCode != http.StatusForbidden {
			t.Fatalf("%d\n%s", p.StatusCode, p.body)
		}
	})

	t.Run("a deleted client's code is not valid", func(t *testing.T) {
		gone, _ := ts.deviceClient(true)
		da := ts.deviceAuth(gone, "openid")
		if err := ts.Clients.Delete(context.Background(), "test", gone.ID); err != nil {
			t.Fatal(err)
		}
		p := newBrowser(t, ts).enterCode(ts.URL+PathDevice, da["user_code"].(string))
		if p.StatusCode != http.StatusBadRequest {
			t.Fatalf("%d\n%s", p.StatusCode, p.body)
		}
	})

	t.Run("wrong password keeps the code", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		b := newBrowser(t, ts)
		lp := b.enterCode(ts.URL+PathDevice, da["user_code"].(string))
		p := b.submit(lp, url.Values{"username": {"alice"}, "password": {"wrong"}})
		if p.StatusCode != http.StatusUnauthorized || !strings.Contains(p.body, `name="password"`) {
			t.Fatalf("%d\n%s", p.StatusCode, p.body)
		}
		cp := b.submit(p, url.Values{"username": {"alice"}, "password": {testPassword}})
		if cp.StatusCode != http.StatusOK || !strings.Contains(cp.body, `value="allow"`) {
			t.Fatalf("%d\n%s", cp.StatusCode, cp.body)
		}
	})
}

// decidedMeanwhileStore is a store in which, every time the page decides
// a device grant, another browser has just denied it: the page's decision
// then finds it decided (ECONFLICT), as in a real race between two tabs.
type decidedMeanwhileStore struct{ auth.OAuthStore }

func (s decidedMeanwhileStore) DecideDeviceGrant(ctx context.Context, userCodeHash []byte, d auth.DeviceDecision, at time.Time) (*auth.DeviceGrant, error) {
	other := auth.DeviceDecision{UserID: d.UserID, AuthTime: d.AuthTime, SessionID: "other-tab"}
	if _, err := s.OAuthStore.DecideDeviceGrant(ctx, userCodeHash, other, at); err != nil {
		return nil, err
	}
	return s.OAuthStore.DecideDeviceGrant(ctx, userCodeHash, d, at)
}

// TestDeviceFailedDecisionLeavesNoConsent is the attack on the ordering
// of the consent page: an "allow" whose decision fails (the grant decided
// elsewhere, or expired, between the page's check and its write) must not
// leave a remembered consent, which a later code flow (or prompt=none)
// would take as the user's.
func TestDeviceFailedDecisionLeavesNoConsent(t *testing.T) {
	ts := newTestServer(t, insecureCookies, func(c *Config) { c.Store = decidedMeanwhileStore{c.Store} })
	c, _ := ts.deviceClient(true)
	u := ts.mustUser("alice")
	da := ts.deviceAuth(c, "openid read")
	p := newBrowser(t, ts).approveDevice(t, ts.URL+PathDevice, da["user_code"].(string), "alice", "allow")
	if p.StatusCode != http.StatusConflict || !strings.Contains(p.body, "no longer valid") {
		t.Fatalf("allow on a grant decided meanwhile: %d\n%s", p.StatusCode, p.body)
	}
	wantError(t, ts.poll(c, da["device_code"].(string)), 400, CodeAccessDenied)
	consent, err := ts.Store.GetConsent(context.Background(), u.ID, c.ID)
	if auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("a failed device decision left a consent: %+v, %v", consent, err)
	}
	if covered, err := ts.consentCovers(context.Background(), u.ID, c.ID, []string{"openid", "read"}); err != nil || covered {
		t.Fatalf("consent covers the scopes after a failed decision: %v, %v", covered, err)
	}
}

// TestDeviceUserCodeBruteForce is the attack: guessing user codes on the
// page. The guesser is stopped per address and per browser; a code
// guessed right is stopped per code; a person at another address is not
// affected.
func TestDeviceUserCodeBruteForce(t *testing.T) {
	ts := newTestServer(t, insecureCookies, func(c *Config) {
		c.DeviceAddressAttempts = 6
		c.DeviceBrowserAttempts = 4
	})
	c, _ := ts.deviceClient(true)
	ts.mustUser("alice")
	da := ts.deviceAuth(c, "openid")
	guesses := func(b *browser, n int) (refusedAt int) {
		t.Helper()
		for i := range n {
			code, err := newUserCode()
			if err != nil {
				t.Fatal(err)
			}
			p := b.enterCode(ts.URL+PathDevice, code)
			switch p.StatusCode {
			case http.StatusBadRequest:
			case http.StatusTooManyRequests:
				if p.Header.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
				return i
			default:
				t.Fatalf("guess %d: %d\n%s", i, p.StatusCode, p.body)
			}
		}
		return n
	}

	t.Run("per browser", func(t *testing.T) {
		b := newBrowser(t, ts)
		b.addr = "192.0.2.1:1000"
		if n := guesses(b, 10); n != 4 {
			t.Fatalf("the browser was stopped after %d guesses, want 4", n)
		}
		// The right code is refused too: the limit comes before the lookup.
		if p := b.enterCode(ts.URL+PathDevice, da["user_code"].(string)); p.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right code after the limit: %d", p.StatusCode)
		}
	})

	t.Run("per address, whatever the browser", func(t *testing.T) {
		total := 0
		for range 4 {
			b := newBrowser(t, ts) // fresh cookies each time
			b.addr = "198.51.100.7:2000"
			n := guesses(b, 4)
			total += n
			if n < 4 {
				break
			}
		}
		if total != 6 {
			t.Fatalf("the address was stopped after %d guesses, want 6", total)
		}
		// An IPv6 guesser walking its /64 is one address.
		for i := range 8 {
			b := newBrowser(t, ts)
			b.addr = fmt.Sprintf("[2001:db8:1:2::%x]:3000", i+10)
			if n := guesses(b, 1); n == 0 {
				if i != 6 {
					t.Fatalf("the /64 was stopped after %d guesses, want 6", i)
				}
				break
			}
			if i == 7 {
				t.Fatal("the /64 was never stopped")
			}
		}
		// Someone else is not affected.
		b := newBrowser(t, ts)
		b.addr = "203.0.113.9:4000"
		if p := b.enterCode(ts.URL+PathDevice, da["user_code"].(string)); p.StatusCode != http.StatusOK {
			t.Fatalf("another address: %d\n%s", p.StatusCode, p.body)
		}
	})

	t.Run("per code", func(t *testing.T) {
		da := ts.deviceAuth(c, "openid")
		for i := range deviceCodeEntries + 1 {
			b := newBrowser(t, ts)
			b.addr = fmt.Sprintf("203.0.113.%d:5000", i+1)
			p := b.enterCode(ts.URL+PathDevice, da["user_code"].(string))
			want := http.StatusOK
			if i == deviceCodeEntries {
				want = http.StatusTooManyRequests
			}
			if p.StatusCode != want {
				t.Fatalf("entry %d of the code: %d, want %d\n%s", i+1, p.StatusCode, want, p.body)
			}
		}
	})
}

// TestDeviceDiscovery checks the metadata names the endpoint and the grant.
func TestDeviceDiscovery(t *testing.T) {
	ts := newTestServer(t)
	resp, err := http.Get(ts.URL + PathOIDCDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := decode(t, resp, 200)
	if m["device_authorization_endpoint"] != ts.URL+PathDeviceAuthorization {
		t.Fatalf("device_authorization_endpoint %v", m["device_authorization_endpoint"])
	}
	found := false
	for _, g := range m["grant_types_supported"].([]any) {
		found = found || g == auth.GrantDeviceCode
	}
	if !found {
		t.Fatalf("grant_types_supported %v", m["grant_types_supported"])
	}
}
