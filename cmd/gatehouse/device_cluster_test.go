package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestDeviceGrantAcrossNodes runs two nodes on one PostgreSQL database and
// one Redis, as a cluster does: a device code issued by node A is approved
// through node B's verification page and its tokens collected from node A;
// a too-fast poll recorded by one node slows the device down on the other;
// and the page's attempt limit per browser holds across the nodes.
func TestDeviceGrantAcrossNodes(t *testing.T) {
	redisURL := testenv.RedisURL()
	if u, err := url.Parse(redisURL); err != nil {
		t.Fatal(err)
	} else if c, err := net.DialTimeout("tcp", u.Host, time.Second); err != nil {
		testenv.RedisUnreachable(t, err)
	} else {
		c.Close()
	}
	cfgA, cfgB, clk := clusterConfigs(t, func(c *config.Config) {
		c.RedisURL, c.RedisTimeout = redisURL, 2*time.Second
		// The address is 127.0.0.1 for every test on this machine, and
		// Redis keeps buckets across runs: the per-browser limit, new with
		// each browser, is the one this test counts.
		c.OAuth.Device.AddressAttempts = 10000
		c.OAuth.Device.BrowserAttempts = 3
	})
	_, adminKey, err := initialize(context.Background(), cfgA, NewLogger(cfgA, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	a := startNode(t, cfgA, clk, &testenv.SyncBuffer{})
	b := startNode(t, cfgB, clk, &testenv.SyncBuffer{})
	a.env["GATEHOUSE_ADMIN_KEY"] = adminKey

	ctx := context.Background()
	// A public device client, as docs/oauth.md registers one.
	var cli struct {
		ClientID string `json:"client_id"`
	}
	a.cliJSON(&cli, "clients", "create", "--name", "gatehouse CLI", "--public",
		"--grant-types", auth.GrantDeviceCode+",refresh_token", "--scopes", "openid offline_access")
	id := cli.ClientID
	if _, err := a.main.Accounts.Create(ctx, "test", account.CreateInput{Username: "alice", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}

	post := func(n *node, path string, form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(n.main.URL()+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	poll := func(n *node, deviceCode string) (int, string) {
		t.Helper()
		status, m := post(n, "/oauth2/token", url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {id}, "device_code": {deviceCode}})
		e, _ := m["error"].(string)
		return status, e
	}

	status, da := post(a, "/oauth2/device_authorization", url.Values{"client_id": {id}, "scope": {"openid offline_access"}})
	if status != http.StatusOK {
		t.Fatalf("device authorization on node A: %d %v", status, da)
	}
	dc, userCode := da["device_code"].(string), da["user_code"].(string)
	if _, e := poll(a, dc); e != "authorization_pending" {
		t.Fatalf("first poll on A: %s", e)
	}
	clk.Add(2 * time.Second)
	if _, e := poll(b, dc); e != "slow_down" {
		t.Fatalf("a poll on B 2 s after one on A: %s, want slow_down", e)
	}
	clk.Add(7 * time.Second) // 9 s: enough for 5 s, not for the 10 s it is now
	if _, e := poll(a, dc); e != "slow_down" {
		t.Fatalf("a poll on A 7 s after a slow_down on B: %s, want slow_down", e)
	}

	// The page on node B.
	br := newPageClient(t)
	p := br.get(b.main.URL() + "/device?user_code=" + url.QueryEscape(userCode))
	p = br.submit(b, p, nil)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("after the code on B, want the sign-in form: %d\n%s", p.status, p.body)
	}
	p = br.submit(b, p, url.Values{"username": {"alice"}, "password": {"correct horse battery staple"}})
	p = br.submit(b, p, url.Values{"decision": {"allow"}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Device connected") {
		t.Fatalf("approval on B: %d\n%s", p.status, p.body)
	}

	clk.Add(20 * time.Second)
	status, tok := post(a, "/oauth2/token", url.Values{"grant_type": {auth.GrantDeviceCode}, "client_id": {id}, "device_code": {dc}})
	if status != http.StatusOK || tok["access_token"] == nil || tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("collection on A: %d %v", status, tok)
	}
	clk.Add(20 * time.Second)
	if _, e := poll(b, dc); e != "invalid_grant" {
		t.Fatalf("the device code again, on B: %s, want invalid_grant", e)
	}

	// Three wrong codes from one browser, spread over both nodes, are
	// all it gets.
	guesser := newPageClient(t)
	for i, n := range []*node{a, b, a, b} {
		p := guesser.get(n.main.URL() + "/device")
		p = guesser.submit(n, p, url.Values{"user_code": {"BBBB-BBBB"}})
		want := http.StatusBadRequest
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if p.status != want {
			t.Fatalf("guess %d: %d, want %d\n%s", i+1, p.status, want, p.body)
		}
	}
}

// pageClient is a minimal browser for our pages: it keeps every cookie
// (Secure ones too, over the test's plain HTTP) and fills in our forms.
type pageClient struct {
	t       *testing.T
	c       *http.Client
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func newPageClient(t *testing.T) *pageClient {
	pc := &pageClient{t: t, cookies: map[string]*http.Cookie{}}
	pc.c = &http.Client{Jar: pc, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return pc
}

// SetCookies and Cookies make pageClient its own cookie jar, for one
// host whatever the port (as browsers do).
func (pc *pageClient) SetCookies(_ *url.URL, cs []*http.Cookie) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(pc.cookies, c.Name)
		} else {
			pc.cookies[c.Name] = c
		}
	}
}

func (pc *pageClient) Cookies(*url.URL) []*http.Cookie {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	out := make([]*http.Cookie, 0, len(pc.cookies))
	for _, c := range pc.cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

type htmlPage struct {
	status int
	body   string
}

func (pc *pageClient) do(req *http.Request) htmlPage {
	pc.t.Helper()
	resp, err := pc.c.Do(req)
	if err != nil {
		pc.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return htmlPage{status: resp.StatusCode, body: string(body)}
}

func (pc *pageClient) get(u string) htmlPage {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return pc.do(req)
}

var (
	pageFormRe  = regexp.MustCompile(`(?s)<form method="post" action="[^"]*">(.*?)</form>`)
	pageInputRe = regexp.MustCompile(`<input ([^>]*)>`)
	pageAttrRe  = regexp.MustCompile(`(\w[\w-]*)="([^"]*)"`)
)

// submit posts the page's form to node n (the action names the issuer,
// which any node serves), with values over its own.
func (pc *pageClient) submit(n *node, p htmlPage, values url.Values) htmlPage {
	pc.t.Helper()
	m := pageFormRe.FindStringSubmatch(p.body)
	if m == nil {
		pc.t.Fatalf("no form (status %d):\n%s", p.status, p.body)
	}
	form := url.Values{}
	for _, in := range pageInputRe.FindAllStringSubmatch(m[1], -1) {
		attrs := map[string]string{}
		for _, a := range pageAttrRe.FindAllStringSubmatch(in[1], -1) {
			attrs[a[1]] = html.UnescapeString(a[2])
		}
		if attrs["name"] != "" {
			form.Set(attrs["name"], attrs["value"])
		}
	}
	for k, vs := range values {
		form[k] = vs
	}
	req, _ := http.NewRequest(http.MethodPost, n.main.URL()+"/device", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return pc.do(req)
}
