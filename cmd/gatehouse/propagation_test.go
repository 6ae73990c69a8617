package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/background"
	"github.com/gatehouse-dev/gatehouse/internal/changes"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// propagationBound is what docs/configuration.md promises (the section on
// several nodes sharing one PostgreSQL database): a change made through
// one node refuses callers at every other node within a second
// (auth.FeedMaxAge), through the change feed.
const propagationBound = auth.FeedMaxAge

// refusedWithin polls cond until it holds, failing the test if that takes
// longer than propagationBound from the call: the change has just been
// committed at another node.
func refusedWithin(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > propagationBound {
			t.Fatalf("%s: not seen at node B within %v", what, propagationBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s: seen at node B after %v", what, time.Since(start).Round(time.Millisecond))
}

// TestChangesReachOtherNodesWithinASecond runs two nodes on one PostgreSQL
// database and makes, at node A, each kind of change that can refuse a
// caller; node B must refuse (or stop doing) what the change forbids
// within a second, although each was in B's caches or tables first.
func TestChangesReachOtherNodesWithinASecond(t *testing.T) {
	dsn := pgDSN(t)
	secret := make([]byte, 32)
	rand.Read(secret)
	clk := testenv.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	cfgA := testConfig(t, t.TempDir(), dsn)
	cfgA.Secret = secret
	cfgA.OAuth.Issuer = "http://127.0.0.1:1" // one issuer for the cluster
	cfgB := cfgA
	cfgB.DataDir = t.TempDir()
	_, adminKey, err := initialize(context.Background(), cfgA, NewLogger(cfgA, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, cfgA, clk, &testenv.SyncBuffer{})
	b := startNode(t, cfgB, clk, &testenv.SyncBuffer{})
	a.env["GATEHOUSE_ADMIN_KEY"], b.env["GATEHOUSE_ADMIN_KEY"] = adminKey, adminKey

	type client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	newClient := func(name string) client {
		var c client
		a.cliJSON(&c, "clients", "create", "--name", name, "--grant-types", "client_credentials",
			"--scopes", "orders:read", "--audience", "https://orders.example.test")
		return c
	}
	// issue asks node B's token endpoint for a token: its status and, on
	// success, the access token.
	issue := func(id, secret string) (int, string) {
		t.Helper()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}
		req, _ := http.NewRequest(http.MethodPost, b.main.URL()+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
				t.Fatal(err)
			}
		}
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, tok.AccessToken
	}
	tokenStatus := func(id, secret string) int {
		t.Helper()
		status, _ := issue(id, secret)
		return status
	}
	wantToken := func(c client) {
		t.Helper()
		if got := tokenStatus(c.ClientID, c.ClientSecret); got != http.StatusOK {
			t.Fatalf("node B's token endpoint answered %d before the change, want 200", got)
		}
	}

	// While the feed is lost the consumers that reread the store keep
	// the bound only if their kicks run (changes.Kick.Run; tested there
	// and in internal/signing): each must be one of B's background tasks.
	t.Run("kicks run", func(t *testing.T) {
		m := b.main
		for name, k := range map[string]*changes.Kick{"routes": m.kicks.routes, "signing": m.kicks.signing, "revocations": m.kicks.revocations} {
			if !slices.ContainsFunc(m.backgroundTasks(), func(task background.Task) bool { return task.Runner == k }) {
				t.Errorf("the kick of the %s is not run", name)
			}
		}
	})

	t.Run("api key revoked", func(t *testing.T) {
		var created struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		a.cliJSON(&created, "keys", "create", "--owner", "feed")
		if v := b.verify(created.Key); v.Code != "VALID" {
			t.Fatalf("node B before the revocation: %s", v.Code)
		}
		a.cli("keys", "revoke", created.ID)
		refusedWithin(t, "the revoked key refused", func() bool { return b.verify(created.Key).Code == "REVOKED" })
	})

	t.Run("api key updated", func(t *testing.T) {
		var created struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		a.cliJSON(&created, "keys", "create", "--owner", "feed", "--scopes", "orders:read")
		if v := b.verify(created.Key, "orders:read"); v.Code != "VALID" {
			t.Fatalf("node B before the update: %s", v.Code)
		}
		a.cli("keys", "update", created.ID, "--scopes", "orders:write")
		refusedWithin(t, "the key without its old scope refused", func() bool {
			return b.verify(created.Key, "orders:read").Code == "INSUFFICIENT_SCOPE"
		})
		a.cli("keys", "update", created.ID, "--allowed-ips", "192.0.2.0/24")
		refusedWithin(t, "the key restricted to networks refused", func() bool {
			return b.verify(created.Key).Code == "IP_NOT_ALLOWED"
		})
	})

	t.Run("client secret rotated", func(t *testing.T) {
		c := newClient("rotated")
		wantToken(c) // cached at B
		var rotated client
		a.cliJSON(&rotated, "clients", "rotate-secret", c.ClientID)
		refusedWithin(t, "the old secret refused", func() bool {
			return tokenStatus(c.ClientID, c.ClientSecret) == http.StatusUnauthorized
		})
		wantToken(client{c.ClientID, rotated.ClientSecret})
	})

	t.Run("client deleted", func(t *testing.T) {
		c := newClient("deleted")
		wantToken(c)
		a.cli("clients", "delete", c.ClientID)
		refusedWithin(t, "the deleted client refused", func() bool {
			return tokenStatus(c.ClientID, c.ClientSecret) == http.StatusUnauthorized
		})
	})

	t.Run("client deleted: its access token refused by the gateway", func(t *testing.T) {
		up := newUpstream(t, "jwtfeed")
		a.cli("routes", "create", "--name", "jwtfeed", "--path", "/jwtfeed", "--upstream", up.URL,
			"--policy", "jwt", "--scopes", "orders:read", "--any-audience")
		c := newClient("jwt-deleted")
		status, token := issue(c.ClientID, c.ClientSecret)
		if status != http.StatusOK {
			t.Fatalf("node B's token endpoint answered %d, want 200", status)
		}
		waitFor(t, "node B's gateway to accept the access token", func() bool {
			return gwGet(t, b.main.GatewayURL()+"/jwtfeed", bearer(token)).status == http.StatusOK
		})
		a.cli("clients", "delete", c.ClientID)
		refusedWithin(t, "the deleted client's access token refused by the gateway", func() bool {
			return gwGet(t, b.main.GatewayURL()+"/jwtfeed", bearer(token)).status == http.StatusUnauthorized
		})
	})

	t.Run("route changed and deleted", func(t *testing.T) {
		up := newUpstream(t, "feed")
		a.cli("routes", "create", "--name", "feed", "--path", "/feed", "--upstream", up.URL, "--policy", "public")
		waitFor(t, "node B to serve the route", func() bool {
			return gwGet(t, b.main.GatewayURL()+"/feed", nil).status == http.StatusOK
		})
		a.cli("routes", "update", "feed", "--policy", "api_key")
		refusedWithin(t, "a request without a key refused by the changed route", func() bool {
			return gwGet(t, b.main.GatewayURL()+"/feed", nil).status == http.StatusUnauthorized
		})
		a.cli("routes", "delete", "feed")
		refusedWithin(t, "the deleted route gone", func() bool {
			return gwGet(t, b.main.GatewayURL()+"/feed", nil).status == http.StatusNotFound
		})
	})

	// Users are not cached: sign-in reads the account on each attempt, so
	// this holds with no feed at all. It stays as the issue's list of
	// changes has it, and guards against a user cache added later.
	t.Run("user disabled", func(t *testing.T) {
		const pw = "a long and unguessable passphrase"
		var u struct {
			ID string `json:"id"`
		}
		a.cliStdin(pw+"\n", &u, "users", "create", "--username", "feeduser", "--password-stdin")
		signIn := func() error {
			_, err := b.main.Accounts.Authenticate(context.Background(), "feeduser", pw, "192.0.2.1", nil)
			return err
		}
		if err := signIn(); err != nil {
			t.Fatalf("sign-in at node B before the change: %v", err)
		}
		a.cli("users", "disable", u.ID)
		refusedWithin(t, "the disabled user's sign-in refused", func() bool { return signIn() != nil })
	})

	t.Run("consent revoked", func(t *testing.T) {
		const pw = "another long and unguessable passphrase"
		var u struct {
			ID string `json:"id"`
		}
		a.cliStdin(pw+"\n", &u, "users", "create", "--username", "consenting", "--password-stdin")
		c := newClient("consented")
		// A consent with an access token issued under it, as the
		// authorization code flow leaves them.
		now := clk.Now()
		ctx := context.Background()
		if err := a.main.Store.SaveConsent(ctx, &auth.Consent{UserID: u.ID, ClientID: c.ClientID, Scopes: []string{"orders:read"}, GrantedAt: now}); err != nil {
			t.Fatal(err)
		}
		hash := make([]byte, 32)
		rand.Read(hash)
		jti := "jti_feed_consent"
		if err := a.main.Store.CreateRefreshToken(ctx, &auth.RefreshToken{
			Hash: hash, FamilyID: "fam_feed_consent", ClientID: c.ClientID, UserID: u.ID, Scopes: []string{"orders:read"},
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour), FamilyExpiresAt: now.Add(2 * time.Hour),
		}, &auth.IssuedToken{JTI: jti, FamilyID: "fam_feed_consent", ExpiresAt: now.Add(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if b.main.Revocations.Revoked(jti) {
			t.Fatal("the token is revoked at node B before the consent is")
		}
		a.cli("users", "revoke-consent", u.ID, c.ClientID)
		refusedWithin(t, "the access token of the revoked consent on node B's revocation list", func() bool {
			return b.main.Revocations.Revoked(jti)
		})
	})

	t.Run("signing key retired", func(t *testing.T) {
		clk.Add(7 * time.Minute) // the next key has been published long enough
		before := b.main.Signing.CurrentKeyID()
		var rotated struct {
			KID string `json:"kid"`
		}
		a.cliJSON(&rotated, "signing-keys", "rotate")
		if rotated.KID == before {
			t.Fatalf("the rotation kept key %s", before)
		}
		refusedWithin(t, "node B no longer signing with the retired key", func() bool {
			return b.main.Signing.CurrentKeyID() == rotated.KID
		})
		// As a caller sees it: the tokens node B issues are signed with
		// the new key, not the retired one.
		c := newClient("after-rotation")
		status, token := issue(c.ClientID, c.ClientSecret)
		if status != http.StatusOK {
			t.Fatalf("node B's token endpoint answered %d after the rotation, want 200", status)
		}
		if kid := jwtKeyID(t, token); kid != rotated.KID {
			t.Fatalf("node B signed a token with key %q after the rotation to %q", kid, rotated.KID)
		}
	})
}

// jwtKeyID returns the kid of a JWT's header.
func jwtKeyID(t *testing.T, token string) string {
	t.Helper()
	header, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return h.KID
}
