package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/problem"
)

func TestUpdateKeyThroughClient(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	c := env.client
	created, err := c.CreateKey(ctx, CreateKeyRequest{
		Owner: "billing", Name: "old", Scopes: []string{"read"},
		Credits:    &CreditsRequest{Remaining: ptr(int64(2)), Refill: &CreditRefill{Amount: 100, Interval: "month"}},
		AllowedIPs: []string{"203.0.113.0/24", "2001:db8::1"},
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	env.secrets = append(env.secrets, created.Secret)
	if cr := created.Credits; cr == nil || cr.Remaining != 2 || cr.Refill == nil || *cr.Refill != (CreditRefill{100, "month"}) ||
		!slices.Equal(created.AllowedIPs, []string{"203.0.113.0/24", "2001:db8::1/128"}) {
		t.Fatalf("created key credits %+v, allowed_ips %v", created.Credits, created.AllowedIPs)
	}
	verify := func(req VerifyRequest) *VerifyResponse {
		t.Helper()
		req.Key = created.Secret
		res, err := c.VerifyKey(ctx, req)
		if err != nil {
			t.Fatalf("VerifyKey: %v", err)
		}
		return res
	}

	t.Run("verify spends the cost and checks the address", func(t *testing.T) {
		if res := verify(VerifyRequest{IP: "203.0.113.50"}); !res.Valid || res.Credits == nil || res.Credits.Remaining != 1 {
			t.Fatalf("verify = %+v, want valid with 1 credit left", res)
		}
		if res := verify(VerifyRequest{IP: "198.51.100.1"}); res.Valid || res.Code != string(apikey.CodeIPNotAllowed) || res.Credits != nil {
			t.Fatalf("verify from outside = %+v, want IP_NOT_ALLOWED without credits", res)
		}
		if res := verify(VerifyRequest{}); res.Code != string(apikey.CodeIPNotAllowed) {
			t.Fatalf("verify without an ip = %+v, want IP_NOT_ALLOWED", res)
		}
		if res := verify(VerifyRequest{IP: "2001:db8::1", Cost: ptr(2)}); res.Valid || res.Code != string(apikey.CodeUsageExceeded) || res.Credits.Remaining != 1 {
			t.Fatalf("verify of cost 2 = %+v, want USAGE_EXCEEDED with 1 left", res)
		}
		if res := verify(VerifyRequest{IP: "::ffff:203.0.113.9"}); !res.Valid || res.Credits.Remaining != 0 {
			t.Fatalf("verify = %+v, want valid with 0 left", res)
		}
		resp, body := env.do(t, "POST", "/v1/keys/verify", "application/json",
			strings.NewReader(`{"key": "`+created.Secret+`", "ip": "203.0.113.1"}`), nil)
		var out VerifyResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Code != string(apikey.CodeUsageExceeded) {
			t.Fatalf("exhausted key: status %d, body %s; want 200 USAGE_EXCEEDED", resp.StatusCode, body)
		}
		got, err := c.GetKey(ctx, created.ID)
		if err != nil || got.Credits.Remaining != 0 {
			t.Fatalf("GetKey = %+v, %v; want 0 credits left", got, err)
		}
	})

	t.Run("patch merges credits and changes the rest", func(t *testing.T) {
		exp := testStart.Add(48 * time.Hour).Format(time.RFC3339)
		got, err := c.UpdateKey(ctx, created.ID, KeyPatch{
			Name: Some("new"), Scopes: Some([]string{"read", "write"}), Metadata: Some(map[string]string{"team": "x"}),
			RateLimit: Some(RateLimit{Rate: 5}), ExpiresAt: Some(exp),
			Credits:    Some(CreditsPatch{Remaining: ptr(int64(10))}),
			AllowedIPs: Some([]string{}),
		})
		if err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		if got.Name != "new" || len(got.Scopes) != 2 || got.Metadata["team"] != "x" || got.RateLimit == nil || got.RateLimit.Burst != 5 ||
			got.ExpiresAt.Format(time.RFC3339) != exp || got.Credits.Remaining != 10 || got.Credits.Refill == nil || len(got.AllowedIPs) != 0 {
			t.Fatalf("updated key %+v", got)
		}
		if res := verify(VerifyRequest{Scopes: []string{"write"}}); !res.Valid || res.Credits.Remaining != 9 {
			t.Fatalf("verify after the update = %+v, want valid with 9 left", res)
		}
		evs, err := c.ListAuditEvents(ctx, AuditEventsParams{KeyID: created.ID, Type: auth.EventKeyUpdated})
		if err != nil || len(evs.Items) != 1 || evs.Items[0].Actor != env.adminID ||
			evs.Items[0].Details["changed"] != "name,scopes,metadata,rate_limit,expires_at,credits,allowed_ips" {
			t.Fatalf("key.updated events %+v, %v", evs, err)
		}
	})

	t.Run("null removes the refill, the credits and the expiry", func(t *testing.T) {
		got, err := c.UpdateKey(ctx, created.ID, KeyPatch{Credits: Some(CreditsPatch{Refill: Null[CreditRefill]()})})
		if err != nil || got.Credits == nil || got.Credits.Refill != nil || got.Credits.Remaining != 9 {
			t.Fatalf("removing the refill = %+v, %v", got, err)
		}
		resp, body := env.do(t, "PATCH", keyPath(created.ID), "application/json",
			strings.NewReader(`{"credits": null, "expires_at": null}`), env.adminHeader())
		var k Key
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &k) != nil || k.Credits != nil || !k.ExpiresAt.IsZero() {
			t.Fatalf("PATCH with nulls: %d %s", resp.StatusCode, body)
		}
		if res := verify(VerifyRequest{Cost: ptr(1000)}); !res.Valid || res.Credits != nil {
			t.Fatalf("verify without credits = %+v, want valid without credits", res)
		}
	})

	t.Run("a revoked key cannot be changed", func(t *testing.T) {
		if _, err := c.RevokeKey(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		_, err := c.UpdateKey(ctx, created.ID, KeyPatch{Name: Some("again")})
		assertCode(t, err, auth.ECONFLICT, http.StatusConflict)
		_, err = c.UpdateKey(ctx, "key_nope", KeyPatch{Name: Some("again")})
		assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
	})
	env.assertNoSecretLogged(t)
}

// TestPatchKeyNulls: null removes the allowed networks, the metadata and
// the rate limit; null on name or scopes, which cannot be removed, is a
// 400 naming the member, and changes nothing.
func TestPatchKeyNulls(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	nets, _ := auth.ParseAllowedIPs([]string{"192.0.2.0/24"})
	k, _ := env.createKey(t, apikey.CreateParams{Owner: "svc", Name: "n", Scopes: []string{"read"},
		Metadata: map[string]string{"team": "x"}, RateLimit: auth.RateLimit{Rate: 5, Burst: 5}, AllowedIPs: nets})
	patch := func(body string) (int, []byte) {
		resp, b := env.do(t, "PATCH", keyPath(k.ID), "application/json", strings.NewReader(body), env.adminHeader())
		return resp.StatusCode, b
	}
	for _, member := range []string{"name", "scopes"} {
		status, body := patch(`{"` + member + `": null}`)
		var d problem.Details
		if status != http.StatusBadRequest || json.Unmarshal(body, &d) != nil || !strings.Contains(d.Detail, `"`+member+`"`) {
			t.Errorf("%s: null: %d %s; want 400 naming the member", member, status, body)
		}
	}
	status, body := patch(`{"allowed_ips": null, "metadata": null, "rate_limit": null}`)
	var got Key
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("PATCH with nulls: %d %s", status, body)
	}
	stored, err := env.client.GetKey(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*Key{&got, stored} {
		if len(k.AllowedIPs) != 0 || len(k.Metadata) != 0 || k.RateLimit != nil || k.Name != "n" || len(k.Scopes) != 1 {
			t.Errorf("after nulls: %+v; want no networks, metadata or rate limit, name and scopes kept", k)
		}
	}
}

// TestAdminKeyRestrictedToNetworks: the admin API checks an admin key's
// allowed networks against the connection's peer.
func TestAdminKeyRestrictedToNetworks(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	nets, _ := auth.ParseAllowedIPs([]string{"192.0.2.0/24"})
	_, outside := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}, AllowedIPs: nets})
	_, err := env.clientWithKey(outside).ListKeys(ctx, ListKeysParams{})
	assertCode(t, err, auth.EFORBIDDEN, http.StatusForbidden)
	local, _ := auth.ParseAllowedIPs([]string{"127.0.0.0/8", "::1"})
	_, inside := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}, AllowedIPs: local})
	if _, err := env.clientWithKey(inside).ListKeys(ctx, ListKeysParams{}); err != nil {
		t.Fatalf("ListKeys from an allowed address: %v", err)
	}
}

