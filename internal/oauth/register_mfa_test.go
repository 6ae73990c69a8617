package oauth

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// TestRegistrationDefaultACRValues: a registrant asks for a second factor
// for its users with default_acr_values (OIDC Dynamic Client Registration
// 2); it can make its client's policy stricter than the server's, never
// weaker, and an update cannot drop a policy it or an admin set.
func TestRegistrationDefaultACRValues(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withRegistration(RegistrationPolicy{}))
	_, initial := ts.initialToken(10, time.Hour)
	ctx := context.Background()
	policyOf := func(id string) string {
		t.Helper()
		ts.Clients.Forget(id)
		c, err := ts.Clients.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.MFA
	}
	acrValues := func(m map[string]any) []string {
		var out []string
		list, _ := m["default_acr_values"].([]any)
		for _, v := range list {
			out = append(out, v.(string))
		}
		return out
	}

	reg := decode(t, ts.register(http.MethodPost, PathRegister, initial, with(webApp(), "default_acr_values", []string{auth.ACRMFA})), http.StatusCreated)
	id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
	if got := acrValues(reg); !slices.Equal(got, []string{auth.ACRMFA}) || policyOf(id) != auth.MFARequired {
		t.Fatalf("default_acr_values %v, policy %q", got, policyOf(id))
	}

	// An update without default_acr_values, or asking for a password
	// alone, keeps the requirement.
	update := with(reg, "registration_access_token", nil, "client_secret", nil, "default_acr_values", []string{auth.ACRPassword})
	put := decode(t, ts.register(http.MethodPut, PathRegister+"/"+id, rat, update), http.StatusOK)
	if got := acrValues(put); !slices.Equal(got, []string{auth.ACRMFA}) || policyOf(id) != auth.MFARequired {
		t.Fatalf("after an update: default_acr_values %v, policy %q", got, policyOf(id))
	}

	// A client registered without it follows the server, and keeps a
	// policy an admin set through its own updates.
	plain := decode(t, ts.register(http.MethodPost, PathRegister, initial, webApp()), http.StatusCreated)
	pid, prat := plain["client_id"].(string), plain["registration_access_token"].(string)
	if plain["default_acr_values"] != nil || policyOf(pid) != "" {
		t.Fatalf("plain registration: %v, policy %q", plain["default_acr_values"], policyOf(pid))
	}
	c, err := ts.Store.GetClient(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	c.MFA = auth.MFARequired
	before := c.UpdatedAt
	c.UpdatedAt = ts.Clock.Now().Add(time.Second)
	if err := ts.Store.UpdateClient(ctx, c, before); err != nil {
		t.Fatal(err)
	}
	ts.Clients.Forget(pid)
	decode(t, ts.register(http.MethodPut, PathRegister+"/"+pid, prat, with(plain, "registration_access_token", nil, "client_secret", nil)), http.StatusOK)
	if policyOf(pid) != auth.MFARequired {
		t.Fatalf("a registrant's update dropped the admin's policy: %q", policyOf(pid))
	}

	for name, values := range map[string]any{
		"an unknown class":  []string{"urn:example:loa:3"},
		"not a list":        auth.ACRMFA,
		"a class in a list": []any{auth.ACRMFA, 3},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, ts.register(http.MethodPost, PathRegister, initial, with(webApp(), "default_acr_values", values)),
				http.StatusBadRequest, CodeInvalidClientMetadata)
		})
	}
}
