package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

var (
	formAction  = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
)

// userToken signs a new user in through the balancer as a browser does
// (authorization code with PKCE: the login page, the consent page) and
// returns the user's ID and an access token for the userinfo endpoint,
// which reads the account on every call: that is where a disabled user
// is refused.
func (f *fixture) userToken(ctx context.Context) (userID, token string, err error) {
	const password = "a long and unguessable passphrase for the harness"
	u, err := f.adm.CreateUser(ctx, admin.CreateUserRequest{Username: "user-" + f.run, Password: password})
	if err != nil {
		return "", "", fmt.Errorf("create user: %w", err)
	}
	redirect := "http://127.0.0.1:9/callback" // never called: the code is read from the redirect
	cl, err := f.adm.CreateClient(ctx, admin.ClientRequest{Name: "browser-" + f.run, RedirectURIs: []string{redirect},
		GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "profile"}, AccessTokenTTL: "2h"})
	if err != nil {
		return "", "", fmt.Errorf("create browser client: %w", err)
	}
	jar, _ := cookiejar.New(nil)
	ua := &http.Client{Transport: f.hc.Transport, Jar: jar, Timeout: f.hc.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	origin := f.c.APIURL // the issuer: form POSTs must come from its pages

	verifier := strings.TrimRight(rand.Text()+rand.Text(), "=")
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {cl.ClientID}, "redirect_uri": {redirect},
		"scope": {"openid profile"}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	type page struct {
		status   int
		location string
		body     string
		url      *url.URL
	}
	do := func(method, target string, form url.Values) (page, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, target, body)
		if err != nil {
			return page{}, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", origin)
		}
		resp, err := ua.Do(req)
		if err != nil {
			return page{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return page{resp.StatusCode, resp.Header.Get("Location"), string(b), req.URL}, nil
	}
	// follow makes the request and follows redirects within the server,
	// stopping at one to the client's callback.
	follow := func(method, target string, form url.Values) (page, error) {
		for range 10 {
			p, err := do(method, target, form)
			if err != nil || (p.status != http.StatusFound && p.status != http.StatusSeeOther) {
				return p, err
			}
			loc, err := p.url.Parse(p.location)
			if err != nil {
				return p, err
			}
			if strings.HasPrefix(loc.String(), redirect) {
				p.location = loc.String()
				return p, nil
			}
			method, target, form = http.MethodGet, loc.String(), nil
		}
		return page{}, fmt.Errorf("too many redirects")
	}
	submit := func(p page, values url.Values) (page, error) {
		m := formAction.FindStringSubmatch(p.body)
		if m == nil {
			return page{}, fmt.Errorf("no form on the page (status %d): %.300s", p.status, p.body)
		}
		action, err := p.url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			return page{}, err
		}
		form := url.Values{}
		for _, h := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
			form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		for k, v := range values {
			form[k] = v
		}
		return follow(http.MethodPost, action.String(), form)
	}

	p, err := follow(http.MethodGet, f.c.APIURL+"/oauth2/authorize?"+q.Encode(), nil)
	if err != nil {
		return "", "", fmt.Errorf("authorize: %w", err)
	}
	if p, err = submit(p, url.Values{"username": {u.Username}, "password": {password}}); err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	if strings.Contains(p.body, `name="decision"`) {
		if p, err = submit(p, url.Values{"decision": {"allow"}}); err != nil {
			return "", "", fmt.Errorf("consent: %w", err)
		}
	}
	cb, err := url.Parse(p.location)
	if err != nil || cb.Query().Get("code") == "" {
		return "", "", fmt.Errorf("the flow did not end with a code (status %d, location %q): %.300s", p.status, p.location, p.body)
	}
	st, body, err := f.send(ctx, http.MethodPost, f.c.APIURL+"/oauth2/token", http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {basic(cl.ClientID, cl.ClientSecret)},
	}, []byte(url.Values{"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}.Encode()))
	if err != nil || st != http.StatusOK {
		return "", "", fmt.Errorf("code exchange: %d %v %.300s", st, err, body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return "", "", fmt.Errorf("code exchange without an access token: %.300s", body)
	}
	return u.ID, tok.AccessToken, nil
}
