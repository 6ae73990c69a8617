package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestKeyLifecycleThroughClient(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	c := env.client

	created, err := c.CreateKey(ctx, CreateKeyRequest{
		Owner:          "billing",
		Name:           "billing production",
		Scopes:         []string{"write", "read"},
		Metadata:       map[string]string{"team": "payments"},
		ExpiresIn:      "720h",
		RateLimit:      &RateLimit{Rate: 10, Burst: 20},
		RotationPeriod: "2160h",
	})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	env.secrets = append(env.secrets, created.Secret)

	t.Run("create returns the record and the plaintext once", func(t *testing.T) {
		k := created.Key
		if created.Secret == "" || !strings.HasPrefix(created.Secret, k.Prefix) {
			t.Errorf("plaintext %q does not start with the prefix %q", redact(created.Secret), k.Prefix)
		}
		if want := created.Secret[len(created.Secret)-4:]; k.Hint != want {
			t.Errorf("hint = %q, want the last 4 characters of the key", k.Hint)
		}
		if k.Owner != "billing" || k.Name != "billing production" {
			t.Errorf("owner, name = %q, %q", k.Owner, k.Name)
		}
		if !slices.Equal(k.Scopes, []string{"read", "write"}) {
			t.Errorf("scopes = %v, want sorted [read write]", k.Scopes)
		}
		if k.Metadata["team"] != "payments" {
			t.Errorf("metadata = %v", k.Metadata)
		}
		if k.RateLimit == nil || *k.RateLimit != (RateLimit{Rate: 10, Burst: 20}) {
			t.Errorf("rate_limit = %+v", k.RateLimit)
		}
		if k.RotationPeriod != (2160 * time.Hour).String() {
			t.Errorf("rotation_period = %q", k.RotationPeriod)
		}
		if k.Status != auth.KeyActive || k.RotationDue {
			t.Errorf("status = %q, rotation_due = %v", k.Status, k.RotationDue)
		}
		if !k.CreatedAt.Equal(testStart) || !k.ExpiresAt.Equal(testStart.Add(720*time.Hour)) || !k.RotationDueAt.Equal(testStart.Add(2160*time.Hour)) {
			t.Errorf("created_at, expires_at, rotation_due_at = %v, %v, %v", k.CreatedAt, k.ExpiresAt, k.RotationDueAt)
		}
	})

	t.Run("get returns the same record without the plaintext", func(t *testing.T) {
		got, err := c.GetKey(ctx, created.ID)
		if err != nil {
			t.Fatalf("GetKey: %v", err)
		}
		if !reflect.DeepEqual(*got, created.Key) {
			t.Errorf("GetKey = %+v\nwant     %+v", *got, created.Key)
		}
	})

	t.Run("list filters by owner", func(t *testing.T) {
		list, err := c.ListKeys(ctx, ListKeysParams{Owner: "billing"})
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		if len(list.Items) != 1 || list.Items[0].ID != created.ID || list.NextCursor != "" {
			t.Errorf("ListKeys(owner=billing) = %+v", list)
		}
	})

	t.Run("the new key verifies", func(t *testing.T) {
		res, err := c.VerifyKey(ctx, VerifyRequest{Key: created.Secret, Scopes: []string{"read"}})
		if err != nil {
			t.Fatalf("VerifyKey: %v", err)
		}
		if !res.Valid || res.Code != string(apikey.CodeValid) || res.KeyID != created.ID || res.Owner != "billing" {
			t.Errorf("VerifyKey = %+v", res)
		}
		if res.RateLimit == nil || res.RateLimit.Limit != 20 {
			t.Errorf("ratelimit = %+v, want limit 20", res.RateLimit)
		}
	})

	var rotated *RotatedKey
	t.Run("rotate with the default grace keeps the old key working", func(t *testing.T) {
		rotated, err = c.RotateKey(ctx, created.ID, RotateKeyRequest{})
		if err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
		env.secrets = append(env.secrets, rotated.NewKey.Secret)
		nk, ok := rotated.NewKey, rotated.OldKey
		if nk.Secret == "" || nk.Secret == created.Secret || nk.ID == created.ID {
			t.Fatalf("the new key is not new: %+v", nk.Key)
		}
		if nk.RotatedFrom != created.ID || nk.Owner != "billing" || !slices.Equal(nk.Scopes, created.Scopes) {
			t.Errorf("new key = %+v", nk.Key)
		}
		if ok == nil {
			t.Fatal("old_key missing")
		}
		if ok.RotatedTo != nk.ID || ok.Status != auth.KeyRotating || !ok.ExpiresAt.Equal(testStart.Add(DefaultGrace)) {
			t.Errorf("old key = %+v, want rotating until now+24h", *ok)
		}
		for _, secret := range []string{created.Secret, nk.Secret} {
			res, err := c.VerifyKey(ctx, VerifyRequest{Key: secret})
			if err != nil || !res.Valid {
				t.Errorf("VerifyKey during the grace period = %+v, %v", res, err)
			}
		}
	})

	t.Run("rotating a rotated key is a conflict", func(t *testing.T) {
		_, err := c.RotateKey(ctx, created.ID, RotateKeyRequest{})
		assertCode(t, err, auth.ECONFLICT, http.StatusConflict)
	})

	t.Run("rotate with a zero grace ends the old key at once", func(t *testing.T) {
		r, err := c.RotateKey(ctx, rotated.NewKey.ID, RotateKeyRequest{Grace: "0s"})
		if err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
		env.secrets = append(env.secrets, r.NewKey.Secret)
		if r.OldKey == nil || r.OldKey.Status != auth.KeyExpired {
			t.Errorf("old key = %+v, want expired", r.OldKey)
		}
		res, err := c.VerifyKey(ctx, VerifyRequest{Key: rotated.NewKey.Secret})
		if err != nil || res.Code != string(apikey.CodeExpired) {
			t.Errorf("VerifyKey(old) = %+v, %v; want EXPIRED", res, err)
		}
		rotated = r
	})

	t.Run("revoke ends the key and is idempotent", func(t *testing.T) {
		for range 2 {
			k, err := c.RevokeKey(ctx, rotated.NewKey.ID)
			if err != nil {
				t.Fatalf("RevokeKey: %v", err)
			}
			if k.Status != auth.KeyRevoked || !k.RevokedAt.Equal(testStart) {
				t.Errorf("revoked key = %+v", k)
			}
		}
		res, err := c.VerifyKey(ctx, VerifyRequest{Key: rotated.NewKey.Secret})
		if err != nil || res.Valid || res.Code != string(apikey.CodeRevoked) {
			t.Errorf("VerifyKey(revoked) = %+v, %v", res, err)
		}
	})

	t.Run("unknown IDs are 404 through the client", func(t *testing.T) {
		_, err := c.GetKey(ctx, "key_does_not_exist")
		assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
		_, err = c.RevokeKey(ctx, "key_does_not_exist")
		assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
		_, err = c.RotateKey(ctx, "key_does_not_exist", RotateKeyRequest{})
		assertCode(t, err, auth.ENOTFOUND, http.StatusNotFound)
	})

	t.Run("the audit log names the admin key as actor", func(t *testing.T) {
		list, err := c.ListAuditEvents(ctx, AuditEventsParams{KeyID: created.ID})
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		var types []string
		for _, e := range list.Items {
			types = append(types, e.Type)
			if e.Actor != env.adminID {
				t.Errorf("event %s actor = %q, want the admin key %q", e.Type, e.Actor, env.adminID)
			}
		}
		if !slices.Contains(types, auth.EventKeyCreated) || !slices.Contains(types, auth.EventKeyRotated) {
			t.Errorf("events of the key = %v, want created and rotated", types)
		}
		revoked, err := c.ListAuditEvents(ctx, AuditEventsParams{Type: auth.EventKeyRevoked})
		if err != nil {
			t.Fatalf("ListAuditEvents(type): %v", err)
		}
		if len(revoked.Items) != 1 || revoked.Items[0].KeyID != rotated.NewKey.ID {
			t.Errorf("revoked events = %+v, want exactly one (revoking twice writes one)", revoked.Items)
		}
	})

	t.Run("audit events page with a cursor", func(t *testing.T) {
		var all []int64
		p := AuditEventsParams{Limit: 1}
		for range 100 {
			page, err := c.ListAuditEvents(ctx, p)
			if err != nil {
				t.Fatalf("ListAuditEvents: %v", err)
			}
			for _, e := range page.Items {
				all = append(all, e.ID)
			}
			if page.NextCursor == "" {
				break
			}
			p.Cursor = page.NextCursor
		}
		if len(all) < 4 || !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Errorf("paged event IDs = %v, want at least 4, ascending, unique", all)
		}
	})

	env.assertNoSecretLogged(t)
}

