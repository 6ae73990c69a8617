package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/factors"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// newOAuthEnv is newTestEnv with the authorization server's routes served
// by the real keyring, account service and authorization server.
func newOAuthEnv(t testing.TB) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	ctx := context.Background()
	logger := slog.New(slog.NewJSONHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sealer, err := signing.NewSealer(signing.DeriveMasterKey([]byte(rand.Text() + rand.Text())))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signing.New(ctx, env.db, sealer, signing.Options{Now: env.clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	accounts, err := account.New(account.Config{Store: env.db, Sessions: env.db, Audit: env.db, Now: env.clock.Now, Logger: logger,
		ResetLinks: resetLinkConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := secret.NewHasher([]byte(rand.Text() + rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	clients, err := client.New(client.Config{Store: env.db, Hasher: hasher, Now: env.clock.Now, FirstParty: []string{testFirstPartyID}})
	if err != nil {
		t.Fatal(err)
	}
	authz, err := oauth.New(oauth.Config{Issuer: testIssuer, Store: env.db, Audit: env.db, Clients: clients,
		Hasher: hasher, Keys: keys, Accounts: accounts, Now: env.clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := factors.New(env.db, accounts, env.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Keys: env.keys, Audit: env.db, Clients: clients, Consents: authz, Users: accounts, SigningKeys: keys,
		Factors: fs, Logger: logger, Now: env.clock.Now,
		Tokens: &TokenConfig{Issuer: testIssuer, JWKS: keys.JWKS, Leeway: keys.Leeway(), Revocations: env.db}})
	if err != nil {
		t.Fatal(err)
	}
	env.server = srv
	env.ts.Config.Handler = srv.Handler()
	env.signing, env.accounts = keys, accounts
	return env
}

// testIssuer is the issuer of newOAuthEnv's authorization server.
const testIssuer = "https://auth.example.test"

func TestClientLifecycleThroughClient(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	c := env.client

	created, err := c.CreateClient(ctx, ClientRequest{
		Name:           "Demo",
		RedirectURIs:   []string{"https://app.example.test/cb"},
		GrantTypes:     []string{"authorization_code", "refresh_token", "client_credentials"},
		Scopes:         []string{"openid", "api:read"},
		Audiences:      []string{"https://api.example.test"},
		AccessTokenTTL: "5m",
	})
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	env.secrets = append(env.secrets, created.ClientSecret)
	if !strings.HasPrefix(created.ClientID, "cli_") || !strings.HasPrefix(created.ClientSecret, oauth.PrefixClientSecret) {
		t.Fatalf("created %+v", created)
	}
	if created.SecretHint != created.ClientSecret[len(created.ClientSecret)-4:] || created.TokenEndpointAuthMethod != "client_secret_basic" ||
		created.AccessTokenTTL != "5m0s" || created.Public {
		t.Fatalf("created %+v", created.OAuthClient)
	}

	got, err := c.GetClient(ctx, created.ClientID)
	if err != nil || !slices.Equal(got.Scopes, []string{"api:read", "openid"}) || got.Name != "Demo" {
		t.Fatalf("GetClient = %+v, %v", got, err)
	}
	list, err := c.ListClients(ctx, PageParams{})
	if err != nil || len(list.Items) != 1 || list.Items[0].ClientID != created.ClientID {
		t.Fatalf("ListClients = %+v, %v", list, err)
	}

	updated, err := c.UpdateClient(ctx, created.ClientID, ClientRequest{
		Name:         "Demo 2",
		RedirectURIs: []string{"https://app.example.test/cb2"},
		GrantTypes:   []string{"authorization_code"},
		Scopes:       []string{"openid"},
	})
	if err != nil || updated.Name != "Demo 2" || !slices.Equal(updated.RedirectURIs, []string{"https://app.example.test/cb2"}) ||
		updated.SecretHint != created.SecretHint || updated.AccessTokenTTL != "" {
		t.Fatalf("UpdateClient = %+v, %v", updated, err)
	}

	rotated, err := c.RotateClientSecret(ctx, created.ClientID)
	if err != nil || rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
		t.Fatalf("RotateClientSecret = %+v, %v", rotated, err)
	}
	env.secrets = append(env.secrets, rotated.ClientSecret)

	if err := c.DeleteClient(ctx, created.ClientID); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	_, err = c.GetClient(ctx, created.ClientID)
	assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
	assertCode(t, c.DeleteClient(ctx, created.ClientID), auth.ENOTFOUND, http.StatusNotFound)

	t.Run("invalid settings are a 400 naming the problem", func(t *testing.T) {
		for _, req := range []ClientRequest{
			{Name: ""},
			{Name: "x", RedirectURIs: []string{"https://app.example.test/cb#frag"}, GrantTypes: []string{"authorization_code"}},
			{Name: "x", GrantTypes: []string{"password"}},
			{Name: "x", Public: true, GrantTypes: []string{"client_credentials"}},
			{Name: "x", GrantTypes: []string{"client_credentials"}, AccessTokenTTL: "forever"},
			{Name: "x", GrantTypes: []string{"client_credentials"}, AccessTokenTTL: "-5m"},
		} {
			_, err := c.CreateClient(ctx, req)
			assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
		}
	})
	t.Run("a public client has no secret", func(t *testing.T) {
		pub, err := c.CreateClient(ctx, ClientRequest{Name: "SPA", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}})
		if err != nil || pub.ClientSecret != "" || pub.SecretHint != "" || pub.TokenEndpointAuthMethod != "none" {
			t.Fatalf("public client = %+v, %v", pub, err)
		}
	})
	env.assertNoSecretsLogged(t)
}

// testFirstPartyID is the first-party client of newOAuthEnv's registry,
// standing in for the dashboard's (which this package cannot import).
const testFirstPartyID = "cli_gatehouse-test"

func TestFirstPartyClientCannotBeChangedThroughTheAPI(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	// Another registry over the same store, as a node's start would use.
	hasher, err := secret.NewHasher([]byte(rand.Text() + rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	boot, err := client.New(client.Config{Store: env.db, Hasher: hasher, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	before, err := boot.EnsureFirstParty(ctx, testFirstPartyID, client.Input{
		Name: "Console", Public: true, AuthMethod: auth.AuthMethodNone,
		RedirectURIs: []string{"https://auth.example.test/console/callback"},
		GrantTypes:   []string{auth.GrantAuthorizationCode}, Scopes: []string{"openid"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Add(time.Minute)

	_, err = env.client.UpdateClient(ctx, testFirstPartyID, ClientRequest{
		Name: "Console", Public: true,
		RedirectURIs: []string{"https://auth.example.test/console/callback", "https://evil.example/cb"},
		GrantTypes:   []string{"authorization_code"}, Scopes: []string{"openid"},
	})
	assertCode(t, err, auth.EFORBIDDEN, http.StatusForbidden)
	if !strings.Contains(err.Error(), "managed by Gatehouse itself") {
		t.Errorf("update refused with %v", err)
	}
	_, err = env.client.RotateClientSecret(ctx, testFirstPartyID)
	assertCode(t, err, auth.EFORBIDDEN, http.StatusForbidden)
	assertCode(t, env.client.DeleteClient(ctx, testFirstPartyID), auth.EFORBIDDEN, http.StatusForbidden)

	after, err := env.client.GetClient(ctx, testFirstPartyID)
	if err != nil || !slices.Equal(after.RedirectURIs, before.RedirectURIs) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("the first-party client changed: %+v, %v", after, err)
	}
	events, _, err := env.db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: testFirstPartyID, Limit: 100})
	if err != nil || len(events) != 1 || events[0].Type != auth.EventClientCreated {
		t.Fatalf("audit of the first-party client = %+v, %v; want only its creation", events, err)
	}
}

func TestUserLifecycleThroughClient(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	c := env.client
	const password = "correct horse battery staple"
	env.secrets = append(env.secrets, password)

	u, err := c.CreateUser(ctx, CreateUserRequest{Username: "Ada", Password: password, Email: "ada@example.test", EmailVerified: true, Name: "Ada Lovelace"})
	if err != nil || !strings.HasPrefix(u.ID, "usr_") || u.Username != "Ada" || u.Disabled || !u.EmailVerified {
		t.Fatalf("CreateUser = %+v, %v", u, err)
	}
	_, err = c.CreateUser(ctx, CreateUserRequest{Username: "ada", Password: password})
	assertCode(t, err, auth.ECONFLICT, http.StatusConflict)
	_, err = c.CreateUser(ctx, CreateUserRequest{Username: "bob", Password: "short"})
	assertCode(t, err, auth.EINVALID, http.StatusBadRequest)

	got, err := c.GetUser(ctx, u.ID)
	if err != nil || got.Email != "ada@example.test" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	list, err := c.ListUsers(ctx, PageParams{Limit: 10})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("ListUsers = %+v, %v", list, err)
	}
	disabled, err := c.SetUserEnabled(ctx, u.ID, false)
	if err != nil || !disabled.Disabled || disabled.DisabledAt.IsZero() {
		t.Fatalf("disable = %+v, %v", disabled, err)
	}
	enabled, err := c.SetUserEnabled(ctx, u.ID, true)
	if err != nil || enabled.Disabled {
		t.Fatalf("enable = %+v, %v", enabled, err)
	}
	if err := c.ResetPassword(ctx, u.ID, "another long passphrase"); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	env.secrets = append(env.secrets, "another long passphrase")
	assertCode(t, c.ResetPassword(ctx, u.ID, "x"), auth.EINVALID, http.StatusBadRequest)
	assertCode(t, c.ResetPassword(ctx, "usr_nobody", "a long enough password"), auth.ENOTFOUND, http.StatusNotFound)

	consents, err := c.ListConsents(ctx, u.ID)
	if err != nil || len(consents.Items) != 0 {
		t.Fatalf("ListConsents = %+v, %v", consents, err)
	}
	assertCode(t, c.RevokeConsent(ctx, u.ID, "cli_nobody"), auth.ENOTFOUND, http.StatusNotFound)

	// The password never comes back, in any form.
	resp, body := env.do(t, http.MethodGet, "/admin/v1/users/"+u.ID, "", nil, http.Header{"X-Api-Key": {env.adminKey}})
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte("argon2")) || bytes.Contains(body, []byte("password\"")) {
		t.Fatalf("GET user = %d %s", resp.StatusCode, body)
	}
	env.assertNoSecretsLogged(t)
}

func TestUserRoleAndOwnersThroughClient(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	c := env.client
	const password = "correct horse battery staple"
	env.secrets = append(env.secrets, password)

	dev, err := c.CreateUser(ctx, CreateUserRequest{Username: "dev", Password: password})
	if err != nil || dev.Role != auth.RoleDeveloper || dev.Owners == nil || len(dev.Owners) != 0 {
		t.Fatalf("default role and owners = %+v, %v", dev, err)
	}
	boss, err := c.CreateUser(ctx, CreateUserRequest{Username: "boss", Password: password, Role: auth.RoleAdmin,
		Owners: []string{"shipping", "billing"}})
	if err != nil || boss.Role != auth.RoleAdmin || !slices.Equal(boss.Owners, []string{"billing", "shipping"}) {
		t.Fatalf("CreateUser(admin) = %+v, %v", boss, err)
	}
	// Bad input is a 400 and stores nothing.
	tooMany := make([]string, auth.MaxUserOwners+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("o%02d", i)
	}
	for name, req := range map[string]CreateUserRequest{
		"unknown role":  {Username: "x1", Password: password, Role: "root"},
		"bad owner":     {Username: "x2", Password: password, Owners: []string{"ok", "a\u0000b"}},
		"empty owner":   {Username: "x3", Password: password, Owners: []string{""}},
		"too many":      {Username: "x4", Password: password, Owners: tooMany},
		"control owner": {Username: "x5", Password: password, Owners: []string{"a\nb"}},
	} {
		_, err := c.CreateUser(ctx, req)
		assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
		if _, err := env.db.GetUserByUsername(ctx, req.Username); auth.ErrorCode(err) != auth.ENOTFOUND {
			t.Fatalf("%s: refused user stored (%v)", name, err)
		}
	}

	// PATCH changes role and owners, audited with the caller as the actor.
	got, err := c.UpdateUser(ctx, dev.ID, UserPatch{Role: Some(auth.RoleAdmin), Owners: Some([]string{"billing", "billing", "api"})})
	if err != nil || got.Role != auth.RoleAdmin || !slices.Equal(got.Owners, []string{"api", "billing"}) {
		t.Fatalf("UpdateUser = %+v, %v", got, err)
	}
	events, _, err := env.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserUpdated})
	if err != nil || len(events) != 1 || events[0].Actor == "" || events[0].Actor == auth.ActorSystem ||
		events[0].Details["user_id"] != dev.ID || events[0].Details["role"] != "admin" || events[0].Details["old_role"] != "developer" ||
		events[0].Details["owners"] != "api,billing" {
		t.Fatalf("audit = %+v, %v", events, err)
	}
	// Only the owners; null removes them all and keeps the role.
	resp, body := env.do(t, http.MethodPatch, "/admin/v1/users/"+dev.ID, "application/json", strings.NewReader(`{"owners":null}`),
		http.Header{"X-Api-Key": {env.adminKey}})
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"owners":[]`)) || !bytes.Contains(body, []byte(`"role":"admin"`)) {
		t.Fatalf("PATCH owners null = %d %s", resp.StatusCode, body)
	}
	got, err = c.UpdateUser(ctx, dev.ID, UserPatch{Role: Some(auth.RoleDeveloper)})
	if err != nil || got.Role != auth.RoleDeveloper || len(got.Owners) != 0 {
		t.Fatalf("UpdateUser(role) = %+v, %v", got, err)
	}

	// Refused changes: a 400, the user unchanged, no event.
	for name, body := range map[string]string{
		"unknown role":   `{"role":"owner"}`,
		"null role":      `{"role":null}`,
		"bad owner":      `{"owners":["\u0007"]}`,
		"owners as text": `{"owners":"billing"}`,
		"unknown member": `{"rolee":"admin"}`,
	} {
		resp, b := env.do(t, http.MethodPatch, "/admin/v1/users/"+dev.ID, "application/json", strings.NewReader(body),
			http.Header{"X-Api-Key": {env.adminKey}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, b)
		}
	}
	_, err = c.UpdateUser(ctx, dev.ID, UserPatch{Owners: Some(tooMany)})
	assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	_, err = c.UpdateUser(ctx, "usr_nobody", UserPatch{Role: Some(auth.RoleAdmin)})
	assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
	stored, err := c.GetUser(ctx, dev.ID)
	if err != nil || stored.Role != auth.RoleDeveloper || len(stored.Owners) != 0 {
		t.Fatalf("after refused updates = %+v, %v", stored, err)
	}
	if events, _, _ = env.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserUpdated}); len(events) != 3 {
		t.Fatalf("events after refused updates = %d, want 3", len(events))
	}
	env.assertNoSecretsLogged(t)
}

func TestSigningKeysThroughClient(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	list, err := env.client.ListSigningKeys(ctx)
	if err != nil || len(list.Items) != 2 || list.Items[0].Status != signing.StatusCurrent || list.Items[1].Status != signing.StatusNext {
		t.Fatalf("ListSigningKeys = %+v, %v", list, err)
	}
	next := list.Items[1].KID
	// Right after it is made, the next key may not be in every verifier's
	// cached JWKS yet: rotating onto it is refused until it is.
	_, err = env.client.RotateSigningKey(ctx)
	assertCode(t, err, auth.ECONFLICT, http.StatusConflict)
	env.clock.Add(time.Hour)
	k, err := env.client.RotateSigningKey(ctx)
	if err != nil || k.KID != next || k.Algorithm != "ES256" {
		t.Fatalf("RotateSigningKey = %+v, %v; want the published next key %s", k, err, next)
	}
	list, err = env.client.ListSigningKeys(ctx)
	if err != nil || len(list.Items) != 3 || list.Items[0].Status != signing.StatusRetired || list.Items[0].ExpiresAt.IsZero() {
		t.Fatalf("after rotation = %+v, %v", list, err)
	}
}

func TestOAuthRoutesNeedTheAdminScopeAndAnAuthorizationServer(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	resp, body := env.do(t, http.MethodGet, "/admin/v1/clients", "", nil, nil)
	assertProblem(t, resp, body, http.StatusUnauthorized)
	_, reader := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{"read"}})
	_, err := env.clientWithKey(reader).ListUsers(context.Background(), PageParams{})
	assertCode(t, err, auth.EFORBIDDEN, http.StatusForbidden)

	plain := newTestEnv(t) // API keys alone
	for _, path := range []string{"/admin/v1/clients", "/admin/v1/users", "/admin/v1/signing-keys"} {
		resp, body := plain.do(t, http.MethodGet, path, "", nil, http.Header{"X-Api-Key": {plain.adminKey}})
		if p := assertProblem(t, resp, body, http.StatusNotFound); !strings.Contains(p.Detail, "not enabled") {
			t.Errorf("%s: %+v", path, p)
		}
	}
}

func TestClientRequestDecodingIsStrict(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	h := http.Header{"X-Api-Key": {env.adminKey}}
	for _, body := range []string{
		`{"name":"x","grant_types":["client_credentials"],"secret":"mine"}`,        // unknown member
		`{"name":"x","grant_types":["client_credentials"],"Name":"y"}`,             // case variant
		`{"name":"x","grant_types":null}`,                                          // null list
		`{"name":"x","grant_types":["client_credentials"]} {}`,                     // trailing data
		`{"name":"x","grant_types":["client_credentials"],"jwks":"not an object"}`, // jwks must be JSON, checked by the registry
	} {
		resp, b := env.do(t, http.MethodPost, "/admin/v1/clients", "application/json", strings.NewReader(body), h)
		assertProblem(t, resp, b, http.StatusBadRequest)
	}
}

// assertNoSecretsLogged checks that no plaintext secret reached the logs.
func (e *testEnv) assertNoSecretsLogged(t *testing.T) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range e.secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%s) appears in the logs", redact(s))
		}
	}
}

// TestClientOwnerThroughClient: the owner is set on create, shown on read,
// replaced or cleared by PUT (which replaces every setting), and a bad
// one is a 400 with nothing stored.
func TestClientOwnerThroughClient(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	c := env.client

	for _, owner := range []string{strings.Repeat("o", 129), "bill\x00ing", "bill\ting"} {
		_, err := c.CreateClient(ctx, ClientRequest{Name: "svc", Owner: owner, GrantTypes: []string{"client_credentials"}})
		assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	}
	if list, err := c.ListClients(ctx, PageParams{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("after refused creates: %+v, %v; want no clients", list, err)
	}

	created, err := c.CreateClient(ctx, ClientRequest{Name: "svc", Owner: "billing", GrantTypes: []string{"client_credentials"}})
	if err != nil || created.Owner != "billing" {
		t.Fatalf("CreateClient = %+v, %v", created, err)
	}
	env.secrets = append(env.secrets, created.ClientSecret)
	if got, err := c.GetClient(ctx, created.ClientID); err != nil || got.Owner != "billing" {
		t.Fatalf("GetClient = %+v, %v", got, err)
	}

	_, err = c.UpdateClient(ctx, created.ClientID, ClientRequest{Name: "svc", Owner: "bill\ning", GrantTypes: []string{"client_credentials"}})
	assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	if got, err := c.GetClient(ctx, created.ClientID); err != nil || got.Owner != "billing" {
		t.Fatalf("after a refused update: %+v, %v; want the owner kept", got, err)
	}
	if up, err := c.UpdateClient(ctx, created.ClientID, ClientRequest{Name: "svc", Owner: "shipping", GrantTypes: []string{"client_credentials"}}); err != nil || up.Owner != "shipping" {
		t.Fatalf("UpdateClient = %+v, %v", up, err)
	}

	// A PUT without owner clears it, and the client then shows none.
	resp, body := env.do(t, http.MethodPut, "/admin/v1/clients/"+created.ClientID, "application/json",
		strings.NewReader(`{"name":"svc","grant_types":["client_credentials"]}`), env.adminHeader())
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"owner"`) {
		t.Fatalf("PUT without owner = %d %s; want 200 and no owner", resp.StatusCode, body)
	}

	events, _, err := env.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventClientUpdated, Limit: 10})
	if err != nil || len(events) != 2 || events[0].Details["changed"] != "owner" || events[0].Details["owner"] != "shipping" ||
		events[1].Details["changed"] != "owner" || events[1].Details["owner"] != "" {
		t.Fatalf("client.updated events = %+v, %v; want two naming the owner change", events, err)
	}
	env.assertNoSecretsLogged(t)
}
