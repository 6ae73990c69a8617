package selfservice

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mfa"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
)

// totpHarness is a harness whose Config has a real mfa.Service on the
// harness's store, throttling wrong codes after failures.
func totpHarness(t *testing.T, failures int) (*harness, *mfa.Service) {
	t.Helper()
	var svc *mfa.Service
	h := newHarness(t, func(c *Config) {
		key := make([]byte, 32)
		rand.Read(key)
		sealer, err := signing.NewSealer(signing.DeriveMasterKey(key))
		if err != nil {
			t.Fatal(err)
		}
		lim, err := account.NewFactorLimiter(account.FactorConfig{Failures: failures, Window: time.Hour, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		svc, err = mfa.New(mfa.Config{Store: c.Store.(*sqlite.DB), Sealer: sealer, Hasher: c.Hasher, Limiter: lim, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.TOTP = svc
	})
	return h, svc
}

var (
	secretAttr   = regexp.MustCompile(`data-totp-secret="([A-Z2-7]+)"`)
	recoveryAttr = regexp.MustCompile(`data-recovery-code="([0-9a-z-]+)"`)
)

// appCode is what an authenticator app (pquerna/otp) shows for the
// secret now.
func appCode(t *testing.T, h *harness, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, h.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolPage loads /account/totp and returns its secret.
func enrolPage(t *testing.T, h *harness, c *http.Client, path string) (string, string) {
	t.Helper()
	resp, body := h.get(c, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
	}
	m := secretAttr.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no data-totp-secret in\n%s", body)
	}
	return m[1], body
}

func TestTOTPEnrolmentFromTheAccountPage(t *testing.T) {
	h, svc := totpHarness(t, 10)
	u := h.user("ada", "correct horse battery")
	c, sess := h.signIn(u)
	ret := "/oauth2/authorize?client_id=app&response_type=code&state=x"
	secret, page := enrolPage(t, h, c, totpPath+"?return="+url.QueryEscape(ret))

	// The QR code is inline SVG drawn by the server; nothing is loaded
	// from elsewhere and the CSP stays strict.
	if !strings.Contains(page, `<figure class="qr"><svg xmlns="http://www.w3.org/2000/svg"`) || strings.Contains(page, "<img") {
		t.Fatalf("no inline SVG QR code:\n%s", page)
	}
	if !strings.Contains(page, `href="otpauth://totp/Gatehouse:ada?secret=`+secret) {
		t.Fatalf("no otpauth link for the secret:\n%s", page)
	}
	if !strings.Contains(page, `name="code"`) || !strings.Contains(page, `name="return" value="`+attrEscaped(ret)+`"`) {
		t.Fatalf("the form lacks code or return:\n%s", page)
	}
	form := url.Values{"csrf_token": {csrfOf(t, page, totpPath)}, "return": {ret}, "code": {appCode(t, h, secret)}}
	resp, body := h.post(c, totpPath, form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, body)
	}
	codes := recoveryAttr.FindAllStringSubmatch(body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown:\n%s", len(codes), body)
	}
	if !strings.Contains(body, `href="`+attrEscaped(ret)+`" data-continue`) {
		t.Fatalf("no way back to the sign-in:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	if ok, err := svc.Enrolled(context.Background(), u.ID); !ok || err != nil {
		t.Fatalf("Enrolled = %v, %v", ok, err)
	}
	// The session now counts as signed in with two factors.
	got, err := h.db.GetSession(context.Background(), sess.Hash, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !auth.HasMFA(got.AMR) || strings.Join(got.AMR, " ") != "mfa otp pwd" {
		t.Fatalf("session amr = %v", got.AMR)
	}
	// A recovery code works once at sign-in.
	h.clock.Add(time.Minute)
	if _, err := svc.VerifyCode(context.Background(), u.ID, codes[0][1], "192.0.2.1"); err != nil {
		t.Fatalf("a shown recovery code: %v", err)
	}
	// Already set up, the page still leads back to a sign-in that sends
	// the browser here.
	if _, p := h.get(c, totpPath+"?return="+url.QueryEscape(ret)); !strings.Contains(p, `href="`+attrEscaped(ret)+`" data-continue`) {
		t.Fatalf("no way back when set up already:\n%s", p)
	}
	// Shown once: the page no longer has them, nor the secret.
	_, again := h.get(c, totpPath)
	if recoveryAttr.MatchString(again) || secretAttr.MatchString(again) || !strings.Contains(again, "Unused recovery codes: <strong>9</strong>") {
		t.Fatalf("the codes or the secret are shown again:\n%s", again)
	}
}

func attrEscaped(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

func TestTOTPConfirmationRefusesWrongCodesAndForgedForms(t *testing.T) {
	h, svc := totpHarness(t, 3)
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	secret, page := enrolPage(t, h, c, totpPath+"?return=https://evil.example/")
	if strings.Contains(page, "evil.example") {
		t.Fatal("an unsafe return is carried")
	}
	token := csrfOf(t, page, totpPath)
	right := appCode(t, h, secret)
	wrong := "000000"
	if wrong == right {
		wrong = "111111"
	}
	// Forged: no token, another form's token, another site.
	for name, form := range map[string]url.Values{
		"no token":          {"code": {right}},
		"another form's":    {"code": {right}, "csrf_token": {h.srv.csrfToken(mustSession(t, h, c), purposeTOTPRemove)}},
		"another session's": {"code": {right}, "csrf_token": {func() string { _, s := h.signIn(u); return h.srv.csrfToken(s, purposeTOTPConfirm) }()}},
	} {
		if resp, _ := h.post(c, totpPath, form); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
	req := httptestPost(t, c, h.http.URL+totpPath, url.Values{"code": {right}, "csrf_token": {token}}, "cross-site")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %v %v", resp.StatusCode, err)
	}
	resp, body := h.post(c, totpPath, url.Values{"code": {wrong}, "csrf_token": {token}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `role="alert"`) || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("wrong code: %d\n%s", resp.StatusCode, body)
	}
	if ok, _ := svc.Enrolled(context.Background(), u.ID); ok {
		t.Fatal("enrolled by a forged or wrong form")
	}
	if evs, _, _ := h.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventOTPFailed, Target: u.ID}); len(evs) != 1 || evs[0].Details["during"] != "enrolment" {
		t.Fatalf("failure events: %+v", evs)
	}
	// The same secret is still offered: the app need not be set up again.
	if again, _ := enrolPage(t, h, c, totpPath); again != secret {
		t.Fatal("the secret changed after a wrong code")
	}
	// Throttled: 429 with Retry-After, even for the right code.
	h.post(c, totpPath, url.Values{"code": {wrong}, "csrf_token": {token}})
	h.post(c, totpPath, url.Values{"code": {wrong}, "csrf_token": {token}})
	resp, _ = h.post(c, totpPath, url.Values{"code": {right}, "csrf_token": {token}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func mustSession(t *testing.T, h *harness, c *http.Client) *auth.Session {
	t.Helper()
	sess, _, err := h.sessions.Current(httptestRequest(t, c, h.http.URL+totpPath))
	if err != nil || sess == nil {
		t.Fatalf("no session: %v", err)
	}
	return sess
}

// enrolled signs u in, sets up the app through the page, and returns the
// client (whose session now has two factors), the secret and the codes.
func enrolled(t *testing.T, h *harness, u *auth.User) (*http.Client, string, []string) {
	t.Helper()
	c, _ := h.signIn(u)
	secret, page := enrolPage(t, h, c, totpPath)
	resp, body := h.post(c, totpPath, url.Values{"csrf_token": {csrfOf(t, page, totpPath)}, "code": {appCode(t, h, secret)}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", resp.StatusCode, body)
	}
	var codes []string
	for _, m := range recoveryAttr.FindAllStringSubmatch(body, -1) {
		codes = append(codes, m[1])
	}
	return c, secret, codes
}

func TestTOTPRemovalAndNewRecoveryCodesNeedTheSecondFactor(t *testing.T) {
	h, svc := totpHarness(t, 10)
	u := h.user("ada", "correct horse battery")
	c, _, codes := enrolled(t, h, u)
	_, page := h.get(c, totpPath)

	// Attack: a session signed in with the password alone (from before
	// the app was set up) can neither remove it nor read new codes.
	pwdOnly, pwdSess := h.signIn(u, auth.AMRPassword)
	for _, action := range []string{totpPath + "/remove", totpPath + "/recovery-codes"} {
		purpose := map[string]string{totpPath + "/remove": purposeTOTPRemove, totpPath + "/recovery-codes": purposeTOTPRegenerate}[action]
		resp, _ := h.post(pwdOnly, action, url.Values{"csrf_token": {h.srv.csrfToken(pwdSess, purpose)}})
		last := h.sessions.signIns[len(h.sessions.signIns)-1]
		if resp.StatusCode != http.StatusSeeOther || !last.mfa || last.returnTo != totpPath {
			t.Fatalf("%s with the password alone: %d, SignIn %+v", action, resp.StatusCode, last)
		}
	}
	if ok, _ := svc.Enrolled(context.Background(), u.ID); !ok {
		t.Fatal("removed by a password-only session")
	}

	// New codes, shown once; the old ones stop working.
	resp, body := h.post(c, totpPath+"/recovery-codes", url.Values{"csrf_token": {csrfOf(t, page, totpPath+"/recovery-codes")}})
	fresh := recoveryAttr.FindAllStringSubmatch(body, -1)
	if resp.StatusCode != http.StatusOK || len(fresh) != 10 {
		t.Fatalf("new codes: %d, %d codes\n%s", resp.StatusCode, len(fresh), body)
	}
	if _, err := svc.VerifyCode(context.Background(), u.ID, codes[0], "192.0.2.1"); auth.ErrorCode(err) != auth.EUNAUTHORIZED {
		t.Fatalf("an old code after renewal: %v", err)
	}

	// An old sign-in is asked to sign in again first.
	h.clock.Add(DefaultRecentAuth + time.Second)
	resp, _ = h.post(c, totpPath+"/remove", url.Values{"csrf_token": {csrfOf(t, page, totpPath+"/remove")}})
	if last := h.sessions.signIns[len(h.sessions.signIns)-1]; resp.StatusCode != http.StatusSeeOther || last.maxAge != DefaultRecentAuth {
		t.Fatalf("old sign-in: %d %+v", resp.StatusCode, last)
	}
	h.clock.Add(-DefaultRecentAuth - time.Second)
	resp, body = h.post(c, totpPath+"/remove", url.Values{"csrf_token": {csrfOf(t, page, totpPath+"/remove")}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "was removed") || !secretAttr.MatchString(body) {
		t.Fatalf("remove: %d\n%s", resp.StatusCode, body)
	}
	if ok, _ := svc.Enrolled(context.Background(), u.ID); ok {
		t.Fatal("still enrolled")
	}
	for _, typ := range []string{auth.EventTOTPEnrolled, auth.EventTOTPRemoved} {
		if evs, _, _ := h.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: typ, Target: u.ID}); len(evs) != 1 || evs[0].Actor != u.ID {
			t.Fatalf("%s events: %+v", typ, evs)
		}
	}
	if evs, _, _ := h.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventRecoveryCodesGenerated, Target: u.ID}); len(evs) != 2 {
		t.Fatalf("generated events: %d", len(evs))
	}
}

func TestTOTPPageNeedsASignInAndARecentOneToSetUp(t *testing.T) {
	h, _ := totpHarness(t, 10)
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, _ := h.get(anon, totpPath); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed out: %d", resp.StatusCode)
	}
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	h.clock.Add(DefaultRecentAuth + time.Second)
	resp, body := h.get(c, totpPath+"?return=/account")
	if resp.StatusCode != http.StatusSeeOther || secretAttr.MatchString(body) {
		t.Fatalf("an old sign-in was shown a secret: %d", resp.StatusCode)
	}
	if last := h.sessions.signIns[len(h.sessions.signIns)-1]; last.returnTo != totpPath+"?return=/account" || last.maxAge != DefaultRecentAuth {
		t.Fatalf("SignIn = %+v", last)
	}
	// Without the service, the page does not exist.
	plain := newHarness(t)
	pc, _ := plain.signIn(plain.user("bob", "correct horse battery"))
	if resp, _ := plain.get(pc, totpPath); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("without TOTP: %d", resp.StatusCode)
	}
}
