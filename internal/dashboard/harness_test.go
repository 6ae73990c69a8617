package dashboard

import (
	"context"
	"crypto/rand"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/oauth"
	"github.com/gatehouse-dev/gatehouse/internal/routes"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// harness is a whole node's worth of real services over a temporary
// SQLite file — the authorization server at /oauth2/, the admin services,
// the dashboard at /dashboard/ — served by an httptest server whose URL is
// the issuer. Tests drive it with real HTTP, as a browser would.
type harness struct {
	t         testing.TB
	URL       string
	HTTP      *httptest.Server
	Store     *sqlite.DB
	Clock     *testenv.Clock
	Keys      *apikey.Service
	Clients   *client.Registry
	Users     *account.Service
	OAuth     *oauth.Server
	Signing   *signing.Keyring
	Routes    *routes.Service
	Webhooks  *webhook.Service
	Usage     *usage.Counter
	Dashboard *Server
}

// newHarness builds the node. opts may change the dashboard's Config.
func newHarness(t testing.TB, opts ...func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	// Wall-clock aligned: the x/oauth2 client looks at expiry with the
	// real clock.
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	serverSecret := make([]byte, 32)
	rand.Read(serverSecret)
	hasher, err := secret.NewHasher(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.NewSealer(signing.DeriveMasterKey(serverSecret))
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := signing.New(ctx, db, sealer, signing.Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	users, err := account.New(account.Config{Store: db, Sessions: db, Audit: db, Now: clock.Now,
		ResetLinks: account.ResetLinkConfig{Hasher: hasher, URL: "https://id.example.test/account/reset"}})
	if err != nil {
		t.Fatal(err)
	}
	clients, err := client.New(client.Config{Store: db, Hasher: hasher, Now: clock.Now, FirstParty: []string{ClientID}})
	if err != nil {
		t.Fatal(err)
	}
	counter := usage.NewCounter()
	keys, err := apikey.NewService(apikey.Config{Store: db, Audit: db, Secret: serverSecret, Prefix: "sk_test_", Now: clock.Now, Usage: counter})
	if err != nil {
		t.Fatal(err)
	}
	routeSvc, err := routes.New(routes.Config{Store: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	whKey, err := webhook.DeriveSealingKey(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	whSealer, err := signing.NewSealer(whKey)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.NewService(webhook.ServiceConfig{Store: db, Sealer: whSealer, AllowPrivate: true, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	var handler http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)

	authz, err := oauth.New(oauth.Config{
		Issuer: hs.URL, Store: db, Audit: db, Clients: clients, Hasher: hasher, Keys: keyring, Accounts: users,
		Now: clock.Now, InsecureCookies: true, FirstPartyClients: []string{ClientID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.EnsureFirstParty(ctx, ClientID, FirstPartyClient(hs.URL)); err != nil {
		t.Fatalf("dashboard client: %v", err)
	}
	cfg := Config{
		Issuer: hs.URL, Authorization: authz.Handler(), JWKS: keyring.JWKS,
		Keys: keys, Clients: clients, Users: users, Consents: authz, SigningKeys: keyring,
		Routes: routeSvc, Webhooks: hooks, Store: db, Hasher: hasher, Factors: mustFactors(t, db, users, clock.Now),
		Insecure: true, Now: clock.Now,
		// What the tests' developers hand out; grants_test.go tests the rule.
		DeveloperScopes: []string{"read", "write", "orders:read", "read:orders", "write:orders"},
	}
	for _, o := range opts {
		o(&cfg)
	}
	dash, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/oauth2/", authz.Handler())
	mux.Handle("/.well-known/", authz.Handler())
	mux.Handle("/dashboard/", dash.Handler())
	mux.Handle("/dashboard", dash.Handler())
	handler = mux
	return &harness{
		t: t, URL: hs.URL, HTTP: hs, Store: db, Clock: clock, Keys: keys, Clients: clients, Users: users,
		OAuth: authz, Signing: keyring, Routes: routeSvc, Webhooks: hooks, Usage: counter, Dashboard: dash,
	}
}

// user creates an account with testPassword.
func (h *harness) user(username, role string, owners ...string) *auth.User {
	h.t.Helper()
	u, err := h.Users.Create(context.Background(), auth.ActorSystem, account.CreateInput{
		Username: username, Password: testPassword, Role: role, Owners: owners,
	})
	if err != nil {
		h.t.Fatalf("create user %s: %v", username, err)
	}
	return u
}

// browser is a cookie-keeping HTTP client that does not follow redirects
// by itself, so tests see each step.
type browser struct {
	t    testing.TB
	h    *harness
	c    *http.Client
	csrf string // the form token of the last page that had one
}

func (h *harness) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return &browser{t: h.t, h: h, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signIn returns a browser signed in to the dashboard as username, through
// the real flow: the dashboard's redirect, the login page, the callback.
func (h *harness) signIn(username string) *browser {
	h.t.Helper()
	b := h.browser()
	p := b.follow(b.get("/dashboard/"))
	if p.Request.URL.Path != "/oauth2/login" && !strings.Contains(p.body, `name="password"`) {
		h.t.Fatalf("signing in did not reach the login page: %s\n%s", p.Request.URL, p.body)
	}
	lf := p.form(`name="password"`)
	lf.fields.Set("username", username)
	lf.fields.Set("password", testPassword)
	done := b.follow(b.send(http.MethodPost, lf.action, lf.fields))
	if done.StatusCode != http.StatusOK || done.Request.URL.Path != "/dashboard/" {
		h.t.Fatalf("signed in to %s with status %d:\n%s", done.Request.URL, done.StatusCode, done.body)
	}
	return b
}

// response is one response, its body read.
type response struct {
	*http.Response
	body string
}

// url makes a path absolute on the harness.
func (b *browser) url(p string) string {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		return p
	}
	return b.h.URL + p
}

func (b *browser) send(method, target string, form url.Values) *response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.url(target), body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin") // as a browser sends for our own forms
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	p := &response{Response: resp, body: string(raw)}
	if m := csrfRe.FindStringSubmatch(p.body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return p
}

func (b *browser) get(target string) *response { return b.send(http.MethodGet, target, nil) }

// post sends a form with the session's CSRF token (read from the
// overview if no page has shown one yet), as the dashboard's own forms do.
func (b *browser) post(target string, form url.Values) *response {
	b.t.Helper()
	if b.csrf == "" {
		b.get("/dashboard/")
	}
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if f.Get("csrf_token") == "" {
		f.Set("csrf_token", b.csrf)
	}
	return b.send(http.MethodPost, target, f)
}

// follow follows redirects (at most 10) and returns the last page.
func (b *browser) follow(p *response) *response {
	b.t.Helper()
	for i := 0; i < 10 && p.StatusCode >= 300 && p.StatusCode < 400; i++ {
		loc, err := p.Request.URL.Parse(p.Header.Get("Location"))
		if err != nil {
			b.t.Fatal(err)
		}
		p = b.get(loc.String())
	}
	return p
}

var (
	csrfRe  = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	formRe  = regexp.MustCompile(`(?s)<form[^>]*method="post"[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe = regexp.MustCompile(`<input ([^>]*)>`)
	attrRe  = regexp.MustCompile(`([\w-]+)="([^"]*)"`)
)

// htmlForm is a form of a page.
type htmlForm struct {
	action string
	fields url.Values
}

// form returns the first form on the page whose HTML contains marker.
func (p *response) form(marker string) htmlForm {
	for _, m := range formRe.FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(m[0], marker) {
			continue
		}
		f := htmlForm{action: html.UnescapeString(m[1]), fields: url.Values{}}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRe.FindAllStringSubmatch(in[1], -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			if attrs["name"] != "" && (attrs["type"] != "checkbox" || strings.Contains(in[1], "checked")) {
				f.fields.Add(attrs["name"], attrs["value"])
			}
		}
		if u, err := p.Request.URL.Parse(f.action); err == nil {
			f.action = u.String()
		}
		return f
	}
	panic("no form with " + marker + " on the page:\n" + p.body)
}
