package selfservice

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
)

// passkeyHarness is the harness with the passkey service mounted.
func passkeyHarness(t *testing.T) (*harness, *passkey.Service) {
	t.Helper()
	var svc *passkey.Service
	h := newHarness(t, func(c *Config) {
		// WebAuthn takes no IP address as a relying party: the server
		// is localhost (where browsers allow WebAuthn over plain HTTP).
		c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1)
		var err error
		svc, err = passkey.New(passkey.Config{Issuer: c.Issuer, Store: c.Store.(passkey.Store), Users: c.Accounts, Hasher: c.Hasher, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Passkeys = svc
	})
	return h, svc
}

// postJSON sends what the passkey script sends: a JSON POST from our
// page, with the CSRF token in a header.
func (h *harness) postJSON(c *http.Client, path, token string, body any, headers map[string]string) (*http.Response, map[string]any) {
	h.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, h.http.URL+path, bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.srv.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-CSRF-Token", token)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	var out map[string]any
	json.Unmarshal([]byte(readBody(h.t, resp)), &out)
	return resp, out
}

// registerToken reads the add form's token from the passkeys page.
func registerToken(t *testing.T, page string) string {
	t.Helper()
	return csrfOf(t, page, pathPasskeyFinish)
}

// addPasskey runs the registration through the JSON endpoints with a.
func (h *harness) addPasskey(c *http.Client, a *passkeytest.Authenticator, name, ret string) map[string]any {
	h.t.Helper()
	_, page := h.get(c, pathPasskeys)
	tok := registerToken(h.t, page)
	resp, begun := h.postJSON(c, pathPasskeyBegin, tok, map[string]string{"name": name, "return": ret}, nil)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("begin: %d %v", resp.StatusCode, begun)
	}
	opts, _ := json.Marshal(begun["options"])
	cred := json.RawMessage(a.Create(h.t, opts))
	resp, done := h.postJSON(c, pathPasskeyFinish, tok, map[string]any{"name": name, "return": ret, "state": begun["state"], "credential": cred}, nil)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("finish: %d %v", resp.StatusCode, done)
	}
	return done
}

