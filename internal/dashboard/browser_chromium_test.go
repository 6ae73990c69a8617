package dashboard

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// The browser tests drive the dashboard in Debian's headless Chromium, as
// a person would: the real login page, real forms under the real CSP.
// They skip without Chromium unless GATEHOUSE_REQUIRE_BROWSER=1.

// axeSource is axe-core, vendored for these tests only (testdata/axe:
// version, licence and sums); it is never embedded in the binary.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// chrome is one headless browser tab on a harness.
type chrome struct {
	t   *testing.T
	h   *harness
	ctx context.Context

	mu       sync.Mutex
	dialogs  []string // messages of JavaScript dialogs that opened
	requests []string // URLs of the documents the tab asked for
	statuses []int64  // statuses of the documents it received
}

func newChrome(t *testing.T, h *harness) *chrome {
	t.Helper()
	opts := testenv.Chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	c := &chrome{t: t, h: h, ctx: ctx}
	// A dialog would block the tab: note it and dismiss it, off the
	// reading goroutine as Listen requires.
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *cdppage.EventJavascriptDialogOpening:
			c.mu.Lock()
			c.dialogs = append(c.dialogs, e.Message)
			c.mu.Unlock()
			go chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := cdp.Call(ctx, t, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: false})
				return err
			}))
		case *network.EventResponseReceived:
			if e.Type == network.ResourceTypeDocument {
				c.mu.Lock()
				c.statuses = append(c.statuses, e.Response.Status)
				c.mu.Unlock()
			}
		case *network.EventRequestWillBeSent:
			if e.Type == network.ResourceTypeDocument {
				c.mu.Lock()
				c.requests = append(c.requests, e.Request.URL)
				c.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return c
}

// do runs steps with a bound on their time (the browser itself lives as
// long as the test).
func (c *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a script and decodes its result into T.
func eval[T any](c *chrome, script string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("browser: evaluate %.80q: %v", script, err)
	}
	return v
}

// open navigates to a dashboard path and returns the document's status.
func (c *chrome) open(path string) int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.h.URL+path))
	if err != nil {
		c.t.Fatalf("browser: open %s: %v", path, err)
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// openChecked opens a path and returns the response's CSP, failing on a
// status other than want.
func (c *chrome) openResponse(path string) *network.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.h.URL+path))
	if err != nil {
		c.t.Fatalf("browser: open %s: %v", path, err)
	}
	return resp
}

// path is the path and query of the tab's document.
func (c *chrome) path() string {
	loc := eval[string](c, `location.pathname + location.search`)
	return loc
}

// text is the text of the main content.
func (c *chrome) text() string {
	return eval[string](c, `document.querySelector("main, body").innerText`)
}

// waitFor polls a script until it is true: a form post's redirects end on
// a page the script recognises.
func (c *chrome) waitFor(what, cond string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("browser: waiting for %s: still at %s:\n%s", what, c.path(), c.text())
}

// submitting marks the current document, runs the action that submits a
// form, and waits until a new document has loaded.
func (c *chrome) submitting(what string, act chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	eval[chromedp.Void](c, `window.__ghOld = true`)
	c.do(what, act)
	c.waitFor(what, `window.__ghOld === undefined && document.readyState === "complete"`)
}

// press clicks the button that reads text.
func (c *chrome) press(text string) {
	c.t.Helper()
	sel := chromedp.Search(`//button[normalize-space(.)=` + xpathString(text) + `]`)
	c.submitting("press "+text, chromedp.Click(sel))
}

func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + s + `'`
}

