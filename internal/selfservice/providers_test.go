package selfservice

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
)

// fakeProviders records what the account pages ask of the federation
// service and answers with fixed providers and links.
type fakeProviders struct {
	providers []*auth.Provider
	links     map[string][]*auth.ProviderLink // by user
	started   []federation.Pending
	unlinked  []string
	unlinkErr error
}

func (f *fakeProviders) Enabled(context.Context) ([]*auth.Provider, error) { return f.providers, nil }
func (f *fakeProviders) Links(_ context.Context, userID string) ([]*auth.ProviderLink, error) {
	return f.links[userID], nil
}
func (f *fakeProviders) Start(_ context.Context, w http.ResponseWriter, name string, p federation.Pending) (string, error) {
	if name != "acme" {
		return "", auth.Errorf(auth.ENOTFOUND, "Provider not found.")
	}
	f.started = append(f.started, p)
	return "https://idp.example/authorize?state=s", nil
}
func (f *fakeProviders) Unlink(_ context.Context, userID, provider string) error {
	if f.unlinkErr != nil {
		return f.unlinkErr
	}
	f.unlinked = append(f.unlinked, userID+":"+provider)
	return nil
}

func TestAccountProvidersLinkAndUnlink(t *testing.T) {
	t.Parallel()
	fp := &fakeProviders{
		providers: []*auth.Provider{{Name: "acme", DisplayName: "Acme ID"}, {Name: "github"}},
		links:     map[string][]*auth.ProviderLink{},
	}
	h := newHarness(t, func(c *Config) { c.Providers = fp })
	u := h.user("ada", "a long enough password")
	fp.links[u.ID] = []*auth.ProviderLink{{Provider: "github", Subject: "1", UserID: u.ID, Email: "ada@gh.example"}}
	c, sess := h.signIn(u)

	resp, page := h.get(c, "/account/providers")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Acme ID") || !strings.Contains(page, "ada@gh.example") {
		t.Fatalf("page (%d):\n%s", resp.StatusCode, page)
	}
	// Linking is a POST form with its CSRF token in the body: no token in
	// a URL, and no GET starts a flow.
	if strings.Contains(page, "csrf_token=") || strings.Contains(page, `href="/account/providers/link`) {
		t.Fatalf("a link start carries its token in a URL:\n%s", page)
	}
	linkToken := csrfOf(t, page, "/account/providers/link")
	if resp, _ := h.get(c, "/account/providers/link?"+url.Values{"provider": {"acme"}, "csrf_token": {linkToken}}.Encode()); resp.StatusCode == http.StatusOK ||
		resp.StatusCode == http.StatusSeeOther || len(fp.started) != 0 {
		t.Fatalf("GET link: %d, started %d", resp.StatusCode, len(fp.started))
	}
	resp, body := h.post(c, "/account/providers/link", url.Values{"csrf_token": {linkToken}, "provider": {"acme"}})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Refresh"), "0; url=https://idp.example/") ||
		!strings.Contains(body, `href="https://idp.example/`) {
		t.Fatalf("link: %d %q\n%s", resp.StatusCode, resp.Header.Get("Refresh"), body)
	}
	if len(fp.started) != 1 || fp.started[0].Purpose != federation.PurposeLink || fp.started[0].UserID != u.ID ||
		fp.started[0].Session != hex.EncodeToString(sess.Hash) {
		t.Fatalf("started %+v", fp.started)
	}
	// Without the page's token (a form planted by another site), nothing starts.
	if resp, _ := h.post(c, "/account/providers/link", url.Values{"csrf_token": {"forged"}, "provider": {"acme"}}); resp.StatusCode != http.StatusForbidden || len(fp.started) != 1 {
		t.Fatalf("forged link: %d, started %d", resp.StatusCode, len(fp.started))
	}

	token := csrfOf(t, page, "/account/providers/unlink")
	resp, body = h.post(c, "/account/providers/unlink", url.Values{"csrf_token": {token}, "provider": {"github"}})
	if resp.StatusCode != http.StatusOK || len(fp.unlinked) != 1 || fp.unlinked[0] != u.ID+":github" {
		t.Fatalf("unlink: %d %v\n%s", resp.StatusCode, fp.unlinked, body)
	}
	// The last way in is refused with the service's message.
	fp.unlinkErr = auth.Errorf(auth.ECONFLICT, "This is the only way to sign in to your account.")
	resp, body = h.post(c, "/account/providers/unlink", url.Values{"csrf_token": {token}, "provider": {"github"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "only way to sign in") {
		t.Fatalf("last unlink: %d\n%s", resp.StatusCode, body)
	}
	// A forged unlink form is refused.
	if resp, _ := h.post(c, "/account/providers/unlink", url.Values{"csrf_token": {"x"}, "provider": {"github"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged unlink: %d", resp.StatusCode)
	}
}
