// Package web renders Gatehouse's browser pages — login, consent, logout
// confirmation, signed-out and error pages — from embedded html/template
// files, and serves their one stylesheet from the binary. No page loads
// anything from elsewhere or runs any script, so a strict Content Security
// Policy holds: scripts, frames, plugins and foreign styles are all off.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/gatehouse.css
var stylesheet []byte

// pages is parsed once; templates are immutable after parsing and safe for
// concurrent use. passkeyScript is PasskeyScriptPath, for the sign-in
// pages' passkey form.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"passkeyScript": func() string { return PasskeyScriptPath },
}).ParseFS(templateFS, "templates/*.html"))

// stylesheetETag identifies the embedded stylesheet's content.
var stylesheetETag = func() string {
	sum := sha256.Sum256(stylesheet)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}()

// LoginPage is the sign-in form. Its inputs are named username and
// password; csrf_token and request are hidden.
type LoginPage struct {
	Stylesheet string // URL of the stylesheet
	Action     string // URL the form posts to
	ClientName string // the application the user signs in to, if any
	Request    string // opaque: the pending authorization request
	CSRF       string
	Username   string // kept after a failed attempt
	Error      string // shown with role="alert"
	// Current, for prompt=select_account, is the signed-in account, which
	// a second form (a button name="continue" value="yes", with
	// ContinueCSRF) continues with; the sign-in form switches accounts.
	Current      string
	ContinueCSRF string
	// Passkey, when the server offers passkeys, is the form that signs in
	// with one instead of the password (login_factor.go); the username
	// field then offers passkeys in its autofill (conditional UI).
	Passkey *PasskeyForm
	// Providers are the upstream identity providers offered, each a link
	// to /oauth2/providers/NAME?<the pending request>.
	Providers []ProviderLink
}

// ProviderLink is one upstream identity provider on the login page.
type ProviderLink struct {
	Label string
	URL   string
}

// Scope is one requested scope on the consent page.
type Scope struct {
	Name        string
	Description string // plain language
}

// ConsentPage asks the user to allow a client the listed scopes on the
// listed audiences. Its two submit buttons are name="decision" with the
// values allow and deny.
type ConsentPage struct {
	Stylesheet string
	Action     string
	ClientName string
	Username   string
	Session    *SessionInfo // where the session came from, if recorded
	Scopes     []Scope
	Audiences  []string
	Request    string
	CSRF       string
	// DeviceCode, on the consent page of a device sign-in (RFC 8628), is
	// the user code, shown with a warning to allow only a device the user
	// has in front of them (RFC 8628 5.4, remote phishing).
	DeviceCode string
}

// DevicePage asks for the user code a device shows (RFC 8628 3.3). Its
// input is named user_code; csrf_token is hidden.
type DevicePage struct {
	Stylesheet string
	Action     string
	CSRF       string
	Code       string // pre-filled (verification_uri_complete) or kept after an error
	Error      string
}

// DeviceDonePage tells the user what became of a device sign-in.
type DeviceDonePage struct {
	Stylesheet string
	Title      string
	Message    string
}

// SessionInfo describes the sign-in behind a session, so that a user who
// sees one they did not start can notice. Empty fields are left out.
type SessionInfo struct {
	Since   string // when the session was signed in
	Address string // the client address of the sign-in
	Browser string // a short description of its User-Agent
}

// Field is a hidden form field.
type Field struct{ Name, Value string }

// LogoutPage asks the user to confirm signing out.
type LogoutPage struct {
	Stylesheet string
	Action     string
	ClientName string
	CSRF       string
	Fields     []Field
}

// FormPostPage carries an authorization response to the client as a form
// that submits itself (OAuth 2.0 Form Post Response Mode), with a button
// for browsers without scripts.
type FormPostPage struct {
	Stylesheet string
	Action     string // the client's redirect URI
	Fields     []Field
}

// formPostScript is the one inline script of the form-post page, allowed
// by its hash in the page's CSP and by nothing else.
const formPostScript = "document.forms[0].submit();"