// fill types value into the control labelled label (a select is set to
// it), as a person finds a field by its label.
func (c *chrome) fill(label, value string) {
	c.t.Helper()
	l, _ := json.Marshal(label)
	v, _ := json.Marshal(value)
	found := eval[[]string](c, `(() => {
		for (const l of document.querySelectorAll("label")) {
			const own = [...l.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
			if (own !== `+string(l)+`) continue;
			const el = l.control || document.getElementById(l.htmlFor);
			if (!el || !el.id) continue;
			if (el.tagName === "SELECT") {
				el.value = `+string(v)+`;
				el.dispatchEvent(new Event("change", {bubbles: true}));
			} else {
				el.value = "";
			}
			return [el.id, el.tagName, el.value];
		}
		return [];
	})()`)
	switch {
	case len(found) != 3:
		c.t.Fatalf("no control labelled %q on %s:\n%s", label, c.path(), c.text())
	case found[1] == "SELECT" && found[2] != value:
		c.t.Fatalf("the choice %q labelled %q has no option %q", found[0], label, value)
	case found[1] != "SELECT":
		c.do("fill "+label, chromedp.SendKeys(chromedp.ID(found[0]), value))
	}
}

// signIn signs in through the dashboard's redirect and the real login
// page, typing into its username and password inputs.
func (c *chrome) signIn(username string) {
	c.t.Helper()
	c.do("open the dashboard", chromedp.Navigate(c.h.URL+"/dashboard/"), chromedp.WaitVisible(chromedp.ID("username")))
	c.do("type the credentials",
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), testPassword))
	c.submitting("sign in", chromedp.Submit(chromedp.ID("password")))
	c.waitFor("the overview", `location.pathname === "/dashboard/"`)
}

// secret reads the secret shown once.
func (c *chrome) secret() string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("[data-secret]")))
	if err != nil {
		c.t.Fatalf("no secret shown on %s: %v\n%s", c.path(), err, c.text())
	}
	return strings.TrimSpace(s)
}

// lastStatus is the status of the last document received.
func (c *chrome) lastStatus() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.statuses) == 0 {
		return 0
	}
	return c.statuses[len(c.statuses)-1]
}

// choose clicks the radio button or checkbox labelled label.
func (c *chrome) choose(label string) {
	c.t.Helper()
	l, _ := json.Marshal(label)
	if !eval[bool](c, `(() => {
		for (const l of document.querySelectorAll("label")) {
			if (l.textContent.trim() !== `+string(l)+` || !l.control) continue;
			l.control.click();
			return l.control.checked;
		}
		return false;
	})()`) {
		c.t.Fatalf("no choice labelled %q on %s", label, c.path())
	}
}

func (c *chrome) dialogsOpened() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.dialogs)
}

// visited returns the documents asked for since from (an index into the
// list, from visitedCount).
func (c *chrome) visited(from int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests[from:])
}

func (c *chrome) visitedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

// registered reports whether the dashboard serves a page for pattern
// ("GET /dashboard/audit"): pages other files add are checked once they
// exist.
func registered(h *harness, pattern string) bool {
	for _, p := range h.Dashboard.pages() {
		if p.pattern == pattern {
			return true
		}
	}
	return false
}

// needPages fails a journey whose pages are not in the route table, so
// a page removed or renamed is a failure here rather than a 404 midway.
func needPages(t *testing.T, h *harness, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !registered(h, p) {
			t.Fatalf("the journey needs %s, which the dashboard does not serve", p)
		}
	}
}

