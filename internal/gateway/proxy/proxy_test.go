package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seen is what the echo upstream reports about the request it got.
type seen struct {
	Upstream   string      `json:"upstream"`
	Method     string      `json:"method"`
	RequestURI string      `json:"request_uri"`
	Host       string      `json:"host"`
	Proto      string      `json:"proto"`
	Header     http.Header `json:"header"`
	BodySHA256 []byte      `json:"body_sha256"`
	BodyLen    int         `json:"body_len"`
}

// echoUpstream answers every request with a description of it.
func echoUpstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(echoHandler(name))
	t.Cleanup(s.Close)
	return s
}

func echoHandler(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sum := sha256.Sum256(body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{
			Upstream: name, Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
			Proto: r.Proto, Header: r.Header, BodySHA256: sum[:], BodyLen: len(body),
		})
	}
}

// deadUpstream returns the URL of a port nobody listens on any more.
func deadUpstream(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// front serves p over a real HTTP server.
func front(t *testing.T, p *Proxy) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(p)
	t.Cleanup(s.Close)
	return s
}

func mustNew(t *testing.T, o Options) *Proxy {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeClock is a settable clock for Health.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// errorLog records OnError calls.
type errorLog struct {
	mu    sync.Mutex
	calls []string // "upstream kind"
	ins   []*http.Request
}

func (l *errorLog) OnError(r *http.Request, upstream string, kind ErrorKind, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, upstream+" "+string(kind))
	l.ins = append(l.ins, r)
}

func (l *errorLog) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func decodeSeen(t *testing.T, resp *http.Response, body []byte) seen {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var s seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return s
}

func TestRoundRobinSpreadsRequestsEvenly(t *testing.T) {
	t.Parallel()
	var ups []string
	for _, name := range []string{"a", "b", "c"} {
		ups = append(ups, echoUpstream(t, name).URL)
	}
	f := front(t, mustNew(t, Options{Upstreams: ups}))
	count := map[string]int{}
	for range 30 {
		count[getSeen(t, f.Client(), f.URL+"/x").Upstream]++
	}
	for _, name := range []string{"a", "b", "c"} {
		if count[name] != 10 {
			t.Errorf("spread %v, want 10 each", count)
		}
	}
}

func TestPathsAreJoinedStrippedAndKeepTheirEncoding(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t, "u")
	tests := []struct {
		name, base, strip, request, want string
	}{
		{"no strip, no base", "", "", "/api/x?q=1", "/api/x?q=1"},
		{"root", "", "", "/", "/"},
		{"strip below the prefix", "", "/api", "/api/x/y", "/x/y"},
		{"strip the prefix itself", "", "/api", "/api", "/"},
		{"strip the prefix with a slash", "", "/api", "/api/", "/"},
		{"strip keeps the query", "", "/api", "/api/x?a=1&b=%20&a=2", "/x?a=1&b=%20&a=2"},
		{"not on a segment boundary is left alone", "", "/api", "/apix", "/apix"},
		{"multi-segment prefix", "", "/v1/orders", "/v1/orders/7", "/7"},
		{"base path joined", "/base", "", "/x", "/base/x"},
		{"base path and strip", "/base", "/api", "/api/x", "/base/x"},
		{"base path and whole prefix stripped", "/base", "/api", "/api", "/base"},
		{"base path with trailing slash", "/base/", "/api", "/api/x", "/base/x"},
		{"encoded slash kept", "", "", "/api/a%2Fb", "/api/a%2Fb"},
		{"encoded slash kept after strip", "", "/api", "/api/a%2Fb/c", "/a%2Fb/c"},
		{"encoded slash kept with base", "/base", "/api", "/api/a%2Fb", "/base/a%2Fb"},
		{"encoded prefix letters are stripped", "", "/api", "/%61pi/a%2Fb", "/a%2Fb"},
		{"encoded base path kept", "/b%2Fc", "", "/x", "/b%2Fc/x"},
		{"space encoded", "", "/api", "/api/a%20b", "/a%20b"},
		{"encoded slash at the prefix boundary", "", "/api", "/api%2Fx", "/x"},
		{"encoded slash at the prefix boundary with base", "/base", "/api", "/api%2Fx%2Fy", "/base/x%2Fy"},
		{"dot segments stay below the base", "/base", "/api", "/api/../../admin", "/base/admin"},
		{"encoded dot segments stay below the base", "/base", "/api", "/api/%2e%2e/%2E%2E/admin", "/base/admin"},
		{"dot segments without strip", "/base", "", "/x/./y/../z/", "/base/x/z/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := front(t, mustNew(t, Options{Upstreams: []string{up.URL + tt.base}, StripPrefix: tt.strip}))
			req, err := http.NewRequest("GET", f.URL+tt.request, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := decodeSeen(t, resp, body).RequestURI; got != tt.want {
				t.Errorf("upstream got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestForwardedHeadersAndHost(t *testing.T) {
	t.Parallel()
	up := echoUpstream(t, "u")
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}}))
	upHost := strings.TrimPrefix(up.URL, "http://")
	frontHost := strings.TrimPrefix(f.URL, "http://")

	t.Run("set from the connection", func(t *testing.T) {
		s := getSeen(t, f.Client(), f.URL+"/x")
		if s.Host != upHost {
			t.Errorf("Host %q, want the upstream's %q", s.Host, upHost)
		}
		want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": frontHost}
		for h, v := range want {
			if got := strings.Join(s.Header[h], ","); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
		if _, ok := s.Header["Forwarded"]; ok {
			t.Error("Forwarded was set")
		}
	})
	t.Run("trusted values left by the caller are extended or kept", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.URL+"/x", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "api.example.com")
		resp, err := f.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := decodeSeen(t, resp, body)
		want := map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
		for h, v := range want {
			if got := strings.Join(s.Header[h], ","); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
	})
	t.Run("hop-by-hop headers are dropped", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.URL+"/x", nil)
		req.Header.Set("Connection", "X-Secret-Hop")
		req.Header.Set("X-Secret-Hop", "1")
		req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
		resp, err := f.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := decodeSeen(t, resp, body)
		for _, h := range []string{"X-Secret-Hop", "Proxy-Authorization"} {
			if _, ok := s.Header[h]; ok {
				t.Errorf("%s reached the upstream", h)
			}
		}
	})
}

