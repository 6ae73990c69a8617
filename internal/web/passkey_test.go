package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPasskeyScriptIsServedFromTheBinary(t *testing.T) {
	t.Parallel()
	h := PasskeyScriptHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PasskeyScriptPath, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	hd := rec.Header()
	if ct := hd.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("ETag") == "" {
		t.Errorf("headers %v", hd)
	}
	body := rec.Body.String()
	// What the pages rely on: base64url <-> ArrayBuffer, conditional
	// mediation where offered, the JSON protocol with the server, and
	// nothing a strict CSP would refuse.
	for _, want := range []string{"isConditionalMediationAvailable", `"conditional"`, "X-CSRF-Token",
		"navigator.credentials.create", "navigator.credentials.get", `form[data-passkey="register"]`,
		`form[data-passkey="login"]`, `"data-begin"`, `"data-finish"`, `input[autocomplete~="webauthn"]`,
		"atob(", "btoa("} {
		if !strings.Contains(body, want) {
			t.Errorf("the script lacks %q", want)
		}
	}
	for _, banned := range []string{"eval(", "new Function", "innerHTML", "document.write", "http://", "https://"} {
		if strings.Contains(body, banned) {
			t.Errorf("the script uses %q", banned)
		}
	}

	// A revalidation with the ETag is answered 304; HEAD has no body.
	req := httptest.NewRequest(http.MethodGet, PasskeyScriptPath, nil)
	req.Header.Set("If-None-Match", hd.Get("ETag"))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("revalidation: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, PasskeyScriptPath, nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, PasskeyScriptPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestPasskeysPageRunsOnlyItsScript(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	RenderAccount(rec, http.StatusOK, "account_passkeys.html", &PasskeysPage{
		AccountFrame: AccountFrame{Stylesheet: "/s.css", Username: "alice", Script: PasskeyScriptPath},
		Passkeys:     []PasskeyItem{{ID: "pk_1", Name: `<img src=x onerror=alert(1)>`, Kind: "Synced passkey", Created: "today", Warning: true}},
		CanAdd:       true, RegisterBegin: "/b", RegisterFinish: "/f", RegisterCSRF: "tok",
	})
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'; connect-src 'self';") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	body := rec.Body.String()
	if !strings.Contains(body, `<script src="/oauth2/static/passkey.js" defer></script>`) {
		t.Fatalf("no script tag:\n%s", body)
	}
	if strings.Count(body, "<script") != 1 || strings.Contains(body, "<img") {
		t.Fatalf("inline script or markup from a name:\n%s", body)
	}
	for _, want := range []string{`data-passkey="register"`, `data-begin="/b"`, `data-finish="/f"`, `value="tok"`, "may have been copied"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