func verifyCode(t *testing.T, h *harness, key string) (apikey.Code, *auth.APIKey) {
	t.Helper()
	res, err := h.Keys.Verify(context.Background(), key, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res.Code, res.Key
}

func TestChromiumAnAdminCreatesUsesRotatesAndRevokesAKey(t *testing.T) {
	h := newHarness(t)
	admin := h.user("alice", auth.RoleAdmin)
	needPages(t, h, "GET /dashboard/keys/new", "GET /dashboard/keys/{id}/rotate", "GET /dashboard/keys/{id}/revoke")
	c := newChrome(t, h)
	c.signIn("alice")

	c.open("/dashboard/keys/new")
	c.fill("Owner", "billing")
	c.fill("Name", "invoices")
	c.fill("Scopes", "orders:read")
	c.press("Create key")
	secret := c.secret()
	if !strings.Contains(c.text(), "you will not see it again") {
		t.Error("the new key's page does not say it is shown once")
	}
	code, k := verifyCode(t, h, secret)
	if code != apikey.CodeValid || k.Owner != "billing" || k.Name != "invoices" || !slices.Equal(k.Scopes, []string{"orders:read"}) {
		t.Fatalf("the key shown verifies as %s, %+v", code, k)
	}
	// Shown once: the key's page never holds it again.
	c.open("/dashboard/keys/" + k.ID)
	if strings.Contains(eval[string](c, `document.documentElement.outerHTML`), secret) {
		t.Fatal("the key's page shows the secret again")
	}

	flushUsage(t, h)
	c.open("/dashboard/keys/" + k.ID)
	charts := eval[string](c, `[...document.querySelectorAll("figure.chart")].map(f => f.textContent).join(" ")`)
	if !strings.Contains(charts, "VALID: 1") {
		t.Errorf("the key's usage chart does not show the verification: %q", charts)
	}

	c.open("/dashboard/keys/" + k.ID + "/rotate")
	c.choose("1 hour")
	c.press("Rotate key")
	rotated := c.secret()
	code, nk := verifyCode(t, h, rotated)
	if code != apikey.CodeValid || nk.ID == k.ID || nk.RotatedFrom != k.ID {
		t.Fatalf("the rotated key verifies as %s, %+v", code, nk)
	}

	c.open("/dashboard/keys/" + nk.ID + "/revoke")
	if h1 := eval[string](c, `document.querySelector("h1").textContent`); !strings.Contains(h1, "invoices") {
		t.Errorf("the revocation's confirmation does not name the key: %q", h1)
	}
	c.press("Revoke key")
	if code, _ := verifyCode(t, h, rotated); code != apikey.CodeRevoked {
		t.Fatalf("the revoked key verifies as %s", code)
	}

	// The store's log has each step with the admin as actor ...
	events, _, err := h.Store.ListAuditEvents(context.Background(), auth.AuditFilter{Actor: admin.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, e := range events {
		steps = append(steps, e.Type+" "+e.KeyID)
	}
	for _, want := range []string{auth.EventKeyCreated + " " + k.ID, auth.EventKeyRotated + " " + k.ID, auth.EventKeyRevoked + " " + nk.ID} {
		if !slices.Contains(steps, want) {
			t.Errorf("audit log by %s lacks %q: %v", admin.ID, want, steps)
		}
	}
	// ... and the audit page shows them so.
	if !registered(h, "GET /dashboard/audit") {
		t.Log("the audit page is not built yet: its rows are not checked")
		return
	}
	c.open("/dashboard/audit")
	rows := eval[[]string](c, `[...document.querySelectorAll("tr")].map(r => r.innerHTML)`)
	for _, want := range [][2]string{{auth.EventKeyCreated, k.ID}, {auth.EventKeyRotated, k.ID}, {auth.EventKeyRevoked, nk.ID}} {
		found := false
		for _, r := range rows {
			if strings.Contains(r, want[0]) && strings.Contains(r, want[1]) && strings.Contains(r, admin.ID) {
				found = true
			}
		}
		if !found {
			t.Errorf("the audit page has no row of %s on %s by %s", want[0], want[1], admin.ID)
		}
	}
}

func TestChromiumADeveloperManagesOnlyTheirOwnersKeys(t *testing.T) {
	h := newHarness(t)
	h.user("dev", auth.RoleDeveloper, "billing")
	overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "billing-existing"})
	theirs, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "shipping-secret"})
	needPages(t, h, "GET /dashboard/keys", "GET /dashboard/keys/new", "GET /dashboard/keys/{id}", "GET /dashboard/keys/{id}/revoke")
	c := newChrome(t, h)
	c.signIn("dev")

	c.open("/dashboard/keys")
	list := c.text()
	if !strings.Contains(list, "billing-existing") || strings.Contains(list, "shipping-secret") {
		t.Fatalf("the developer's key list:\n%s", list)
	}

	c.open("/dashboard/keys/new")
	c.fill("Owner", "billing")
	c.fill("Name", "dev-made")
	c.fill("Scopes", "orders:read")
	c.press("Create key")
	secret := c.secret()
	code, k := verifyCode(t, h, secret)
	if code != apikey.CodeValid || k.Owner != "billing" {
		t.Fatalf("the developer's key verifies as %s, %+v", code, k)
	}
	c.open("/dashboard/keys/" + k.ID + "/revoke")
	c.press("Revoke key")
	if code, _ := verifyCode(t, h, secret); code != apikey.CodeRevoked {
		t.Fatalf("the revoked key verifies as %s", code)
	}

	if status := c.open("/dashboard/keys/" + theirs.ID); status != 404 {
		t.Errorf("another owner's key: %d, want 404", status)
	}
	if status := c.open("/dashboard/keys/" + theirs.ID + "/revoke"); status != 404 {
		t.Errorf("another owner's key's revocation: %d, want 404", status)
	}
	if status := c.open("/dashboard/users"); status != 403 {
		t.Errorf("the users page: %d, want 403", status)
	}
}

