package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/factors/factorstest"
)

func TestUserFactors(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	u, err := env.client.CreateUser(ctx, CreateUserRequest{Username: "ann", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	keys, session := factorstest.Seed(t, env.db, u.ID, env.clock.Now())

	resp, body := env.do(t, http.MethodGet, "/admin/v1/users/"+u.ID+"/factors", "", nil, env.adminHeader())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "public") || strings.Contains(string(body), "sealed") {
		t.Fatalf("a secret or key is shown: %s", body)
	}
	var members struct {
		TOTP     map[string]any   `json:"totp"`
		Passkeys []map[string]any `json:"passkeys"`
	}
	json.Unmarshal(body, &members)
	if len(members.TOTP) != 2 || members.TOTP["recovery_codes_left"] != 3.0 || len(members.Passkeys) != 2 ||
		members.Passkeys[0]["id"] != keys[0] || members.Passkeys[0]["name"] != "YubiKey 1" || members.Passkeys[0]["last_used_at"] != nil {
		t.Fatalf("body %s", body)
	}

	// One passkey, through the Go client: the sessions end.
	if err := env.client.ResetFactors(ctx, u.ID, false, keys[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := env.db.GetSession(ctx, session, env.clock.Now()); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("the session survives: %v", err)
	}
	got, err := env.client.ListFactors(ctx, u.ID)
	if err != nil || got.TOTP == nil || len(got.Passkeys) != 1 || got.Passkeys[0].ID != keys[0] {
		t.Fatalf("ListFactors = %+v, %v", got, err)
	}
	// The app, then everything.
	if err := env.client.ResetFactors(ctx, u.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := env.client.ResetFactors(ctx, u.ID, true, ""); auth.ErrorCode(err) != auth.ENOTFOUND {
		t.Fatalf("no app left: %v", err)
	}
	resp, body = env.do(t, http.MethodDelete, "/admin/v1/users/"+u.ID+"/factors", "", nil, env.adminHeader())
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got, _ = env.client.ListFactors(ctx, u.ID)
	if got.TOTP != nil || len(got.Passkeys) != 0 {
		t.Fatalf("left %+v", got)
	}
	evs, _, _ := env.db.ListAuditEvents(ctx, auth.AuditFilter{Type: auth.EventUserFactorsReset, Limit: 10})
	if len(evs) != 3 || evs[0].Actor != env.adminID || evs[0].Target() != u.ID {
		t.Fatalf("audit %+v", evs)
	}

	for name, tc := range map[string]struct {
		method, path string
		status       int
	}{
		"unknown user":      {http.MethodGet, "/admin/v1/users/usr_0123456789abcdefghijklmnop/factors", http.StatusNotFound},
		"unknown user, del": {http.MethodDelete, "/admin/v1/users/usr_0123456789abcdefghijklmnop/factors", http.StatusNotFound},
		"unknown passkey":   {http.MethodDelete, "/admin/v1/users/" + u.ID + "/factors/passkeys/pk_nope", http.StatusNotFound},
	} {
		resp, body := env.do(t, tc.method, tc.path, "", nil, env.adminHeader())
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d: %s", name, resp.StatusCode, body)
		}
	}
	// Without an admin credential, nothing.
	resp, _ = env.do(t, http.MethodDelete, "/admin/v1/users/"+u.ID+"/factors", "", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", resp.StatusCode)
	}
}