// TestAdminKeyRefusalTypes: an admin key out of credits gets the
// gateway's usage_exceeded (429, no Retry-After: not a rate), and one used
// from outside its networks the gateway's ip_not_allowed (403).
func TestAdminKeyRefusalTypes(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	_, spent := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}, Credits: &auth.Credits{Remaining: 0}})
	nets, _ := auth.ParseAllowedIPs([]string{"192.0.2.0/24"})
	_, outside := env.createKey(t, apikey.CreateParams{Owner: "ops", Scopes: []string{ScopeAdmin}, AllowedIPs: nets})
	for _, tc := range []struct {
		key    string
		status int
		kind   problem.Kind
	}{
		{spent, http.StatusTooManyRequests, problem.UsageExceeded()},
		{outside, http.StatusForbidden, problem.IPNotAllowed()},
	} {
		resp, body := env.do(t, "GET", "/admin/v1/keys", "", nil, http.Header{"X-API-Key": {tc.key}})
		var d problem.Details
		if resp.StatusCode != tc.status || json.Unmarshal(body, &d) != nil || d.Type != tc.kind.Type() {
			t.Errorf("%d %s; want %d %s", resp.StatusCode, body, tc.status, tc.kind.Type())
		}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			t.Errorf("%s: Retry-After %q, want none", tc.kind.Name, ra)
		}
	}
}
