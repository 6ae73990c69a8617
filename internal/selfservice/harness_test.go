package selfservice

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// harness is a real account Server on a real SQLite store, behind an
// httptest server. Its Sessions reads a test cookie naming a stored
// session, so tests sign in without the authorization server (which has
// its own tests of the cookie); everything else is the production code.
type harness struct {
	t        *testing.T
	db       *sqlite.DB
	accounts *account.Service
	hasher   *secret.Hasher
	clock    *testenv.Clock
	srv      *Server
	http     *httptest.Server
	sessions *testSessions
}

// testCookie names the session in harness requests.
const testCookie = "test_session"

// testSessions implements Sessions over the store.
type testSessions struct {
	db       *sqlite.DB
	accounts *account.Service
	now      auth.Now
	// signIns records the SignIn calls: returnTo, maxAge, mfa.
	signIns []signInCall
}

type signInCall struct {
	returnTo string
	maxAge   time.Duration
	mfa      bool
}

func (ts *testSessions) Current(r *http.Request) (*auth.Session, *auth.User, error) {
	c, err := r.Cookie(testCookie)
	if err != nil {
		return nil, nil, nil
	}
	hash, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, nil, nil
	}
	sess, err := ts.db.GetSession(r.Context(), hash, ts.now())
	if auth.ErrorCode(err) == auth.ENOTFOUND {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	u, err := ts.accounts.Get(r.Context(), sess.UserID)
	if auth.ErrorCode(err) == auth.ENOTFOUND || (err == nil && u.Disabled()) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

func (ts *testSessions) SignIn(w http.ResponseWriter, r *http.Request, returnTo string, maxAge time.Duration, mfa bool) {
	ts.signIns = append(ts.signIns, signInCall{returnTo, maxAge, mfa})
	http.Redirect(w, r, "/test-sign-in?return="+url.QueryEscape(returnTo), http.StatusSeeOther)
}

// newHarness starts a harness; configure may change the Config before the
// Server is made (to add the services of a part of the account pages).
func newHarness(t *testing.T, configure ...func(*Config)) *harness {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := testenv.NewClock(time.Now().UTC().Truncate(time.Second))
	accounts, err := account.New(account.Config{Store: db, Sessions: db, Audit: db, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	hasher, err := secret.NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, accounts: accounts, hasher: hasher, clock: clock}
	h.sessions = &testSessions{db: db, accounts: accounts, now: clock.Now}
	mux := http.NewServeMux()
	h.http = httptest.NewServer(mux)
	t.Cleanup(h.http.Close)
	cfg := Config{
		Issuer: h.http.URL, Sessions: h.sessions, Store: db, Accounts: accounts, Hasher: hasher,
		Stylesheet: "/oauth2/static/gatehouse.css", Now: clock.Now,
	}
	for _, f := range configure {
		f(&cfg)
	}
	if h.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	mux.Handle(Path, h.srv)
	mux.Handle(Path+"/", h.srv)
	return h
}

// user creates a user with that username and password.
func (h *harness) user(username, password string) *auth.User {
	h.t.Helper()
	u, err := h.accounts.Create(context.Background(), "", account.CreateInput{Username: username, Password: password})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

// signIn creates a session of u signed in now with these methods, and
// returns a client whose requests carry it (and that does not follow
// redirects, so tests see them).
func (h *harness) signIn(u *auth.User, amr ...string) (*http.Client, *auth.Session) {
	h.t.Helper()
	if len(amr) == 0 {
		amr = []string{auth.AMRPassword}
	}
	hash := make([]byte, 32)
	rand.Read(hash)
	now := h.clock.Now()
	sess := &auth.Session{Hash: hash, UserID: u.ID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour), AMR: auth.NormalizeAMR(amr)}
	if err := h.db.CreateSession(context.Background(), sess); err != nil {
		h.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(h.http.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: testCookie, Value: base64.RawURLEncoding.EncodeToString(hash), Path: "/"}})
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, sess
}

// get fetches a path and returns the response and its body.
func (h *harness) get(c *http.Client, path string) (*http.Response, string) {
	h.t.Helper()
	resp, err := c.Get(h.http.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, readBody(h.t, resp)
}

// post sends a form from our own pages (Sec-Fetch-Site: same-origin).
func (h *harness) post(c *http.Client, path string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, readBody(h.t, resp)
}

// csrf returns the value of the csrf_token input of a form whose action is
// action, in a page.
func csrfOf(t *testing.T, page, action string) string {
	t.Helper()
	i := strings.Index(page, `action="`+action+`"`)
	if i < 0 {
		t.Fatalf("no form posting to %s in the page:\n%s", action, page)
	}
	rest := page[i:]
	const marker = `name="csrf_token" value="`
	j := strings.Index(rest, marker)
	if j < 0 {
		t.Fatalf("the form posting to %s has no csrf_token", action)
	}
	rest = rest[j+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// recorder is a minimal ResponseWriter that keeps the status.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) { r.status = status }

// httptestRequest is a GET carrying the client's cookies.
func httptestRequest(t *testing.T, c *http.Client, rawURL string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	return req
}

// httptestPost is a form POST carrying the client's cookies and the
// Sec-Fetch-Site a browser would send.
func httptestPost(t *testing.T, c *http.Client, rawURL string, form url.Values, site string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	for _, ck := range c.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	return req
}
