package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// A request whose chunked body is malformed (the black-box finding: a bad
// chunk size got 408 after the upstream had the headers) is answered 400
// by the gateway, reaches no upstream, and blames none.
func TestMalformedChunkedBodyIs400AndNeverReachesTheUpstream(t *testing.T) {
	e := newTestEnv(t)
	e.setRoutes(e.route("upload", "/upload", auth.PolicyPublic))
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /upload/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a malformed body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(string(body), "malformed") {
		t.Errorf("answer %q: %s", ct, body)
	}
	if n := series(e.gw.metrics.upstreamEr); n != 0 {
		t.Errorf("the upstream was blamed: %d upstream error series", n)
	}
	// The follow-up is the first request the upstream gets, and the
	// route's upstream is not in cooldown.
	wantStatus(t, e.do("GET", "/upload/follow-up"), http.StatusOK)
	if n := e.upstream.count(); n != 1 {
		t.Fatalf("the upstream got %d requests, want only the follow-up", n)
	}
	if got := e.upstream.last(t); got.Path != "/upload/follow-up" {
		t.Errorf("the upstream got %s", got.Path)
	}
}