func TestDeadUpstreamIsRetriedThenSkippedDuringCooldown(t *testing.T) {
	t.Parallel()
	clock := newClock()
	health := NewHealth(10*time.Second, clock.Now)
	dead := deadUpstream(t)
	live := echoUpstream(t, "live")
	var errs errorLog
	f := front(t, mustNew(t, Options{Upstreams: []string{dead, live.URL}, Health: health, OnError: errs.OnError}))

	for i := range 10 {
		s := getSeen(t, f.Client(), f.URL+"/x")
		if s.Upstream != "live" {
			t.Fatalf("request %d answered by %q", i, s.Upstream)
		}
	}
	if got := errs.Calls(); len(got) != 1 || got[0] != dead+" unavailable" {
		t.Fatalf("errors %v, want the dead upstream once (then skipped)", got)
	}
	if health.Healthy(dead) {
		t.Error("dead upstream is healthy")
	}
	if errs.ins[0].URL.Path != "/x" || errs.ins[0].Host != strings.TrimPrefix(f.URL, "http://") {
		t.Errorf("OnError got %s %s, want the inbound request", errs.ins[0].Host, errs.ins[0].URL)
	}

	clock.Advance(10 * time.Second)
	if !health.Healthy(dead) {
		t.Error("dead upstream still skipped after the cooldown")
	}
	for range 2 { // round robin reaches the dead one within two requests
		getSeen(t, f.Client(), f.URL+"/x")
	}
	if got := errs.Calls(); len(got) != 2 {
		t.Fatalf("errors %v, want the dead upstream tried again after the cooldown", got)
	}
}

func TestPostBodyIsForwardedIntactAlsoAfterARetry(t *testing.T) {
	t.Parallel()
	live := echoUpstream(t, "live")
	body := make([]byte, 3<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	for _, tt := range []struct {
		name      string
		upstreams []string
	}{
		{"live upstream", []string{live.URL}},
		{"dead upstream first", []string{deadUpstream(t), live.URL}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := front(t, mustNew(t, Options{Upstreams: tt.upstreams}))
			for _, chunked := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(body)
				if chunked {
					r = io.MultiReader(r) // hides the length: chunked encoding
				}
				resp, err := f.Client().Post(f.URL+"/upload", "application/octet-stream", r)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				s := decodeSeen(t, resp, b)
				if s.Method != "POST" || s.BodyLen != len(body) || !bytes.Equal(s.BodySHA256, sum[:]) {
					t.Errorf("chunked=%v: upstream got %s with %d bytes", chunked, s.Method, s.BodyLen)
				}
			}
		})
	}
}