var formPostScriptHash = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// RenderFormPost writes the form-post page. target is the origin of the
// form's action, which the CSP's form-action allows; script-src allows
// exactly the page's auto-submit script, by its hash.
func RenderFormPost(w http.ResponseWriter, status int, p FormPostPage, target string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, "formpost.html", p); err != nil {
		SetHeaders(w.Header(), nil)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	setHeaders(w.Header(), []string{target}, " script-src "+formPostScriptHash+";")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// LoggedOutPage tells the user the session has ended.
type LoggedOutPage struct {
	Stylesheet string
}

// ErrorPage explains an error that cannot be sent back to the client.
type ErrorPage struct {
	Stylesheet string
	Title      string
	Message    string
}

// RenderLogin writes the login page with the given status.
func RenderLogin(w http.ResponseWriter, status int, p LoginPage, formTargets ...string) {
	if p.Passkey != nil {
		renderScripted(w, status, "login.html", p, formTargets)
		return
	}
	render(w, status, "login.html", p, formTargets)
}

// RenderConsent writes the consent page. formTargets are the origins the
// form's response may redirect to (the client's redirect URI), which the
// CSP's form-action must allow: browsers apply it to redirects after a
// form submission.
func RenderConsent(w http.ResponseWriter, status int, p ConsentPage, formTargets ...string) {
	render(w, status, "consent.html", p, formTargets)
}

// RenderDevice writes the page asking for a device's user code.
func RenderDevice(w http.ResponseWriter, status int, p DevicePage) {
	render(w, status, "device.html", p, nil)
}

// RenderDeviceDone writes the result page of a device sign-in.
func RenderDeviceDone(w http.ResponseWriter, status int, p DeviceDonePage) {
	render(w, status, "device_done.html", p, nil)
}

// RenderLogout writes the logout confirmation page.
func RenderLogout(w http.ResponseWriter, status int, p LogoutPage, formTargets ...string) {
	render(w, status, "logout.html", p, formTargets)
}

// RenderLoggedOut writes the signed-out page.
func RenderLoggedOut(w http.ResponseWriter, status int, p LoggedOutPage) {
	render(w, status, "loggedout.html", p, nil)
}

// RenderError writes the error page.
func RenderError(w http.ResponseWriter, status int, p ErrorPage) {
	render(w, status, "error.html", p, nil)
}

func render(w http.ResponseWriter, status int, name string, data any, formTargets []string) {
	renderWith(w, status, name, data, formTargets, "")
}

// renderScripted is render for a page that runs our own embedded script
// (script-src 'self', still no inline script), which may fetch from this
// origin (connect-src 'self': the passkey ceremonies' begin and finish).
func renderScripted(w http.ResponseWriter, status int, name string, data any, formTargets []string) {
	renderWith(w, status, name, data, formTargets, " script-src 'self'; connect-src 'self';")
}

func renderWith(w http.ResponseWriter, status int, name string, data any, formTargets []string, scripts string) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		// Only our own page types reach here; they always execute.
		SetHeaders(w.Header(), nil)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	setHeaders(w.Header(), formTargets, scripts)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// SetHeaders sets the security headers of every page: a CSP that allows
// only our own stylesheet and forms posting to ourselves (and to the
// formTargets sources), no framing, no referrer, no sniffing, no caching.
// A formTarget that is not a plain scheme or origin is left out.
func SetHeaders(h http.Header, formTargets []string) {
	setHeaders(h, formTargets, "")
}

// SetScriptedHeaders is SetHeaders for pages that run our own embedded
// scripts (the dashboard's): script-src 'self', still without inline
// scripts, eval or anything from elsewhere.
func SetScriptedHeaders(h http.Header, formTargets []string) {
	setHeaders(h, formTargets, " script-src 'self';")
}

func setHeaders(h http.Header, formTargets []string, scripts string) {
	formAction := "'self'"
	for _, t := range formTargets {
		if cspSource(t) {
			formAction += " " + t
		}
	}
	h.Set("Content-Security-Policy", "default-src 'none';"+scripts+" style-src 'self'; img-src 'self'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// cspSource accepts "scheme:" and "scheme://host[:port]" with the
// characters of hosts and schemes only, so a value can never end the
// directive or add a keyword.
func cspSource(s string) bool {
	if s == "" || len(s) > 300 || strings.HasPrefix(s, "'") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == '+' || c == ':' || c == '/' || c == '[' || c == ']') {
			return false
		}
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" {
		return false
	}
	return rest == "" || (strings.HasPrefix(rest, "//") && len(rest) > 2 && !strings.Contains(rest[2:], "/"))
}

// Stylesheet serves the embedded stylesheet (GET and HEAD only).
func Stylesheet() http.Handler {
	return asset(stylesheet, stylesheetETag, "text/css; charset=utf-8", "public, max-age=3600", nil)
}

// asset serves one embedded file (GET and HEAD only) with its type, its
// caching, its ETag (If-None-Match answers 304) and the headers every
// static file has: nosniff and a CSP that lets it load nothing.
func asset(content []byte, etag, contentType, cacheControl string, extra map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", cacheControl)
		h.Set("ETag", etag)
		h.Set("Content-Security-Policy", "default-src 'none'")
		for k, v := range extra {
			h.Set(k, v)
		}
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(content)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(content)
	})
}
