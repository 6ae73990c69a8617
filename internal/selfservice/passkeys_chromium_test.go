package selfservice

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The Chromium test registers a passkey on /account/passkeys in a real
// browser, with Chrome's virtual authenticator (DevTools WebAuthn domain)
// standing in for a platform authenticator, through the real page, the
// real script under the real CSP; then signs in with it through the
// passkey service's BeginLogin/FinishLogin, driven by the same script on
// a sign-in page the test serves (the login page's own integration is the
// authorization server's, tested there).

// loginRecorder is the test's sign-in page: a passkey form (the same
// data-passkey="login" protocol the login page uses) whose JSON endpoints
// call the passkey service; it records what FinishLogin returned.
type loginRecorder struct {
	svc *passkey.Service
	mu  sync.Mutex
	// userID is the second-factor user, "" for a passkey alone.
	userID string
	signed []signedIn
}

type signedIn struct {
	userID string
	amr    []string
}

// testLoginPage carries the login page's passkey form (web's
// passkey_form: data-passkey="login", JSON begin and finish); the
// username input marked webauthn (CONDITIONAL) makes the script start a
// conditional request, as on the login page.
const testLoginPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body><main><h1>Sign in</h1>
<label for="username">Username</label>
<input id="username" name="username" autocomplete="usernameCONDITIONAL">
<form method="post" action="/test-login/finish" data-passkey="login" data-begin="/test-login/begin" data-finish="/test-login/finish">
<input type="hidden" name="csrf_token" value="test">
<button type="submit">Sign in with a passkey</button>
<p data-passkey-status role="status"></p>
</form>
<script src="` + web.PasskeyScriptPath + `" defer></script>
</main></body></html>`

// testStateCookie holds the ceremony's state between begin and finish, as
// the login page keeps it.
const testStateCookie = "test_passkey_state"

func (l *loginRecorder) mount(mux *http.ServeMux) {
	mux.Handle("GET "+web.PasskeyScriptPath, web.PasskeyScriptHandler())
	mux.HandleFunc("GET /test-login", func(w http.ResponseWriter, r *http.Request) {
		// The scripted pages' CSP: script-src and connect-src 'self'.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; form-action 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		l.mu.Lock()
		conditional := l.userID == "" // as on the login page; not on the second step
		l.mu.Unlock()
		page := strings.Replace(testLoginPage, "CONDITIONAL", "", 1)
		if conditional {
			page = strings.Replace(testLoginPage, "CONDITIONAL", " webauthn", 1)
		}
		io.WriteString(w, page)
	})
	mux.HandleFunc("POST /test-login/begin", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-CSRF-Token") != "test" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "no form", http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		user := l.userID
		l.mu.Unlock()
		opts, state, err := l.svc.BeginLogin(r.Context(), user)
		if err != nil {
			web.JSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		http.SetCookie(w, &http.Cookie{Name: testStateCookie, Value: state, Path: "/test-login", HttpOnly: true})
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"options": json.RawMessage(opts), "state": state})
	})
	mux.HandleFunc("POST /test-login/finish", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(testStateCookie)
		var body struct {
			State      string          `json:"state"`
			Credential json.RawMessage `json:"credential"`
		}
		if err != nil || r.Header.Get("X-CSRF-Token") != "test" || json.NewDecoder(r.Body).Decode(&body) != nil || body.State != c.Value {
			web.JSONError(w, http.StatusBadRequest, "no ceremony")
			return
		}
		userID, amr, err := l.svc.FinishLogin(r.Context(), c.Value, body.Credential)
		if err != nil {
			web.JSONError(w, http.StatusUnauthorized, auth.ErrorMessage(err))
			return
		}
		l.mu.Lock()
		l.signed = append(l.signed, signedIn{userID, amr})
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"redirect":"/test-login/done"}`)
	})
	mux.HandleFunc("GET /test-login/done", func(w http.ResponseWriter, r *http.Request) {
		web.SetHeaders(w.Header(), nil)
		io.WriteString(w, `<!DOCTYPE html><html lang="en"><title>Signed in</title><h1>Signed in</h1></html>`)
	})
}

// browser is one headless Chromium tab with a virtual authenticator.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	auth cdpwebauthn.AuthenticatorID
}

func newPasskeyBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	b := &browser{t: t, ctx: bctx, base: base}
	// Start the browser on the tab's own context: one started under a
	// step's shorter deadline would end with it.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// A platform authenticator that keeps discoverable credentials and
	// verifies its user, as a laptop's or phone's does.
	b.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
				Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		b.auth = res.AuthenticatorID
		return err
	}))
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

func evalIn[T any](b *browser, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %.80q: %v", script, err)
	}
	return v
}

func (b *browser) open(path string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("browser: open %s: %v", path, err)
	}
	return resp
}

// waitFor polls a script until it is true.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("browser: waiting for %s: at %s:\n%s", what,
		evalIn[string](b, `location.href`), evalIn[string](b, `document.body ? document.body.innerText : ""`))
}

// credentials lists the virtual authenticator's credentials.
func (b *browser) credentials() []*cdpwebauthn.Credential {
	b.t.Helper()
	var creds []*cdpwebauthn.Credential
	b.do("list credentials", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: b.auth})
		creds = res.Credentials
		return err
	}))
	return creds
}

