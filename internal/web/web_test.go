package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func checkHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows scripts: %q", csp)
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	RenderLogin(rec, http.StatusUnauthorized, LoginPage{Stylesheet: "/s.css", Action: "/login", ClientName: `<script>alert(1)</script>`, Request: `a=1&b="x"`, CSRF: "tok", Username: "ann", Error: "Invalid username or password."})
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", rec.Code)
	}
	checkHeaders(t, rec.Header())
	body := rec.Body.String()
	for _, want := range []string{
		`<html lang="en">`, `<h1>`, `<label for="username">`, `<label for="password">`,
		`name="username"`, `name="password"`, `autocomplete="username"`, `autocomplete="current-password"`,
		`autofocus`, `role="alert"`, `aria-describedby="login-error"`, `<button type="submit">`,
		`name="csrf_token" value="tok"`, `value="ann"`, `&lt;script&gt;`, `a=1&amp;b=&#34;x&#34;`,
		`<link rel="stylesheet" href="/s.css">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("page has a script or inline style")
	}
}

func TestLoginPageWithoutError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	RenderLogin(rec, http.StatusOK, LoginPage{Action: "/login"})
	if strings.Contains(rec.Body.String(), "role=\"alert\"") || strings.Contains(rec.Body.String(), "aria-invalid") {
		t.Fatal("an error is announced without one")
	}
}

func TestConsentPage(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	RenderConsent(rec, http.StatusOK, ConsentPage{Action: "/consent", ClientName: "Photo App", Username: "ann",
		Session:   &SessionInfo{Since: "2 Jan 2026 03:04 UTC", Address: "192.0.2.1", Browser: "<Firefox> on Linux"},
		Scopes:    []Scope{{"openid", "Know who you are"}, {"photos:read", "See your photos"}},
		Audiences: []string{"https://api.example.com"}, CSRF: "tok", Request: "q"}, "https://app.example.com")
	checkHeaders(t, rec.Header())
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://app.example.com;") {
		t.Errorf("CSP %q does not allow the redirect origin", csp)
	}
	body := rec.Body.String()
	for _, want := range []string{"Photo App", "Know who you are", "photos:read", "See your photos", "https://api.example.com",
		`<button type="submit" name="decision" value="allow">`, `<button type="submit" name="decision" value="deny"`, `<h2`,
		"Signed in as <strong>ann</strong> — since 2 Jan 2026 03:04 UTC, from 192.0.2.1, &lt;Firefox&gt; on Linux."} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
}

func TestOtherPages(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	RenderLogout(rec, http.StatusOK, LogoutPage{Action: "/logout", CSRF: "tok", Fields: []Field{{"state", "s1"}}})
	checkHeaders(t, rec.Header())
	if b := rec.Body.String(); !strings.Contains(b, `name="state" value="s1"`) || !strings.Contains(b, `<button type="submit" name="confirm" value="yes"`) {
		t.Errorf("logout page: %s", b)
	}
	rec = httptest.NewRecorder()
	RenderLoggedOut(rec, http.StatusOK, LoggedOutPage{})
	checkHeaders(t, rec.Header())
	rec = httptest.NewRecorder()
	RenderError(rec, http.StatusBadRequest, ErrorPage{Title: "Invalid request", Message: "<b>bad</b>"})
	checkHeaders(t, rec.Header())
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "&lt;b&gt;bad") || !strings.Contains(rec.Body.String(), `role="alert"`) {
		t.Errorf("error page %d: %s", rec.Code, rec.Body.String())
	}
}

func TestCSPSource(t *testing.T) {
	t.Parallel()
	for s, ok := range map[string]bool{
		"https://app.example.com":       true,
		"http://127.0.0.1:8080":         true,
		"http://[::1]:5000":             true,
		"com.example.app:":              true,
		"https://a.example/path":        false,
		"https://a.example; script-src": false,
		"'unsafe-inline'":               false,
		"*":                             false,
		"":                              false,
		"https:":                        true,
		"://x":                          false,
	} {
		if cspSource(s) != ok {
			t.Errorf("cspSource(%q) = %v", s, !ok)
		}
	}
	h := http.Header{}
	SetHeaders(h, []string{"https://x.example; script-src *"})
	if strings.Contains(h.Get("Content-Security-Policy"), "script-src") {
		t.Fatal("a form target injected a directive")
	}
}

func TestStylesheet(t *testing.T) {
	t.Parallel()
	srv := Stylesheet()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/s.css", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(rec.Body.String(), ":focus-visible") {
		t.Fatalf("stylesheet: %d %v", rec.Code, rec.Header())
	}
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest("GET", "/s.css", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("conditional GET: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/s.css", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}