func assertProblem(t *testing.T, resp *http.Response, body []byte, status int, typ string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if p.Type != "urn:gatehouse:problem:"+typ || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Errorf("problem %+v, want type %s", p, typ)
	}
	if strings.Contains(string(body), "127.0.0.1") {
		t.Errorf("the problem exposes the upstream address: %s", body)
	}
}

func TestAllUpstreamsDeadIsA502Problem(t *testing.T) {
	t.Parallel()
	dead1, dead2 := deadUpstream(t), deadUpstream(t)
	var errs errorLog
	health := NewHealth(time.Hour, nil)
	f := front(t, mustNew(t, Options{Upstreams: []string{dead1, dead2}, Health: health, OnError: errs.OnError}))
	for i := range 2 {
		resp, body := get(t, f.Client(), f.URL+"/x")
		assertProblem(t, resp, body, http.StatusBadGateway, "upstream_unavailable")
		// Both are tried by every request, even in cooldown: fail open.
		if got := errs.Calls(); len(got) != 2*(i+1) {
			t.Fatalf("errors after request %d: %v", i, got)
		}
	}
	if health.Healthy(dead1) || health.Healthy(dead2) {
		t.Error("dead upstreams are healthy")
	}
}

func TestUpstreamInCooldownIsStillTriedWhenItIsTheOnlyOne(t *testing.T) {
	t.Parallel()
	live := echoUpstream(t, "live")
	health := NewHealth(time.Hour, nil)
	health.markFailed(live.URL)
	f := front(t, mustNew(t, Options{Upstreams: []string{live.URL}, Health: health}))
	getSeen(t, f.Client(), f.URL+"/x")
	if !health.Healthy(live.URL) {
		t.Error("an upstream that answered is still marked")
	}
}

func TestFailOpenPicksTheUpstreamThatFailedLongestAgo(t *testing.T) {
	t.Parallel()
	clock := newClock()
	health := NewHealth(time.Minute, clock.Now)
	p := mustNew(t, Options{Upstreams: []string{"http://a", "http://b", "http://c"}, Health: health})
	health.markFailed("http://b")
	clock.Advance(time.Second)
	health.markFailed("http://c")
	clock.Advance(time.Second)
	health.markFailed("http://a")
	for start := range uint64(3) {
		if got := p.pick(start, 0); got != 1 {
			t.Errorf("start %d: picked %d, want b (1)", start, got)
		}
	}
	if got := p.pick(0, 1<<1); got != 2 {
		t.Errorf("with b tried: picked %d, want c (2)", got)
	}
	clock.Advance(time.Minute - 2*time.Second) // b's and c's cooldowns are over
	if got := p.pick(0, 0); got != 1 {
		t.Errorf("picked %d, want the first healthy from the start (b)", got)
	}
}

func TestHangingUpstreamTimesOutButASlowStreamIsNotCut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	const timeout = 100 * time.Millisecond
	var errs errorLog
	health := NewHealth(time.Hour, nil)
	f := front(t, mustNew(t, Options{Upstreams: []string{hanging.URL}, Timeout: timeout, Health: health, OnError: errs.OnError}))

	start := time.Now()
	resp, body := get(t, f.Client(), f.URL+"/x")
	assertProblem(t, resp, body, http.StatusGatewayTimeout, "upstream_timeout")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answered after %s", d)
	}
	if got := errs.Calls(); len(got) != 1 || got[0] != hanging.URL+" timeout" {
		t.Errorf("errors %v", got)
	}
	if health.Healthy(hanging.URL) {
		t.Error("a hanging upstream is healthy")
	}

	// A stream sends its headers at once and its end much later than the
	// timeout: it must arrive whole.
	next := make(chan struct{})
	stream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "start\n")
		w.(http.Flusher).Flush()
		<-next
		io.WriteString(w, "end\n")
	}))
	t.Cleanup(stream.Close)
	fs := front(t, mustNew(t, Options{Upstreams: []string{stream.URL}, Timeout: timeout}))
	resp, err := fs.Client().Get(fs.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(5 * timeout) // the timer would have cut the stream by now
	close(next)
	all, err := io.ReadAll(resp.Body)
	if err != nil || string(all) != "start\nend\n" {
		t.Errorf("stream = %q, %v", all, err)
	}
}