func TestChromiumAFormWithAWrongTokenIsRefused(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	needPages(t, h, "GET /dashboard/keys/new")
	c := newChrome(t, h)
	c.signIn("alice")
	c.open("/dashboard/keys/new")
	c.fill("Owner", "billing")
	c.fill("Name", "forged")
	eval[chromedp.Void](c, `document.querySelectorAll('input[name="csrf_token"]').forEach(i => i.value = "wrong")`)
	c.press("Create key")
	if !strings.Contains(c.text(), "did not come from this dashboard") {
		t.Errorf("a form with a wrong token was answered:\n%s", c.text())
	}
	if status := c.lastStatus(); status != 403 {
		t.Errorf("a form post with a wrong token: %d, want 403", status)
	}
	keys, _, err := h.Keys.List(context.Background(), auth.APIKeyFilter{})
	if err != nil || len(keys) != 0 {
		t.Fatalf("a refused form created keys: %v, %v", keys, err)
	}
}

func TestChromiumAnEndedSessionSignsInAgain(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	c := newChrome(t, h)
	c.signIn("alice")

	// Idle: the dashboard's session ends, and the next page goes through
	// the sign-in to the login page: the Gatehouse session (12 hours)
	// still stands, but the sign-in's max_age is the idle timeout.
	h.Clock.Add(DefaultIdleTimeout + time.Minute)
	from := c.visitedCount()
	c.open("/dashboard/?after=idle")
	went := c.visited(from)
	if !slices.ContainsFunc(went, func(u string) bool { return strings.Contains(u, "/dashboard/signin") }) {
		t.Errorf("after the idle timeout the page did not go through the sign-in: %v", went)
	}
	c.waitFor("the login page after idling", `!!document.getElementById("password")`)
	c.signIn("alice")

	// Signing out: the script posts the end-session form, and the
	// browser lands on the signed-out page with both sessions ended.
	c.press("Sign out")
	c.waitFor("the signed-out page", `location.pathname === "`+SignedOutPath+`"`)
	c.open("/dashboard/")
	c.waitFor("the login page after signing out", `!!document.getElementById("password")`)
	c.signIn("alice")

	// Past every session's lifetime, the login page asks again.
	h.Clock.Add(DefaultAbsoluteTimeout + time.Hour)
	c.open("/dashboard/")
	c.waitFor("the login page", `!!document.getElementById("password")`)
	if p := c.path(); !strings.HasPrefix(p, "/oauth2/") {
		t.Errorf("an expired session shows %s, want the login page", p)
	}
}

