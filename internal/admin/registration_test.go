package admin

import (
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// newRegistrationEnv is newTestEnv with the initial access token routes
// served by a real client registry.
func newRegistrationEnv(t *testing.T) (*testEnv, *client.Registry) {
	t.Helper()
	env := newTestEnv(t)
	hasher, err := secret.NewHasher([]byte(rand.Text() + rand.Text()))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := client.New(client.Config{Store: env.db, Hasher: hasher, Now: env.clock.Now, Registrations: env.db})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Keys: env.keys, Audit: env.db, RegistrationTokens: reg, Now: env.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	env.server = srv
	env.ts.Config.Handler = srv.Handler()
	return env, reg
}

func TestRegistrationTokenLifecycle(t *testing.T) {
	t.Parallel()
	env, reg := newRegistrationEnv(t)
	ctx := context.Background()
	created, err := env.client.CreateRegistrationToken(ctx, RegistrationTokenRequest{Uses: 3, ExpiresIn: "1h"})
	if err != nil {
		t.Fatalf("CreateRegistrationToken: %v", err)
	}
	env.secrets = append(env.secrets, created.Token)
	if !strings.HasPrefix(created.Token, client.InitialTokenPrefix) || created.Uses != 3 || created.Status != "active" ||
		!created.ExpiresAt.Equal(env.clock.Now().Add(time.Hour)) || created.CreatedBy != env.adminID || created.Hint != created.Token[len(created.Token)-4:] {
		t.Fatalf("created = %+v", created)
	}
	if _, err := reg.InitialToken(ctx, created.Token); err != nil {
		t.Fatalf("the issued token is not usable: %v", err)
	}
	list, err := env.client.ListRegistrationTokens(ctx, PageParams{})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != created.ID {
		t.Fatalf("ListRegistrationTokens = %+v, %v", list, err)
	}
	revoked, err := env.client.RevokeRegistrationToken(ctx, created.ID)
	if err != nil || revoked.Status != "revoked" {
		t.Fatalf("RevokeRegistrationToken = %+v, %v", revoked, err)
	}
	if _, err := reg.InitialToken(ctx, created.Token); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("a revoked token is usable: %v", err)
	}
	evs, _, err := env.db.ListAuditEvents(ctx, auth.AuditFilter{KeyID: created.ID})
	if err != nil || len(evs) != 2 || evs[0].Type != auth.EventRegistrationTokenCreated || evs[1].Type != auth.EventRegistrationTokenRevoked {
		t.Fatalf("audit = %+v, %v", evs, err)
	}
	// Defaults: one use, a day.
	def, err := env.client.CreateRegistrationToken(ctx, RegistrationTokenRequest{})
	if err != nil || def.Uses != 1 || !def.ExpiresAt.Equal(env.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("default token = %+v, %v", def, err)
	}
}

func TestRegistrationTokenProblems(t *testing.T) {
	t.Parallel()
	env, _ := newRegistrationEnv(t)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"negative uses", "POST", "/admin/v1/registration-tokens", `{"uses":-1}`, 400},
		{"too many uses", "POST", "/admin/v1/registration-tokens", `{"uses":1000001}`, 400},
		{"bad duration", "POST", "/admin/v1/registration-tokens", `{"expires_in":"soon"}`, 400},
		{"too long", "POST", "/admin/v1/registration-tokens", `{"expires_in":"9000h"}`, 400},
		{"unknown member", "POST", "/admin/v1/registration-tokens", `{"usage":2}`, 400},
		{"unknown token", "POST", "/admin/v1/registration-tokens/iat_nope/revoke", ``, 404},
	} {
		resp, body := env.do(t, tc.method, tc.path, "application/json", strings.NewReader(tc.body), env.adminHeader())
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %s", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, _ := env.do(t, "POST", "/admin/v1/registration-tokens", "application/json", strings.NewReader(`{}`), nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without an admin key: %d", resp.StatusCode)
	}
	// A node without registration answers 404 with a problem.
	plain := newTestEnv(t)
	resp, body := plain.do(t, "GET", "/admin/v1/registration-tokens", "", nil, plain.adminHeader())
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "registration") {
		t.Fatalf("without registration: %d %s", resp.StatusCode, body)
	}
}