func TestStreamsAreFlushedAsTheyCome(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"text/event-stream", "application/octet-stream"} {
		t.Run(ct, func(t *testing.T) {
			t.Parallel()
			next := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ct)
				io.WriteString(w, "data: one\n\n")
				w.(http.Flusher).Flush()
				<-next
				io.WriteString(w, "data: two\n\n")
			}))
			t.Cleanup(up.Close)
			f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}}))
			resp, err := f.Client().Get(f.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// The first event must arrive while the upstream is still
			// waiting: read it before letting the upstream finish.
			first := make([]byte, len("data: one\n\n"))
			got := make(chan error, 1)
			go func() { _, err := io.ReadFull(resp.Body, first); got <- err }()
			select {
			case err := <-got:
				if err != nil || string(first) != "data: one\n\n" {
					t.Fatalf("first chunk %q, %v", first, err)
				}
			case <-time.After(10 * time.Second):
				close(next)
				t.Fatal("the first chunk was not flushed before the upstream finished")
			}
			close(next)
			rest, _ := io.ReadAll(resp.Body)
			if string(rest) != "data: two\n\n" {
				t.Errorf("rest %q", rest)
			}
		})
	}
}

func TestUpstreamStatusesAndHeadersPassThrough(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/401":
			w.Header().Set("WWW-Authenticate", `Bearer realm="orders", error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
		case "/403":
			w.WriteHeader(http.StatusForbidden)
		case "/429":
			w.Header().Set("Retry-After", "7")
			w.Header().Set("RateLimit-Policy", `"default";q=100;w=60`)
			w.Header().Set("RateLimit", `"default";r=0;t=7`)
			w.WriteHeader(http.StatusTooManyRequests)
		case "/503":
			w.Header().Set("Retry-After", "30")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, "upstream body "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	health := NewHealth(time.Hour, nil)
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Health: health}))
	tests := []struct {
		path   string
		status int
		header map[string]string
	}{
		{"/401", 401, map[string]string{"WWW-Authenticate": `Bearer realm="orders", error="invalid_token"`}},
		{"/403", 403, nil},
		{"/429", 429, map[string]string{"Retry-After": "7", "RateLimit-Policy": `"default";q=100;w=60`, "RateLimit": `"default";r=0;t=7`}},
		{"/503", 503, map[string]string{"Retry-After": "30", "Content-Type": "application/problem+json"}},
	}
	for _, tt := range tests {
		resp, body := get(t, f.Client(), f.URL+tt.path)
		if resp.StatusCode != tt.status || string(body) != "upstream body "+tt.path {
			t.Errorf("%s: %d %q", tt.path, resp.StatusCode, body)
		}
		for h, v := range tt.header {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", tt.path, h, got, v)
			}
		}
	}
	if !health.Healthy(up.URL) {
		t.Error("an upstream's own error statuses marked it unhealthy")
	}
}

func TestUpstreamThatDropsTheConnectionIsA502(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(up.Close)
	other := echoUpstream(t, "other")
	var errs errorLog
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL, other.URL}, OnError: errs.OnError}))
	resp, err := f.Client().Post(f.URL+"/x", "text/plain", strings.NewReader("charge the card once"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assertProblem(t, resp, body, http.StatusBadGateway, "upstream_error")
	if got := errs.Calls(); len(got) != 1 || got[0] != up.URL+" error" {
		t.Errorf("errors %v: a request that reached an upstream must not be sent to another", got)
	}
}

func TestClientThatGoesAwayIsNotAnUpstreamError(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	upstreamSawCancel := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
		close(upstreamSawCancel)
	}))
	t.Cleanup(up.Close)
	var errs errorLog
	health := NewHealth(time.Hour, nil)
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Health: health, OnError: errs.OnError}))

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/x", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := f.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v", err)
	}
	select {
	case <-upstreamSawCancel:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
	// The proxy may still be finishing: poll for a while for a wrong report.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := errs.Calls(); len(got) != 0 {
			t.Fatalf("OnError called: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !health.Healthy(up.URL) {
		t.Error("the upstream was marked for the client's departure")
	}
}

func TestHTTPSUpstreamGetsHTTP2(t *testing.T) {
	t.Parallel()
	up := httptest.NewUnstartedServer(echoHandler("tls"))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	tr := NewTransport(16)
	tr.TLSClientConfig = up.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Transport: tr}))
	s := getSeen(t, f.Client(), f.URL+"/x")
	if s.Proto != "HTTP/2.0" {
		t.Errorf("proto %s, want HTTP/2.0", s.Proto)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	many := make([]string, 65)
	for i := range many {
		many[i] = "http://h"
	}
	for name, o := range map[string]Options{
		"no upstream":        {},
		"too many upstreams": {Upstreams: many},
		"not a URL":          {Upstreams: []string{"://x"}},
		"no scheme":          {Upstreams: []string{"127.0.0.1:80"}},
		"ftp":                {Upstreams: []string{"ftp://h"}},
		"user info":          {Upstreams: []string{"http://u:p@h"}},
		"query":              {Upstreams: []string{"http://h/?a=1"}},
		"negative timeout":   {Upstreams: []string{"http://h"}, Timeout: -1},
		"relative strip":     {Upstreams: []string{"http://h"}, StripPrefix: "api"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := mustNew(t, Options{Upstreams: []string{"http://a", "https://b/base"}})
	if got := p.Upstreams(); len(got) != 2 || got[0] != "http://a" || got[1] != "https://b/base" {
		t.Errorf("Upstreams() = %v", got)
	}
	p.Upstreams()[0] = "changed"
	if p.Upstreams()[0] != "http://a" {
		t.Error("Upstreams() exposes the Proxy's slice")
	}
}

func TestStripPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prefix, path, raw, wantPath, wantRaw string
	}{
		{"/api", "/api/x", "", "/x", ""},
		{"/api", "/api", "", "", ""},
		{"/api", "/apix", "", "/apix", ""},
		{"/api", "/other", "", "/other", ""},
		{"/api", "/api/a/b", "/api/a%2Fb", "/a/b", "/a%2Fb"},
		{"/api", "/api/a/b", "/%61pi/a%2Fb", "/a/b", "/a%2Fb"},
		{"/a/b", "/a/b/x", "/a%2Fb/x", "/x", "/x"},
		{"/api", "/api/a/b", "/api/a%2", "/a/b", ""},           // broken escape: default encoding
		{"/api", "/api/x/y", "/api%2Fx%2Fy", "/x/y", "/x%2Fy"}, // the boundary is an escaped slash
	}
	for _, tt := range tests {
		p, r := stripPrefix(tt.prefix, tt.path, tt.raw)
		if p != tt.wantPath || r != tt.wantRaw {
			t.Errorf("stripPrefix(%q, %q, %q) = %q, %q; want %q, %q", tt.prefix, tt.path, tt.raw, p, r, tt.wantPath, tt.wantRaw)
		}
	}
}

// FuzzRewritePath checks that any request path, stripped and joined to a
// base, gives a URL whose escaped path decodes to its path and stays below
// the base.
func FuzzRewritePath(f *testing.F) {
	for _, s := range []string{"/api/x", "/api", "/%61pi/a%2Fb", "/api/%zz", "/api/a%2F..%2F..", "/", "//api", "/api/../x"} {
		f.Add(s)
	}
	p, err := New(Options{Upstreams: []string{"http://h/base"}, StripPrefix: "/api"})
	if err != nil {
		f.Fatal(err)
	}
	u := p.upstreams[0]
	f.Fuzz(func(t *testing.T, target string) {
		in, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(in.Path, "/") {
			return
		}
		path, raw := p.relativePath(in.Path, in.RawPath)
		out := u.target(&url.URL{Path: path, RawPath: raw, RawQuery: in.RawQuery})
		if !strings.HasPrefix(out.Path, "/base") || hasDotSegment(out.Path) {
			t.Fatalf("%q -> %q leaves the base", target, out.Path)
		}
		dec, err := url.PathUnescape(out.EscapedPath())
		if err != nil || dec != out.Path {
			t.Fatalf("%q -> escaped %q decodes to %q, path %q", target, out.EscapedPath(), dec, out.Path)
		}
		back, err := url.ParseRequestURI(out.RequestURI())
		if err != nil || back.Path != out.Path {
			t.Fatalf("%q -> %q does not parse back: %v", target, out.RequestURI(), err)
		}
	})
}

func getSeen(t *testing.T, c *http.Client, u string) seen {
	t.Helper()
	resp, body := get(t, c, u)
	return decodeSeen(t, resp, body)
}