func TestChromiumUserTextIsInertOnEveryPage(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	ctx := context.Background()
	var paths []string
	for i, x := range xssPayloads {
		k, _ := overviewKey(t, h, apikey.CreateParams{Owner: x, Name: x, Metadata: map[string]string{x: x},
			RotationPeriod: time.Hour})
		paths = append(paths, "/dashboard/keys/"+k.ID, "/dashboard/keys/"+k.ID+"/revoke", "/dashboard/keys/"+k.ID+"/rotate")
		cl, _, err := h.Clients.Create(ctx, auth.ActorSystem, client.Input{Name: x, Owner: x,
			RedirectURIs: []string{"https://app.example/cb?q=" + url.QueryEscape(x) + "&i=" + strconv.Itoa(i)}, Scopes: []string{"openid"}})
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		paths = append(paths, "/dashboard/clients/"+cl.ID)
		ep, _, err := h.Webhooks.Create(ctx, webhook.CreateParams{URL: "https://hooks.example/" + strconv.Itoa(i), Description: x, Events: []string{auth.WebhookKeyRevoked}}, auth.ActorSystem)
		if err != nil {
			t.Fatalf("webhook: %v", err)
		}
		paths = append(paths, "/dashboard/webhooks/"+ep.ID)
		u, err := h.Users.Create(ctx, auth.ActorSystem, account.CreateInput{Username: "user" + strconv.Itoa(i), Password: testPassword,
			Name: x, Role: auth.RoleDeveloper, Owners: []string{x}})
		if err != nil {
			t.Fatalf("user: %v", err)
		}
		paths = append(paths, "/dashboard/users/"+u.ID)
	}
	h.Clock.Add(2 * time.Hour) // due for rotation: on the overview too
	paths = append(paths, "/dashboard/", "/dashboard/keys", "/dashboard/clients", "/dashboard/users", "/dashboard/webhooks", "/dashboard/audit")

	c := newChrome(t, h)
	c.signIn("alice")
	for _, p := range paths {
		pattern := "GET " + p
		if !pageBuilt(h, p) {
			t.Logf("%s: page not built yet", pattern)
			continue
		}
		c.open(p)
		injected := eval[int](c, `document.querySelectorAll("img[src=x], script:not([src])").length`)
		if injected != 0 {
			t.Errorf("%s: %d injected elements", p, injected)
		}
		if !strings.Contains(c.text(), xssPayloads[0]) && !strings.Contains(c.text(), xssPayloads[1]) {
			t.Logf("%s: shows neither payload as text", p)
		}
	}
	if d := c.dialogsOpened(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
}

// pageBuilt reports whether some registered GET pattern serves path.
func pageBuilt(h *harness, path string) bool {
	for _, p := range h.Dashboard.pages() {
		method, pat, _ := strings.Cut(p.pattern, " ")
		if method == "GET" && patternMatches(pat, path) {
			return true
		}
	}
	return false
}

// patternMatches matches a ServeMux pattern's segments ({x} any one,
// {$} the end) against a path.
func patternMatches(pattern, path string) bool {
	ps := strings.Split(strings.TrimSuffix(pattern, "{$}"), "/")
	xs := strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if ps[i] != xs[i] && !(strings.HasPrefix(ps[i], "{") && strings.HasSuffix(ps[i], "}") && xs[i] != "") {
			return false
		}
	}
	return true
}

// axeRun runs axe-core on the document and lists its serious and critical
// violations, one line each with the elements concerned.
const axeRun = testenv.AxeRun