func TestListKeysPagesInCreationOrder(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	var want []string
	for range 5 {
		// IDs are time-ordered: one created in the same millisecond as
		// another may sort before it.
		env.clock.Add(time.Second)
		k, err := env.client.CreateKey(ctx, CreateKeyRequest{Owner: "paged"})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		env.secrets = append(env.secrets, k.Secret)
		want = append(want, k.ID)
	}
	var got []string
	p := ListKeysParams{Owner: "paged", Limit: 2}
	pages := 0
	for {
		page, err := env.client.ListKeys(ctx, p)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		pages++
		if len(page.Items) > 2 {
			t.Fatalf("page of %d items, limit 2", len(page.Items))
		}
		for _, k := range page.Items {
			got = append(got, k.ID)
		}
		if page.NextCursor == "" || pages > 10 {
			break
		}
		p.Cursor = page.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged IDs = %v, want %v", got, want)
	}
	env.assertNoSecretLogged(t)
}

func TestListKeysRotationDue(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	due, err := env.client.CreateKey(ctx, CreateKeyRequest{Owner: "rot", RotationPeriod: "1h"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	later, err := env.client.CreateKey(ctx, CreateKeyRequest{Owner: "rot", RotationPeriod: "100h"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	env.secrets = append(env.secrets, due.Secret, later.Secret)

	list, err := env.client.ListKeys(ctx, ListKeysParams{RotationDue: true})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(list.Items) != 0 {
		t.Errorf("due before the period ends: %+v", list.Items)
	}

	env.clock.Add(2 * time.Hour)
	list, err = env.client.ListKeys(ctx, ListKeysParams{RotationDue: true})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].ID != due.ID || !list.Items[0].RotationDue {
		t.Errorf("rotation_due=true lists %+v, want only %s, flagged due", list.Items, due.ID)
	}
	all, err := env.client.ListKeys(ctx, ListKeysParams{Owner: "rot"})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if len(all.Items) != 2 {
		t.Errorf("without the filter: %d keys, want 2", len(all.Items))
	}
}

func TestCreateKeyResponseOnTheWire(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	resp, body := env.do(t, http.MethodPost, "/admin/v1/keys", "application/json",
		strings.NewReader(`{"owner":"svc","expires_at":"2031-01-02T03:04:05Z","scopes":["read"]}`), env.adminHeader())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	secret, _ := m["key"].(string)
	env.secrets = append(env.secrets, secret)
	id, _ := m["id"].(string)
	if got := resp.Header.Get("Location"); got != "/admin/v1/keys/"+id {
		t.Errorf("Location = %q, want /admin/v1/keys/%s", got, id)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store on a response holding a key", got)
	}
	if secret == "" {
		t.Error("no plaintext in the create response")
	}
	if m["expires_at"] != "2031-01-02T03:04:05Z" {
		t.Errorf("expires_at = %v", m["expires_at"])
	}
	for _, banned := range []string{"hash", "Hash", "secret", "revoked_at", "rotated_to"} {
		if _, ok := m[banned]; ok {
			t.Errorf("create response has %q: %s", banned, body)
		}
	}

	// The plaintext is shown once: no later response carries it.
	for _, path := range []string{"/admin/v1/keys/" + id, "/admin/v1/keys", "/admin/v1/audit-events"} {
		_, body := env.do(t, http.MethodGet, path, "", nil, env.adminHeader())
		if strings.Contains(string(body), secret) {
			t.Errorf("GET %s shows the plaintext again", path)
		}
		if strings.Contains(string(body), `"key":`) {
			t.Errorf("GET %s has a \"key\" member: %s", path, body)
		}
	}
	env.assertNoSecretLogged(t)
}

func TestCreatedRecordReadsBackIdentically(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	ctx := context.Background()
	for _, req := range []CreateKeyRequest{
		{Owner: "a", ExpiresAt: "2031-01-02T03:04:05.123456789+02:00"},
		{Owner: "a", ExpiresIn: "1h0.000000001s"},
		{Owner: "a", RateLimit: &RateLimit{Rate: 0.25, Burst: 3}, RotationPeriod: "90m"},
	} {
		created, err := env.client.CreateKey(ctx, req)
		if err != nil {
			t.Fatalf("CreateKey(%+v): %v", req, err)
		}
		env.secrets = append(env.secrets, created.Secret)
		got, err := env.client.GetKey(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, created.Key) {
			t.Errorf("read back %+v\ncreated   %+v", *got, created.Key)
		}
	}
	if _, err := env.client.GetKey(ctx, ""); auth.ErrorCode(err) != auth.EINVALID {
		t.Errorf("GetKey(\"\") = %v, want EINVALID before any request", err)
	}
}

// assertCode checks that err is a *ProblemError with the status and the auth
// code.
func assertCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := auth.ErrorCode(err); got != code {
		t.Errorf("auth.ErrorCode(%v) = %q, want %q", err, got, code)
	}
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Status != status {
		t.Errorf("err = %#v, want a *ProblemError with status %d", err, status)
	}
}

// redact shows the shape of a secret in a test failure without the secret.
func redact(s string) string {
	if len(s) < 8 {
		return "(short)"
	}
	return s[:4] + "…"
}
