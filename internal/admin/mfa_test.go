package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// TestRouteRequireMFAThroughClient: require_mfa is set, kept, patched and
// refused where it cannot apply, and its absence reads as false.
func TestRouteRequireMFAThroughClient(t *testing.T) {
	t.Parallel()
	env, _ := newRoutesEnv(t)
	ctx := context.Background()
	c := env.client

	got, err := c.CreateRoute(ctx, RouteRequest{Name: "pay", Path: "/pay", Upstreams: []string{"http://a"}, Policy: auth.PolicyJWT,
		Audience: "https://pay.example.test", RequireMFA: true})
	if err != nil || !got.RequireMFA {
		t.Fatalf("created %+v, %v", got, err)
	}
	if got, err = c.GetRoute(ctx, "pay"); err != nil || !got.RequireMFA {
		t.Fatalf("read back %+v, %v", got, err)
	}
	// A patch that does not name it keeps it.
	if got, err = c.UpdateRoute(ctx, "pay", RoutePatch{Scopes: &[]string{"pay"}}); err != nil || !got.RequireMFA {
		t.Fatalf("after an unrelated patch %+v, %v", got, err)
	}
	// A patch to a policy where it cannot apply is refused, never a
	// requirement dropped unsaid.
	_, err = c.UpdateRoute(ctx, "pay", RoutePatch{Policy: ptr(auth.PolicyAPIKey), Audience: ptr("")})
	assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	if err == nil || !strings.Contains(err.Error(), "require_mfa") {
		t.Errorf("refusal %v does not name require_mfa", err)
	}
	if got, err = c.UpdateRoute(ctx, "pay", RoutePatch{Policy: ptr(auth.PolicyAPIKey), Audience: ptr(""), RequireMFA: ptr(false)}); err != nil || got.RequireMFA || got.Policy != auth.PolicyAPIKey {
		t.Fatalf("to api_key without it: %+v, %v", got, err)
	}
	for _, req := range []RouteRequest{
		{Name: "k", Path: "/k", Upstreams: []string{"http://a"}, Policy: auth.PolicyAPIKey, RequireMFA: true},
		{Name: "p", Path: "/p", Upstreams: []string{"http://a"}, Policy: auth.PolicyPublic, RequireMFA: true},
	} {
		_, err := c.CreateRoute(ctx, req)
		assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	}

	// On the wire: true when set, absent when not.
	resp, body := env.do(t, http.MethodPost, "/admin/v1/routes", "application/json",
		strings.NewReader(`{"name":"any","path":"/any","upstreams":["http://a"],"policy":"any","any_audience":true,"require_mfa":true}`), env.adminHeader())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["require_mfa"] != true {
		t.Fatalf("created %s (%v)", body, err)
	}
	resp, body = env.do(t, http.MethodPatch, "/admin/v1/routes/any", "application/json", strings.NewReader(`{"require_mfa":false}`), env.adminHeader())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m = nil
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if _, present := m["require_mfa"]; present {
		t.Errorf("require_mfa false is present: %s", body)
	}
	resp, body = env.do(t, http.MethodPatch, "/admin/v1/routes/any", "application/json", strings.NewReader(`{"require_mfa":"yes"}`), env.adminHeader())
	assertProblem(t, resp, body, http.StatusBadRequest)
}

// TestClientMFAThroughClient: the mfa member sets the client's policy,
// reads back, is cleared by a PUT without it, and is refused unless
// optional or required.
func TestClientMFAThroughClient(t *testing.T) {
	t.Parallel()
	env := newOAuthEnv(t)
	ctx := context.Background()
	c := env.client
	req := ClientRequest{Name: "Web", RedirectURIs: []string{"https://app.example.test/cb"}, GrantTypes: []string{"authorization_code"}, MFA: auth.MFARequired}
	created, err := c.CreateClient(ctx, req)
	if err != nil || created.MFA != auth.MFARequired {
		t.Fatalf("created %+v, %v", created, err)
	}
	env.secrets = append(env.secrets, created.ClientSecret)
	if got, err := c.GetClient(ctx, created.ClientID); err != nil || got.MFA != auth.MFARequired {
		t.Fatalf("read back %+v, %v", got, err)
	}
	req.MFA = auth.MFAOptional
	if got, err := c.UpdateClient(ctx, created.ClientID, req); err != nil || got.MFA != auth.MFAOptional {
		t.Fatalf("updated %+v, %v", got, err)
	}
	req.MFA = ""
	if got, err := c.UpdateClient(ctx, created.ClientID, req); err != nil || got.MFA != "" {
		t.Fatalf("PUT without mfa %+v, %v", got, err)
	}
	resp, body := env.do(t, http.MethodGet, "/admin/v1/clients/"+created.ClientID, "", nil, env.adminHeader())
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"mfa"`) {
		t.Fatalf("the server's policy is not absent: %d %s", resp.StatusCode, body)
	}
	for _, bad := range []ClientRequest{
		{Name: "x", RedirectURIs: []string{"https://app.example.test/cb"}, GrantTypes: []string{"authorization_code"}, MFA: "always"},
		{Name: "svc", GrantTypes: []string{"client_credentials"}, MFA: auth.MFARequired},
	} {
		_, err := c.CreateClient(ctx, bad)
		assertCode(t, err, auth.EINVALID, http.StatusBadRequest)
	}
	env.assertNoSecretsLogged(t)
}