func TestChromiumRegistersAPasskeyAndSignsInWithIt(t *testing.T) {
	h, svc := passkeyHarness(t)
	login := &loginRecorder{svc: svc}
	login.mount(h.http.Config.Handler.(*http.ServeMux))
	u := h.user("ada", "correct horse battery")
	_, sess := h.signIn(u)

	// The browser is at the issuer's origin (localhost: WebAuthn takes no
	// IP address), signed in with the harness's session cookie.
	b := newPasskeyBrowser(t, h.srv.origin)
	b.do("set the session cookie", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{
			Name: testCookie, Value: base64.RawURLEncoding.EncodeToString(sess.Hash), URL: h.srv.origin + "/",
		})
		return err
	}))

	// Register a passkey on the account page.
	resp := b.open(pathPasskeys)
	if resp.Status != http.StatusOK {
		t.Fatalf("passkeys page: %d", resp.Status)
	}
	if csp, _ := resp.Headers["Content-Security-Policy"].(string); !strings.Contains(csp, "script-src 'self';") {
		t.Fatalf("CSP %q", csp)
	}
	b.waitFor("the passkey script", `typeof PublicKeyCredential === "function" && !!document.querySelector("form[data-passkey=register] button")`)
	b.do("name and add the passkey",
		chromedp.SendKeys(chromedp.ID("passkey-name"), "Laptop"),
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Add a passkey"]`)))
	b.waitFor("the page after adding", `location.search === "?done=added" && document.readyState === "complete" && !!document.querySelector("main")`)
	text := evalIn[string](b, `document.querySelector("main").innerText`)
	if !strings.Contains(text, "Passkey added.") || !strings.Contains(text, "Laptop") {
		t.Fatalf("page after adding:\n%s", text)
	}
	list, err := svc.List(context.Background(), u.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("passkeys %v %v", list, err)
	}
	pk := list[0]
	if pk.Name != "Laptop" || pk.BackupEligible || !pk.UserVerified || !slices.Contains(pk.Transports, "internal") {
		t.Fatalf("stored passkey %+v", pk)
	}
	// The page with a passkey on it has no serious or critical
	// accessibility problem (axe-core).
	evalIn[chromedp.Void](b, testenv.Axe(t)+"\n;undefined")
	if problems := evalIn[[]string](b, testenv.AxeRun); len(problems) > 0 {
		t.Errorf("axe-core on %s:\n%s", pathPasskeys, strings.Join(problems, "\n"))
	}
	creds := b.credentials()
	if len(creds) != 1 || !creds[0].IsResidentCredential || string(creds[0].UserHandle) != u.ID || string(creds[0].CredentialID) != string(pk.CredentialID) {
		t.Fatalf("authenticator credentials %+v", creds)
	}

	// Sign in with the passkey alone: the discoverable credential names
	// the user, and user verification makes it two factors. The page asks
	// with conditional mediation, which Chromium offers; its virtual
	// authenticator (presence simulated) answers it at once, as a person
	// picking the passkey in the username field's autofill would.
	if resp := b.open("/test-login"); resp.Status != http.StatusOK {
		t.Fatalf("sign-in page: %d", resp.Status)
	}
	if !evalIn[bool](b, `PublicKeyCredential.isConditionalMediationAvailable()`) {
		t.Fatal("Chromium offers no conditional mediation")
	}
	b.waitFor("the signed-in page", `location.pathname === "/test-login/done" && document.readyState === "complete"`)

	// As a second factor: only Ada's passkeys are allowed.
	login.mu.Lock()
	login.userID = u.ID
	login.mu.Unlock()
	b.open("/test-login")
	b.waitFor("the sign-in form", `!!document.querySelector("form[data-passkey=login] button")`)
	b.do("second factor", chromedp.Click(chromedp.CSS(`form[data-passkey="login"] button`)))
	b.waitFor("the signed-in page", `location.pathname === "/test-login/done" && document.readyState === "complete"`)

	login.mu.Lock()
	signed := slices.Clone(login.signed)
	login.mu.Unlock()
	want := []string{auth.AMRHardwareKey, auth.AMRMFA, auth.AMRUser}
	if len(signed) != 2 {
		t.Fatalf("sign-ins %+v", signed)
	}
	for _, s := range signed {
		if s.userID != u.ID || !slices.Equal(s.amr, want) {
			t.Fatalf("FinishLogin gave %q %v, want %q %v", s.userID, s.amr, u.ID, want)
		}
	}
	// The authenticator's counter went up with each sign-in, and the
	// store followed it.
	got, _ := h.db.GetPasskeyByCredentialID(context.Background(), pk.CredentialID)
	if creds := b.credentials(); got.SignCount == 0 || float64(got.SignCount) != creds[0].SignCount || got.LastUsedAt.IsZero() {
		t.Fatalf("sign count stored %d, authenticator %v", got.SignCount, creds[0].SignCount)
	}

	// The same authenticator cannot register a second passkey for Ada
	// (excludeCredentials), and the page says so.
	b.open(pathPasskeys)
	b.waitFor("the passkey script", `!!document.querySelector("form[data-passkey=register] button")`)
	b.do("add again", chromedp.SendKeys(chromedp.ID("passkey-name"), "Again"),
		chromedp.Click(chromedp.CSS(`form[data-passkey="register"] button`)))
	b.waitFor("the refusal", `/holds a passkey|cancelled/.test(document.querySelector("[data-passkey-status]").textContent)`)
	if list, _ := svc.List(context.Background(), u.ID); len(list) != 1 {
		t.Fatalf("%d passkeys after registering the same authenticator twice", len(list))
	}
}