// everyPage is each page of the dashboard with the fixtures it needs.
func everyPage(t *testing.T, h *harness) []string {
	t.Helper()
	ctx := context.Background()
	k, _ := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "invoices", Metadata: map[string]string{"team": "payments"}})
	_, used := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "labels", RotationPeriod: time.Hour})
	verifyTimes(t, h, used, nil, 3)
	cl, _, err := h.Clients.Create(ctx, auth.ActorSystem, client.Input{Name: "Storefront", Owner: "billing",
		RedirectURIs: []string{"https://shop.example/cb"}, Scopes: []string{"openid", "profile"}})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	u := h.user("bob", auth.RoleDeveloper, "billing")
	ep, _, err := h.Webhooks.Create(ctx, webhook.CreateParams{URL: "https://hooks.example/in", Description: "alerts", Events: []string{auth.WebhookKeyRevoked}}, auth.ActorSystem)
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	if _, err := h.Routes.Create(ctx, auth.Route{Name: "orders", PathPrefix: "/orders", Upstreams: []string{"http://127.0.0.1:1"}, Policy: auth.PolicyAPIKey}, auth.ActorSystem); err != nil {
		t.Fatalf("route: %v", err)
	}
	return []string{
		"/dashboard/",
		"/dashboard/keys", "/dashboard/keys/new", "/dashboard/keys/" + k.ID,
		"/dashboard/keys/" + k.ID + "/rotate", "/dashboard/keys/" + k.ID + "/revoke",
		"/dashboard/clients", "/dashboard/clients/new", "/dashboard/clients/" + cl.ID,
		"/dashboard/users", "/dashboard/users/new", "/dashboard/users/" + u.ID,
		"/dashboard/signing-keys",
		"/dashboard/routes", "/dashboard/routes/new",
		"/dashboard/webhooks", "/dashboard/webhooks/" + ep.ID,
		"/dashboard/audit",
	}
}

// TestChromiumEveryPageIsAccessibleInBothSchemesAndAtEveryWidth runs
// axe-core on every page, light and dark, 320 px wide and on a desktop,
// failing on a serious or critical violation; checks that no page scrolls
// sideways at 320 px and that each has a strict CSP.
func TestChromiumEveryPageIsAccessibleInBothSchemesAndAtEveryWidth(t *testing.T) {
	h := newHarness(t)
	h.user("alice", auth.RoleAdmin)
	paths := everyPage(t, h)
	c := newChrome(t, h)
	c.signIn("alice")
	var missing []string
	for _, p := range paths {
		if !pageBuilt(h, p) {
			missing = append(missing, p)
			continue
		}
		resp := c.openResponse(p)
		if resp == nil || resp.Status != 200 {
			t.Errorf("%s: status %v", p, resp)
			continue
		}
		checkCSP(t, p, resp.Headers)
		eval[chromedp.Void](c, axeSource+"\n;undefined")
		for _, width := range []int64{320, 1280} {
			c.do("viewport", chromedp.EmulateViewport(width, 900))
			eval[chromedp.Void](c, settle) // the page's resize handlers run
			if width == 320 {
				if sw := eval[int64](c, `document.documentElement.scrollWidth`); sw > 320 {
					t.Errorf("%s at 320 px: the page is %d px wide: %s", p, sw, eval[string](c, widest))
				}
			}
			for _, scheme := range []string{"light", "dark"} {
				c.do("color scheme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
					})
					return err
				}))
				for _, v := range eval[[]string](c, axeRun) {
					t.Errorf("%s, %s, %d px: %s", p, scheme, width, v)
				}
			}
		}
	}
	if len(missing) > 0 {
		t.Logf("pages not built yet, not checked: %s", strings.Join(missing, " "))
	}
	if d := c.dialogsOpened(); len(d) != 0 {
		t.Errorf("dialogs opened: %q", d)
	}
}

// settle waits for a frame and the tasks queued before it.
const settle = `new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))`

// widest names the elements wider than the viewport, for the message of
// an overflow.
const widest = `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
	.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "") + " " + Math.round(e.getBoundingClientRect().right) + "px").join(", ")`

// checkCSP requires a Content-Security-Policy without unsafe-inline or
// unsafe-eval, which allows our own scripts only.
func checkCSP(t *testing.T, path string, headers network.Headers) {
	t.Helper()
	var csp string
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Security-Policy") {
			csp = fmt.Sprint(v)
		}
	}
	if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
		!strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%s: Content-Security-Policy %q", path, csp)
	}
}