func TestPasskeysPageAddsRenamesAndRemoves(t *testing.T) {
	h, svc := passkeyHarness(t)
	u := h.user("ada", "correct horse battery")
	c, sess := h.signIn(u)
	resp, page := h.get(c, pathPasskeys)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "You have no passkeys yet") {
		t.Fatalf("%d:\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Fatalf("CSP %q", csp)
	}
	if !strings.Contains(page, `<script src="/oauth2/static/passkey.js" defer></script>`) {
		t.Fatal("the page does not load the passkey script")
	}

	a := &passkeytest.Authenticator{Origin: h.srv.origin, UserVerified: true, Counting: true}
	done := h.addPasskey(c, a, "Laptop", "")
	if done["redirect"] != pathPasskeys+"?done=added" {
		t.Fatalf("finish answered %v", done)
	}
	// The session now says a second factor was used.
	got, err := h.db.GetSession(context.Background(), sess.Hash, h.clock.Now())
	if err != nil || !auth.HasMFA(got.AMR) {
		t.Fatalf("session after adding a passkey: %+v %v", got, err)
	}
	_, page = h.get(c, pathPasskeys+"?done=added")
	if !strings.Contains(page, "<h2>Laptop</h2>") || !strings.Contains(page, "Passkey added.") || !strings.Contains(page, "never used") {
		t.Fatalf("page after adding:\n%s", page)
	}
	list, _ := svc.List(context.Background(), u.ID)
	if len(list) != 1 {
		t.Fatalf("%d passkeys", len(list))
	}
	id := list[0].ID

	// Rename, then remove.
	tok := csrfOf(t, page, pathPasskeys)
	resp, body := h.post(c, pathPasskeys, url.Values{"csrf_token": {tok}, "op": {"rename"}, "id": {id}, "name": {"Work laptop"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pathPasskeys+"?done=renamed" {
		t.Fatalf("rename: %d %s", resp.StatusCode, body)
	}
	resp, body = h.post(c, pathPasskeys, url.Values{"csrf_token": {tok}, "op": {"rename"}, "id": {id}, "name": {" "}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Give the passkey a name.") {
		t.Fatalf("empty name: %d %s", resp.StatusCode, body)
	}
	resp, _ = h.post(c, pathPasskeys, url.Values{"csrf_token": {tok}, "op": {"remove"}, "id": {id}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pathPasskeys+"?done=removed" {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
	if list, _ := svc.List(context.Background(), u.ID); len(list) != 0 {
		t.Fatalf("%d passkeys after removal", len(list))
	}
	evs, _, _ := h.db.ListAuditEvents(context.Background(), auth.AuditFilter{Target: u.ID, Limit: 100})
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if strings.Join(types, " ") != "user.created user.passkey_registered user.passkey_renamed user.passkey_removed" {
		t.Fatalf("audit %v", types)
	}
}

func TestPasskeyRegistrationReturnsWhereItWasAsked(t *testing.T) {
	h, _ := passkeyHarness(t)
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	a := &passkeytest.Authenticator{Origin: h.srv.origin}
	ret := "/oauth2/authorize?client_id=x&state=y"
	if done := h.addPasskey(c, a, "", ret); done["redirect"] != ret {
		t.Fatalf("redirect %v", done["redirect"])
	}
	// Another site is never a destination.
	if done := h.addPasskey(c, a, "", "https://evil.example/"); done["redirect"] != pathPasskeys+"?done=added" {
		t.Fatalf("redirect %v", done["redirect"])
	}
}

func TestPasskeyEndpointsRefuseCrossSiteAndForgedRequests(t *testing.T) {
	h, svc := passkeyHarness(t)
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	_, page := h.get(c, pathPasskeys)
	tok := registerToken(t, page)
	other := h.user("eve", "correct horse battery")
	eve, _ := h.signIn(other)
	_, evePage := h.get(eve, pathPasskeys)
	eveTok := registerToken(t, evePage)
	for _, tc := range []struct {
		name    string
		client  *http.Client
		token   string
		headers map[string]string
		status  int
	}{
		{"another site's page", c, tok, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"a sibling site", c, tok, map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"no Origin", c, tok, map[string]string{"Origin": ""}, http.StatusForbidden},
		{"Origin null", c, tok, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"no CSRF header", c, "", nil, http.StatusForbidden},
		{"another session's token", c, eveTok, nil, http.StatusForbidden},
		{"a form post", c, tok, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"text/plain (a simple request)", c, tok, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"signed out", &http.Client{}, tok, nil, http.StatusUnauthorized},
	} {
		for _, path := range []string{pathPasskeyBegin, pathPasskeyFinish} {
			resp, out := h.postJSON(tc.client, path, tc.token, map[string]string{"name": "x"}, tc.headers)
			if resp.StatusCode != tc.status || out["error"] == nil {
				t.Errorf("%s at %s: %d %v, want %d", tc.name, path, resp.StatusCode, out, tc.status)
			}
		}
	}
	// A token of the rename/remove forms is not one of registration.
	resp, _ := h.postJSON(c, pathPasskeyBegin, csrfOf(t, page, "/account/sign-out"), map[string]string{}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out token: %d", resp.StatusCode)
	}
	// Forms without their token, or from another site, change nothing.
	a := &passkeytest.Authenticator{Origin: h.srv.origin}
	h.addPasskey(c, a, "k", "")
	list, _ := svc.List(context.Background(), u.ID)
	resp, _ = h.post(c, pathPasskeys, url.Values{"op": {"remove"}, "id": {list[0].ID}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("remove without token: %d", resp.StatusCode)
	}
	req := httptestPost(t, c, h.http.URL+pathPasskeys, url.Values{"csrf_token": {csrfOf(t, page, "/account/sign-out")}, "op": {"remove"}, "id": {list[0].ID}}, "cross-site")
	if resp, _ := c.Do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site remove: %d", resp.StatusCode)
	}
	// Eve cannot remove Ada's passkey with her own valid form.
	_, evePage = h.get(eve, pathPasskeys)
	resp, _ = h.post(eve, pathPasskeys, url.Values{"csrf_token": {csrfOf(t, evePage, "/account/sign-out")}, "op": {"remove"}, "id": {list[0].ID}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("eve with a sign-out token: %d", resp.StatusCode)
	}
	if list, _ := svc.List(context.Background(), u.ID); len(list) != 1 {
		t.Fatalf("ada has %d passkeys", len(list))
	}
}

func TestAnotherUsersPasskeyCannotBeRemoved(t *testing.T) {
	h, svc := passkeyHarness(t)
	ada, eve := h.user("ada", "correct horse battery"), h.user("eve", "correct horse battery")
	ca, _ := h.signIn(ada)
	h.addPasskey(ca, &passkeytest.Authenticator{Origin: h.srv.origin}, "ada's", "")
	adaKeys, _ := svc.List(context.Background(), ada.ID)
	ce, _ := h.signIn(eve)
	h.addPasskey(ce, &passkeytest.Authenticator{Origin: h.srv.origin}, "eve's", "")
	_, page := h.get(ce, pathPasskeys)
	tok := csrfOf(t, page, pathPasskeys)
	for _, op := range []string{"remove", "rename"} {
		resp, body := h.post(ce, pathPasskeys, url.Values{"csrf_token": {tok}, "op": {op}, "id": {adaKeys[0].ID}, "name": {"pwned"}})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s ada's passkey as eve: %d %s", op, resp.StatusCode, body)
		}
	}
	if list, _ := svc.List(context.Background(), ada.ID); len(list) != 1 || list[0].Name != "ada's" {
		t.Fatalf("ada's passkeys %+v", list)
	}
}

func TestAddingOrRemovingAPasskeyNeedsARecentSignIn(t *testing.T) {
	h, svc := passkeyHarness(t)
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	h.addPasskey(c, &passkeytest.Authenticator{Origin: h.srv.origin}, "k", "")
	_, page := h.get(c, pathPasskeys)
	regTok, formTok := registerToken(t, page), csrfOf(t, page, pathPasskeys)
	h.clock.Add(DefaultRecentAuth + time.Second)

	_, page = h.get(c, pathPasskeys)
	if strings.Contains(page, `data-passkey="register"`) || !strings.Contains(page, `href="/account/passkeys/add"`) {
		t.Fatalf("an old sign-in is offered the add form:\n%s", page)
	}
	resp, out := h.postJSON(c, pathPasskeyBegin, regTok, map[string]string{}, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(out["error"].(string), "too old") {
		t.Fatalf("begin with an old sign-in: %d %v", resp.StatusCode, out)
	}
	list, _ := svc.List(context.Background(), u.ID)
	resp, _ = h.post(c, pathPasskeys, url.Values{"csrf_token": {formTok}, "op": {"remove"}, "id": {list[0].ID}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/test-sign-in") {
		t.Fatalf("remove with an old sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if last := h.sessions.signIns[len(h.sessions.signIns)-1]; last.returnTo != pathPasskeys || last.maxAge != DefaultRecentAuth {
		t.Fatalf("SignIn %+v", last)
	}
	if list, _ := svc.List(context.Background(), u.ID); len(list) != 1 {
		t.Fatal("removed with an old sign-in")
	}
	// Renaming is a factor change too.
	resp, _ = h.post(c, pathPasskeys, url.Values{"csrf_token": {formTok}, "op": {"rename"}, "id": {list[0].ID}, "name": {"n"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/test-sign-in") {
		t.Fatalf("rename with an old sign-in: %d", resp.StatusCode)
	}
	// The add link asks for a new sign-in and comes back.
	resp, _ = h.get(c, pathPasskeyAdd+"?return="+url.QueryEscape("/oauth2/authorize?x=1"))
	if last := h.sessions.signIns[len(h.sessions.signIns)-1]; resp.StatusCode != http.StatusSeeOther || last.returnTo != pathPasskeyAdd+"?return=%2Foauth2%2Fauthorize%3Fx%3D1" {
		t.Fatalf("add: %d %+v", resp.StatusCode, last)
	}
	c2, _ := h.signIn(u, auth.AMRPassword, auth.AMRHardwareKey) // the user has a passkey: two factors
	resp, _ = h.get(c2, pathPasskeyAdd+"?return="+url.QueryEscape("/oauth2/authorize?x=1"))
	if resp.Header.Get("Location") != pathPasskeys+"?return=%2Foauth2%2Fauthorize%3Fx%3D1" {
		t.Fatalf("add with a fresh sign-in: %s", resp.Header.Get("Location"))
	}
}

func TestPasskeyPagesNeedASignInAndTheService(t *testing.T) {
	h, _ := passkeyHarness(t)
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, _ := h.get(anon, pathPasskeys); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: %d", resp.StatusCode)
	}
	bare := newHarness(t)
	u := bare.user("ada", "correct horse battery")
	c, _ := bare.signIn(u)
	if resp, _ := bare.get(c, pathPasskeys); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("without the service: %d", resp.StatusCode)
	}
}
