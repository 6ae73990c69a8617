package admin

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// resetLinkConfig is newOAuthEnv's reset-link configuration: links to the
// test issuer's /account/reset, no mailer.
func resetLinkConfig(t testing.TB) account.ResetLinkConfig {
	t.Helper()
	h, err := secret.NewHasher([]byte(rand.Text() + rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	return account.ResetLinkConfig{Hasher: h, URL: testIssuer + "/account/reset"}
}

func TestCreateResetLink(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	u, err := env.client.CreateUser(ctx, CreateUserRequest{Username: "ann", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}

	resp, body := env.do(t, http.MethodPost, "/admin/v1/users/"+u.ID+"/reset-link", "", nil, env.adminHeader())
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, Cache-Control %q: %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	var members map[string]any
	if err := json.Unmarshal(body, &members); err != nil || len(members) != 3 || members["url"] == nil || members["expires_at"] == nil || members["emailed"] != false {
		t.Fatalf("body %s: want url, expires_at and emailed", body)
	}
	var link ResetLink
	json.Unmarshal(body, &link)
	parsed, err := url.Parse(link.URL)
	if err != nil || parsed.Scheme+"://"+parsed.Host+parsed.Path != testIssuer+"/account/reset" {
		t.Fatalf("url %q", link.URL)
	}
	token := parsed.Query().Get("token")
	if !strings.HasPrefix(token, account.ResetTokenPrefix) || !link.ExpiresAt.Equal(env.clock.Now().Add(time.Hour)) {
		t.Fatalf("token %q, expires_at %v", token, link.ExpiresAt)
	}
	env.secrets = append(env.secrets, token)

	// Through the Go client, a second link voids the first.
	second, err := env.client.CreateResetLink(ctx, u.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.accounts.CheckResetLink(ctx, token); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the first link still works: %v", err)
	}
	secondToken := strings.TrimPrefix(second.URL, testIssuer+"/account/reset?token=")
	env.secrets = append(env.secrets, secondToken)
	if _, err := env.accounts.RedeemResetLink(ctx, secondToken, "a new passphrase"); err != nil {
		t.Fatalf("redeeming the link: %v", err)
	}
	evs, _, _ := env.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserPasswordResetLinkCreated, Limit: 10})
	if len(evs) != 2 || evs[0].Actor != env.adminID || evs[0].Target() != u.ID {
		t.Fatalf("audit %+v", evs)
	}

	for name, tc := range map[string]struct {
		path, body string
		status     int
	}{
		"unknown user":            {"/admin/v1/users/usr_0123456789abcdefghijklmnop/reset-link", "", http.StatusNotFound},
		"not a user ID":           {"/admin/v1/users/nope/reset-link", "", http.StatusNotFound},
		"e-mail without SMTP":     {"/admin/v1/users/" + u.ID + "/reset-link", `{"email":true}`, http.StatusBadRequest},
		"unknown member":          {"/admin/v1/users/" + u.ID + "/reset-link", `{"password":"x"}`, http.StatusBadRequest},
		"email of the wrong type": {"/admin/v1/users/" + u.ID + "/reset-link", `{"email":"yes"}`, http.StatusBadRequest},
	} {
		resp, body := env.do(t, http.MethodPost, tc.path, "application/json", strings.NewReader(tc.body), env.adminHeader())
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, tc.status, body)
		}
	}
	if _, err := env.client.SetUserEnabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.CreateResetLink(ctx, u.ID, false); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("link for a disabled user: %v", err)
	}
	env.assertNoSecretsLogged(t)
}
