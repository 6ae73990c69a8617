package federation

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// fakeGitHub is a plain OAuth 2.0 provider in GitHub's shape: the
// authorization code flow at /login/oauth/..., client_secret_post, an
// access token that reads /user (a numeric id, login, name, and an email
// that may be null) and /user/emails (addresses with primary and
// verified).
type fakeGitHub struct {
	srv    *httptest.Server
	mu     sync.Mutex
	codes  map[string]string // code -> PKCE challenge
	emails []map[string]any
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{codes: map[string]string{}}
	const token = "gho_test_token"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("client_id") != "gh-client" || r.PostFormValue("client_secret") != "gh-secret" {
			writeJSON(w, map[string]string{"error": "incorrect_client_credentials"}) // GitHub answers 200
			return
		}
		g.mu.Lock()
		challenge, ok := g.codes[r.PostFormValue("code")]
		delete(g.codes, r.PostFormValue("code"))
		g.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			writeJSON(w, map[string]string{"error": "bad_verification_code"})
			return
		}
		writeJSON(w, map[string]string{"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})
	})
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /user", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"id": 583231, "login": "octocat", "name": "The Octocat", "email": nil})
	}))
	mux.HandleFunc("GET /user/emails", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, g.emails)
	}))
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGitHub) issue(t *testing.T, authURL string) string {
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	code := randomValue()
	g.mu.Lock()
	g.codes[code] = u.Query().Get("code_challenge")
	g.mu.Unlock()
	return code
}

func TestGitHubShapedProvider(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		emails       []map[string]any
		wantEmail    string
		wantVerified bool
	}{
		{"primary verified address", []map[string]any{
			{"email": "old@example.test", "primary": false, "verified": true},
			{"email": "octo@example.test", "primary": true, "verified": true},
		}, "octo@example.test", true},
		{"primary address not verified", []map[string]any{
			{"email": "octo@example.test", "primary": true, "verified": false},
		}, "octo@example.test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, e := newFakeGitHub(t), newEnv(t, true)
			g.emails = tc.emails
			_, err := e.svc.Create(t.Context(), "key_admin", Input{
				Name: "github", Kind: ptr(auth.ProviderOAuth2), Issuer: ptr("https://github.com"),
				ClientID: ptr("gh-client"), ClientSecret: ptr("gh-secret"), AuthMethod: ptr(auth.AuthMethodSecretPost),
				Scopes:           ptr([]string{"read:user", "user:email"}),
				AuthorizationURL: ptr(g.srv.URL + "/login/oauth/authorize"), TokenURL: ptr(g.srv.URL + "/login/oauth/access_token"),
				UserinfoURL: ptr(g.srv.URL + "/user"), EmailsURL: ptr(g.srv.URL + "/user/emails"),
			})
			if err != nil {
				t.Fatal(err)
			}
			authURL, cookie := e.start("github", Pending{Purpose: PurposeLogin})
			if u, _ := url.Parse(authURL); u.Query().Get("nonce") != "" || u.Query().Get("scope") != "read:user user:email" {
				t.Fatalf("authorization URL %s", authURL)
			}
			res, err := e.callback("github", url.Values{"code": {g.issue(t, authURL)}, "state": {stateOf(t, authURL)}}, cookie)
			if err != nil {
				t.Fatal(err)
			}
			id := res.Identity
			if id.Subject != "583231" || id.Username != "octocat" || id.Name != "The Octocat" ||
				id.Email != tc.wantEmail || id.EmailVerified != tc.wantVerified {
				t.Fatalf("identity %+v", id)
			}
			u, _, err := e.svc.Resolve(t.Context(), res.Provider, id)
			if err != nil || u.Username != "octocat" {
				t.Fatalf("Resolve = %+v, %v", u, err)
			}
		})
	}
}

func TestGitHubShapedProviderRefusesAnInjectedCode(t *testing.T) {
	t.Parallel()
	g, e := newFakeGitHub(t), newEnv(t, false)
	if _, err := e.svc.Create(t.Context(), "key_admin", Input{
		Name: "github", Kind: ptr(auth.ProviderOAuth2), Issuer: ptr("https://github.com"),
		ClientID: ptr("gh-client"), ClientSecret: ptr("gh-secret"), AuthMethod: ptr(auth.AuthMethodSecretPost),
		AuthorizationURL: ptr(g.srv.URL + "/login/oauth/authorize"), TokenURL: ptr(g.srv.URL + "/login/oauth/access_token"),
		UserinfoURL: ptr(g.srv.URL + "/user"),
	}); err != nil {
		t.Fatal(err)
	}
	victimURL, victimCookie := e.start("github", Pending{Purpose: PurposeLogin})
	attackerURL, _ := e.start("github", Pending{Purpose: PurposeLogin})
	// The attacker's code, from the attacker's own flow, in the victim's
	// browser with the victim's state: PKCE makes the exchange fail.
	_, err := e.callback("github", url.Values{"code": {g.issue(t, attackerURL)}, "state": {stateOf(t, victimURL)}}, victimCookie)
	wantReason(t, err, ReasonExchangeFailed)
}
