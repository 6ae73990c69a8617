package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The gateway's response recorder must let the proxy flush streams and
// hijack upgraded connections.

func TestStreamingThroughGateway(t *testing.T) {
	e := newTestEnv(t)
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	defer close(release)
	e.setRoutes(auth.Route{Name: "events", PathPrefix: "/", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})

	resp := e.do("GET", "/events")
	wantStatus(t, resp, 200)
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Errorf("first line %q", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the first event did not arrive before the upstream finished: not flushed")
	}
}

func TestUpgradeThroughGateway(t *testing.T) {
	e := newTestEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	}))
	t.Cleanup(up.Close)
	e.setRoutes(auth.Route{Name: "ws", PathPrefix: "/", Policy: auth.PolicyPublic, Upstreams: []string{up.URL}})

	u, _ := url.Parse(e.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", u.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "echo: hello" {
		t.Fatalf("echo %q, %v", line, err)
	}
	// The exchange is recorded when the proxy lets go of the connection.
	conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	for value(t, e.gw.metrics.requests.WithLabelValues("ws", "101")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("requests{ws,101} was not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
