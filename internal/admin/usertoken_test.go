package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/verify"
)

const testPassword = "a long and unguessable passphrase"

// tokenEnv is newOAuthEnv with users, and tokens signed by its keyring as
// the authorization server signs them.
type tokenEnv struct {
	*testEnv
	t *testing.T
}

func newTokenEnv(t *testing.T) tokenEnv {
	return tokenEnv{newOAuthEnv(t), t}
}

func (e tokenEnv) user(name, role string, owners ...string) *auth.User {
	e.t.Helper()
	u, err := e.accounts.Create(context.Background(), auth.ActorSystem, account.CreateInput{Username: name, Password: testPassword, Role: role, Owners: owners})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// claims are those of an access token of the CLI's sign-in for u, as the
// device grant issues them.
func (e tokenEnv) claims(u *auth.User) verify.Claims {
	now := e.clock.Now()
	return verify.Claims{
		Issuer: testIssuer, Subject: u.ID, Audience: []string{Audience(testIssuer)},
		ExpiresAt: now.Add(10 * time.Minute), IssuedAt: now, ID: rand.Text(),
		ClientID: CLIClientID, Scopes: []string{"offline_access"}, AuthTime: now,
	}
}

func (e tokenEnv) sign(typ string, c verify.Claims) string {
	e.t.Helper()
	tok, err := e.signing.Sign(typ, c)
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok)
	return tok
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestUserAccessTokensOnTheAdminAPI(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	ctx := context.Background()
	ada := e.user("ada", auth.RoleAdmin)
	dev := e.user("dev", auth.RoleDeveloper, "billing")
	gone := e.user("gone", auth.RoleAdmin)
	if _, err := e.accounts.Disable(ctx, auth.ActorSystem, gone.ID); err != nil {
		t.Fatal(err)
	}
	reset := e.user("reset", auth.RoleAdmin)

	good := e.sign("at+jwt", e.claims(ada))
	revoked := e.claims(ada)
	if err := e.db.RevokeToken(ctx, auth.RevokedToken{JTI: revoked.ID, ExpiresAt: revoked.ExpiresAt, RevokedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	withClaims := func(change func(*verify.Claims)) string {
		c := e.claims(ada)
		change(&c)
		return e.sign("at+jwt", c)
	}
	resetClaims := e.claims(reset)
	e.clock.Add(time.Hour) // the reset's password changes after its sign-in
	if err := e.accounts.ResetPassword(ctx, auth.ActorSystem, reset.ID, testPassword+" 2"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(-time.Hour)
	resetClaims.ExpiresAt = e.clock.Now().Add(2 * time.Hour)

	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"an admin's token of the CLI's sign-in is 200", bearer(good), http.StatusOK},
		{"a developer's token is 403", bearer(e.sign("at+jwt", e.claims(dev))), http.StatusForbidden},
		{"a disabled user's token is 401", bearer(e.sign("at+jwt", e.claims(gone))), http.StatusUnauthorized},
		{"a token issued before a password change is 401", bearer(e.sign("at+jwt", resetClaims)), http.StatusUnauthorized},
		{"a revoked token is 401", bearer(e.sign("at+jwt", revoked)), http.StatusUnauthorized},
		{"a token for another audience (the issuer's) is 401", bearer(withClaims(func(c *verify.Claims) { c.Audience = []string{testIssuer} })), http.StatusUnauthorized},
		{"a token for an API beside it is 401", bearer(withClaims(func(c *verify.Claims) { c.Audience = []string{testIssuer + "/administration"} })), http.StatusUnauthorized},
		{"a token of another client, even for the admin API, is 401", bearer(withClaims(func(c *verify.Claims) { c.ClientID = "cli_other" })), http.StatusUnauthorized},
		{"a token of another issuer is 401", bearer(withClaims(func(c *verify.Claims) { c.Issuer = "https://evil.example.test" })), http.StatusUnauthorized},
		{"a token without a jti is 401", bearer(withClaims(func(c *verify.Claims) { c.ID = "" })), http.StatusUnauthorized},
		{"a token of an unknown user is 401", bearer(withClaims(func(c *verify.Claims) { c.Subject = "usr_nobody" })), http.StatusUnauthorized},
		{"a client's own token (sub is the client) is 401", bearer(withClaims(func(c *verify.Claims) { c.Subject = CLIClientID; c.AuthTime = time.Time{} })), http.StatusUnauthorized},
		{"a DPoP-bound token presented as a bearer token is 401", bearer(withClaims(func(c *verify.Claims) { c.JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" })), http.StatusUnauthorized},
		{"an expired token is 401", bearer(withClaims(func(c *verify.Claims) { c.ExpiresAt = e.clock.Now().Add(-time.Hour) })), http.StatusUnauthorized},
		{"an ID token (typ JWT) is 401", bearer(e.sign("JWT", e.claims(ada))), http.StatusUnauthorized},
		{"a token signed by another key under the keyring's kid is 401", bearer(e.forged(e.claims(ada))), http.StatusUnauthorized},
		{"an unsigned token (alg none) is 401", bearer(unsigned(e.claims(ada))), http.StatusUnauthorized},
		{"three dots of garbage are 401", bearer("a.b.c"), http.StatusUnauthorized},
		{"a token with its signature cut off is 401", bearer(good[:strings.LastIndex(good, ".")+1]), http.StatusUnauthorized},
		{"a token in X-API-Key is an admin key, and not one: 401", http.Header{"X-Api-Key": {good}}, http.StatusUnauthorized},
		{"the admin key still works", e.adminHeader(), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodGet, "/admin/v1/clients", "", nil, tt.header)
			assertStatusProblem(t, resp, body, tt.status)
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="gatehouse"`) {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("the developer is told why", func(t *testing.T) {
		resp, body := e.do(t, http.MethodGet, "/admin/v1/keys", "", nil, bearer(e.sign("at+jwt", e.claims(dev))))
		p := assertProblem(t, resp, body, http.StatusForbidden)
		if !strings.Contains(p.Detail, "for administrators") || !strings.Contains(p.Detail, "dashboard") {
			t.Errorf("detail %q", p.Detail)
		}
	})

	t.Run("a refused token says invalid_token", func(t *testing.T) {
		resp, _ := e.do(t, http.MethodGet, "/admin/v1/keys", "", nil, bearer(e.sign("at+jwt", e.claims(gone))))
		if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="gatehouse", error="invalid_token"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
	})

	t.Run("the audit log names the user as the actor", func(t *testing.T) {
		c := NewClient(e.ts.URL, good, e.ts.Client())
		created, err := c.CreateKey(ctx, CreateKeyRequest{Owner: "billing", Name: "made by ada"})
		if err != nil {
			t.Fatal(err)
		}
		e.secrets = append(e.secrets, created.Secret)
		events, _, err := e.db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: created.ID, Limit: 10})
		if err != nil || len(events) != 1 || events[0].Actor != ada.ID {
			t.Fatalf("audit events %+v, %v; want one with actor %s", events, err, ada.ID)
		}
		if !strings.Contains(e.logs.String(), `"user_id":"`+ada.ID+`"`) {
			t.Error("the request log does not name the user")
		}
	})

	t.Run("a user disabled after signing in is refused at once", func(t *testing.T) {
		bob := e.user("bob", auth.RoleAdmin)
		tok := e.sign("at+jwt", e.claims(bob))
		if resp, body := e.do(t, http.MethodGet, "/admin/v1/keys", "", nil, bearer(tok)); resp.StatusCode != http.StatusOK {
			t.Fatalf("before: %d %s", resp.StatusCode, body)
		}
		if _, err := e.accounts.Disable(ctx, ada.ID, bob.ID); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(t, http.MethodGet, "/admin/v1/keys", "", nil, bearer(tok))
		assertProblem(t, resp, body, http.StatusUnauthorized)
	})

	t.Run("a user demoted to developer is refused at once", func(t *testing.T) {
		cy := e.user("cy", auth.RoleAdmin)
		tok := e.sign("at+jwt", e.claims(cy))
		if _, err := e.accounts.Update(ctx, ada.ID, cy.ID, account.UpdateInput{Role: ptr(auth.RoleDeveloper)}); err != nil {
			t.Fatal(err)
		}
		resp, body := e.do(t, http.MethodGet, "/admin/v1/keys", "", nil, bearer(tok))
		assertProblem(t, resp, body, http.StatusForbidden)
	})

	e.assertNoSecretLogged(t)
}

// assertStatusProblem checks the status, and the problem body of an error.
func assertStatusProblem(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if status >= 400 {
		assertProblem(t, resp, body, status)
		return
	}
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
}

// forged signs c with a key of its own under the kid of the keyring's
// current key: what an attacker who knows the JWKS can make.
func (e tokenEnv) forged(c verify.Claims) string {
	e.t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	kid := e.signing.Keys()[0].ID
	for _, k := range e.signing.Keys() {
		if k.Status == signing.StatusCurrent {
			kid = k.ID
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		e.t.Fatal(err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// unsigned is c as a JWT with alg none.
func unsigned(c verify.Claims) string {
	payload, _ := json.Marshal(c)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + enc(payload) + "."
}

// refreshingCredential hands out a first token, and another once the
// server has refused the first.
type refreshingCredential struct {
	first, next string
	rejected    atomic.Int32
	retry       bool
}

func (c *refreshingCredential) Bearer(context.Context) (string, error) {
	if c.rejected.Load() > 0 {
		return c.next, nil
	}
	return c.first, nil
}

func (c *refreshingCredential) Rejected(_ context.Context, bearer string) bool {
	c.rejected.Add(1)
	return c.retry && bearer == c.first
}

func TestClientRetriesOnceWithARefreshedCredential(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	ctx := context.Background()
	ada := e.user("ada", auth.RoleAdmin)
	expiredClaims := e.claims(ada)
	expiredClaims.ExpiresAt = e.clock.Now().Add(-time.Hour)
	expired, fresh := e.sign("at+jwt", expiredClaims), e.sign("at+jwt", e.claims(ada))

	t.Run("a 401 with a credential that can refresh is retried, body and all", func(t *testing.T) {
		cred := &refreshingCredential{first: expired, next: fresh, retry: true}
		c := NewClientWith(e.ts.URL, cred, e.ts.Client())
		created, err := c.CreateKey(ctx, CreateKeyRequest{Owner: "ops", Name: "after a refresh"})
		if err != nil {
			t.Fatal(err)
		}
		e.secrets = append(e.secrets, created.Secret)
		if created.Owner != "ops" || cred.rejected.Load() != 1 {
			t.Fatalf("created %+v after %d rejections", created.Key, cred.rejected.Load())
		}
	})
	t.Run("no second retry", func(t *testing.T) {
		cred := &refreshingCredential{first: expired, next: expired, retry: true}
		_, err := NewClientWith(e.ts.URL, cred, e.ts.Client()).ListKeys(ctx, ListKeysParams{})
		assertCode(t, err, auth.EUNAUTHORIZED, http.StatusUnauthorized)
		if cred.rejected.Load() != 1 {
			t.Fatalf("%d rejections, want 1", cred.rejected.Load())
		}
	})
	t.Run("an admin key is not retried", func(t *testing.T) {
		_, err := e.clientWithKey(expired).ListKeys(ctx, ListKeysParams{})
		assertCode(t, err, auth.EUNAUTHORIZED, http.StatusUnauthorized)
	})
	e.assertNoSecretLogged(t)
}

// FuzzAdminBearer sends arbitrary bearer credentials to an admin route of a
// server that accepts people's tokens: whatever they are (JWT-shaped or
// not), the answer is 200 for the one good token and 401 or 403 otherwise,
// never a 5xx.
//
//	go test ./internal/admin/ -run '^$' -fuzz FuzzAdminBearer -fuzztime 20s
func FuzzAdminBearer(f *testing.F) {
	e := tokenEnv{newOAuthEnv(f), nil}
	u, err := e.accounts.Create(context.Background(), auth.ActorSystem, account.CreateInput{Username: "ada", Password: testPassword, Role: auth.RoleAdmin})
	if err != nil {
		f.Fatal(err)
	}
	good, err := e.signing.Sign("at+jwt", e.claims(u))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		good, good + "x", strings.Replace(good, ".", "..", 1), unsigned(e.claims(u)), "a.b.c", "..", ".", "eyJ.eyJ.",
		"eyJhbGciOiJub25lIn0.e30.", strings.Repeat("a.", 3000), e.adminKey, "",
	} {
		f.Add(seed)
	}
	h := e.server.Handler()
	f.Fuzz(func(t *testing.T, cred string) {
		req := httptest.NewRequest(http.MethodGet, "/admin/v1/keys", nil)
		req.Header["Authorization"] = []string{"Bearer " + cred}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
			if cred != good && cred != e.adminKey && strings.TrimSpace(cred) != good && strings.TrimSpace(cred) != e.adminKey {
				t.Fatalf("200 for %q", cred)
			}
		case rec.Code == http.StatusUnauthorized, rec.Code == http.StatusForbidden:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, cred, rec.Body)
		}
	})
}
