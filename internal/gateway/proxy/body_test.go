package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is what rawUpstream read from one connection.
type received struct {
	raw     []byte        // every byte that arrived
	req     *http.Request // nil if no request head could be read
	body    []byte
	bodyErr error // reading the body failed: the request was not complete
}

// complete reports whether a whole request arrived.
func (r received) complete() bool { return r.req != nil && r.bodyErr == nil }

// rawUpstream is an upstream on a bare TCP listener that serves one
// connection at a time, in the order they arrive, and reports what each
// brought: the bytes, and whether they made a complete request. A complete
// request is answered 200 with its body's length, and the connection
// closed; an incomplete one is only recorded.
type rawUpstream struct {
	URL  string
	got  chan received
	addr string
}

func newRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{URL: "http://" + l.Addr().String(), got: make(chan received, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			u.got <- serveRaw(conn)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return u
}

func serveRaw(conn net.Conn) received {
	defer conn.Close()
	// Bounds a test that went wrong; a working one never waits for it.
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(conn, &raw))
	var rec received
	req, err := http.ReadRequest(br)
	if err != nil {
		rec.raw = raw.Bytes()
		return rec
	}
	rec.req = req
	if req.Header.Get("Expect") == "100-continue" {
		_, _ = io.WriteString(conn, "HTTP/1.1 100 Continue\r\n\r\n")
	}
	rec.body, rec.bodyErr = io.ReadAll(req.Body)
	rec.raw = raw.Bytes()
	if rec.bodyErr == nil {
		msg := fmt.Sprintf("got %d bytes", len(rec.body))
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(msg), msg)
	}
	return rec
}

// next returns what the next connection brought.
func (u *rawUpstream) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-u.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream got no connection")
		return received{}
	}
}

// assertOnlyFollowUp sends a valid request through f and checks that it
// is the first thing the upstream got: the requests before it never
// reached the upstream (which serves connections in order).
func (u *rawUpstream) assertOnlyFollowUp(t *testing.T, f *httptest.Server) {
	t.Helper()
	resp, err := f.Client().Post(f.URL+"/follow-up", "text/plain", strings.NewReader("fine"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("follow-up: status %d", resp.StatusCode)
	}
	got := u.next(t)
	if got.req == nil || got.req.URL.Path != "/follow-up" {
		t.Fatalf("the upstream got something before the follow-up request:\n%q", got.raw)
	}
}

// sendRaw writes head and body to addr as a client would, half-closing
// the connection after them if closeWrite, and reads the answer. The body
// is written while the answer is read, so that a proxy answering before
// reading it all does not block the test.
func sendRaw(t *testing.T, addr, head string, body []byte, closeWrite bool) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = io.WriteString(conn, head)
		_, _ = conn.Write(body)
		if closeWrite {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// assertBodyProblem checks an answer to a body that could not be read.
func assertBodyProblem(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	typ := map[int]string{
		http.StatusBadRequest:            "request_body_malformed",
		http.StatusRequestTimeout:        "request_body_timeout",
		http.StatusRequestEntityTooLarge: "request_body_too_large",
	}[status]
	assertProblem(t, resp, body, status, typ)
	if !resp.Close {
		t.Error("the connection is kept open after a body that could not be read")
	}
}

// chunks encodes b as chunks of at most size bytes, without the last chunk.
func chunks(b []byte, size int) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		n := min(size, len(b))
		fmt.Fprintf(&out, "%x\r\n%s\r\n", n, b[:n])
		b = b[n:]
	}
	return out.Bytes()
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[i%36]
	}
	return b
}

const chunkedHead = "POST /x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"

func TestMalformedSmallBodyIs400AndNeverReachesTheUpstream(t *testing.T) {
	t.Parallel()
	extensions := bytes.Repeat([]byte("1;ext="+strings.Repeat("e", 4000)+"\r\nX\r\n"), 5)
	for _, tt := range []struct {
		name, head string
		body       []byte
		closeWrite bool
	}{
		{"a chunk size that is not hexadecimal", chunkedHead, []byte("zz\r\nhello\r\n0\r\n\r\n"), false},
		{"an empty chunk size", chunkedHead, []byte("\r\nhello\r\n0\r\n\r\n"), false},
		{"a chunk size line ending in a bare LF", chunkedHead, []byte("5\nhello\r\n0\r\n\r\n"), false},
		{"a CR inside the chunk size line", chunkedHead, []byte("5\r;x\r\nhello\r\n0\r\n\r\n"), false},
		{"chunk data not followed by CRLF", chunkedHead, []byte("5\r\nhelloXX0\r\n\r\n"), false},
		{"a chunk length that overflows 64 bits", chunkedHead, []byte("1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), false},
		{"a chunk size line longer than 4 KiB", chunkedHead, []byte("5;" + strings.Repeat("e", 5000) + "\r\nhello\r\n0\r\n\r\n"), false},
		{"too much chunk extension for the data", chunkedHead, append(extensions, "0\r\n\r\n"...), false},
		{"a trailer longer than the reader's buffer", chunkedHead, []byte("5\r\nhello\r\n0\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\n\r\n"), false},
		{"a chunked body cut before its last chunk", chunkedHead, []byte("5\r\nhello\r\n"), true},
		{"a chunked body cut inside a chunk size line", chunkedHead, []byte("5\r\nhello\r\n1"), true},
		{"a body cut before its Content-Length", "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n", []byte("0123456789"), true},
		{"a malformed body on a GET", "GET /x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n", []byte("zz\r\nhello\r\n0\r\n\r\n"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newRawUpstream(t)
			var errs errorLog
			health := NewHealth(time.Hour, nil)
			f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Health: health, OnError: errs.OnError}))
			resp, body := sendRaw(t, f.Listener.Addr().String(), tt.head, tt.body, tt.closeWrite)
			assertBodyProblem(t, resp, body, http.StatusBadRequest)
			up.assertOnlyFollowUp(t, f)
			if got := errs.Calls(); len(got) != 0 {
				t.Errorf("the upstream was blamed: %v", got)
			}
			if !health.Healthy(up.URL) {
				t.Error("the upstream was marked as failing")
			}
		})
	}
}

func TestMalformedLargeBodyNeverReachesTheUpstreamComplete(t *testing.T) {
	t.Parallel()
	valid := chunks(pattern(100<<10), 4<<10)
	for _, tt := range []struct {
		name, head string
		body       []byte
		closeWrite bool
	}{
		{"a malformed chunk after 100 KiB of valid chunks", chunkedHead, append(valid, "zz\r\nhello\r\n0\r\n\r\n"...), false},
		{"a chunked body cut after 100 KiB", chunkedHead, valid, true},
		{"a body cut 100 KiB into its Content-Length", "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 200000\r\n\r\n", pattern(100 << 10), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newRawUpstream(t)
			var errs errorLog
			health := NewHealth(time.Hour, nil)
			f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Health: health, OnError: errs.OnError}))
			resp, body := sendRaw(t, f.Listener.Addr().String(), tt.head, tt.body, tt.closeWrite)
			// Larger than the read-ahead, so the body was being streamed
			// when it failed; the upstream had not answered yet, so the
			// client still gets the 400.
			assertBodyProblem(t, resp, body, http.StatusBadRequest)
			got := up.next(t)
			if got.req == nil {
				t.Fatalf("the upstream got no request head: %q", got.raw)
			}
			if got.complete() {
				t.Fatalf("the upstream got a complete request with a %d-byte body", len(got.body))
			}
			if !errors.Is(got.bodyErr, io.ErrUnexpectedEOF) {
				t.Errorf("the upstream's body read failed with %v, want an unexpected EOF", got.bodyErr)
			}
			if bytes.HasSuffix(got.raw, []byte("0\r\n\r\n")) {
				t.Error("the upstream's chunked stream was terminated")
			}
			if len(got.body) < 64<<10 {
				t.Errorf("the upstream got %d bytes of the body before the failure, want the read-ahead at least", len(got.body))
			}
			if got := errs.Calls(); len(got) != 0 {
				t.Errorf("the upstream was blamed: %v", got)
			}
			if !health.Healthy(up.URL) {
				t.Error("the upstream was marked as failing")
			}
		})
	}
}

func TestValidBodiesArriveIntact(t *testing.T) {
	t.Parallel()
	small, large := pattern(1000), pattern(200<<10)
	cl := func(method string, n int) string {
		return fmt.Sprintf("%s /x HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", method, n)
	}
	for _, tt := range []struct {
		name, head string
		body       []byte
		want       []byte
		wantLength bool // forwarded with Content-Length rather than chunked
	}{
		{"a small chunked body goes with its length", chunkedHead, append(chunks(small, 100), "0\r\n\r\n"...), small, true},
		{"an empty chunked body", chunkedHead, []byte("0\r\n\r\n"), nil, true},
		{"a chunked body with chunk extensions", chunkedHead, []byte("3;a=b\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), []byte("abcde"), true},
		{"a chunked body one byte over the read-ahead is streamed chunked", chunkedHead, append(chunks(pattern(readAheadSize+1), 4<<10), "0\r\n\r\n"...), pattern(readAheadSize + 1), false},
		{"a large chunked body is streamed chunked", chunkedHead, append(chunks(large, 8<<10), "0\r\n\r\n"...), large, false},
		{"a small body with Content-Length", cl("POST", len(small)), small, small, true},
		{"a large body with Content-Length", cl("PUT", len(large)), large, large, true},
		{"a body on a GET", cl("GET", len(small)), small, small, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newRawUpstream(t)
			f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}}))
			resp, body := sendRaw(t, f.Listener.Addr().String(), tt.head, tt.body, false)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := up.next(t)
			if !got.complete() || !bytes.Equal(got.body, tt.want) {
				t.Fatalf("the upstream got %d bytes (err %v), want %d", len(got.body), got.bodyErr, len(tt.want))
			}
			chunked := len(got.req.TransferEncoding) > 0
			if tt.wantLength == chunked || (tt.wantLength && got.req.ContentLength != int64(len(tt.want))) {
				t.Errorf("forwarded with Content-Length %d, Transfer-Encoding %q", got.req.ContentLength, got.req.TransferEncoding)
			}
		})
	}
}

// A client that asks for "100 Continue" is not read ahead: the upstream
// keeps its chance to refuse before the body is sent, and a malformed body
// then reaches it only as an incomplete request.
func TestExpectContinueIsNotReadAheadAndItsMalformedBodyStaysIncomplete(t *testing.T) {
	t.Parallel()
	up := newRawUpstream(t)
	var errs errorLog
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, OnError: errs.OnError}))
	conn, err := net.Dial("tcp", f.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusContinue {
		t.Fatalf("status %d before the body, want 100", resp.StatusCode)
	}
	io.WriteString(conn, "5\r\nhello\r\nzz\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assertBodyProblem(t, resp, body, http.StatusBadRequest)
	got := up.next(t)
	if got.req == nil || got.req.Header.Get("Expect") != "100-continue" {
		t.Fatalf("the upstream did not get the request head with its Expect: %q", got.raw)
	}
	if got.complete() {
		t.Fatal("the upstream got a complete request")
	}
	if got := errs.Calls(); len(got) != 0 {
		t.Errorf("the upstream was blamed: %v", got)
	}
}

// A body that does not arrive within the read deadline its server set is
// answered 408, and the upstream is not contacted.
func TestLateSmallBodyIs408AndNeverReachesTheUpstream(t *testing.T) {
	t.Parallel()
	up := newRawUpstream(t)
	var errs errorLog
	p := mustNew(t, Options{Upstreams: []string{up.URL}, OnError: errs.OnError})
	f := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	conn, err := net.Dial("tcp", f.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n0123456789")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assertBodyProblem(t, resp, body, http.StatusRequestTimeout)
	up.assertOnlyFollowUp(t, f)
	if got := errs.Calls(); len(got) != 0 {
		t.Errorf("the upstream was blamed: %v", got)
	}
}

// When the upstream has already started its answer, the status cannot be
// changed any more: a body that then fails cuts the client's connection,
// and the upstream's answer is not completed. (An HTTP/1 server sends no
// answer while a read of the request body waits, unless it is full duplex
// as HTTP/2 always is: the front and the upstream here are, so that the
// answer can start before the malformed chunk is sent.)
func TestMalformedBodyAfterTheAnswerStartedCutsTheConnection(t *testing.T) {
	t.Parallel()
	bodyErr := make(chan error, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "started")
		_ = http.NewResponseController(w).Flush()
		_, err := io.Copy(io.Discard, r.Body)
		bodyErr <- err
		_, _ = io.WriteString(w, " and finished")
	}))
	t.Cleanup(up.Close)
	p := mustNew(t, Options{Upstreams: []string{up.URL}})
	f := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	conn, err := net.Dial("tcp", f.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		io.WriteString(conn, chunkedHead)
		conn.Write(chunks(pattern(100<<10), 4<<10))
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want the upstream's 200", resp.StatusCode)
	}
	io.WriteString(conn, "zz\r\n") // once the answer has started
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the answer ended normally: %q", b)
	}
	select {
	case err := <-bodyErr:
		if err == nil {
			t.Error("the upstream read a complete body")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's body read did not end")
	}
}

func TestBodyReadStatus(t *testing.T) {
	t.Parallel()
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"a read deadline is 408", live, timeout, http.StatusRequestTimeout},
		{"a read deadline is 408 though the server cancelled the request", gone, timeout, http.StatusRequestTimeout},
		{"an HTTP/2 read deadline is 408", live, os.ErrDeadlineExceeded, http.StatusRequestTimeout},
		{"a body over its limit is 413", live, &http.MaxBytesError{Limit: 10}, http.StatusRequestEntityTooLarge},
		{"a body cut short is 400", live, io.ErrUnexpectedEOF, http.StatusBadRequest},
		{"a body cut short by a client that left is 400", gone, io.ErrUnexpectedEOF, http.StatusBadRequest},
		{"a client that left is 499", gone, errors.New("client disconnected"), statusClientClosedRequest},
		{"a cancelled read is 499", live, context.Canceled, statusClientClosedRequest},
		{"a chunked framing error is 400", live, errors.New("invalid byte in chunk length"), http.StatusBadRequest},
		{"an HTTP/2 length mismatch is 400", live, errors.New("request declared a Content-Length of 10 but only wrote 3 bytes"), http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := bodyReadStatus(tt.ctx, tt.err).status; got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
}

// slowBody is a request whose body arrives as the test writes it: a write
// returns once readAhead has taken all of it.
func slowBody(contentLength int64) (*http.Request, *io.PipeWriter) {
	pr, pw := io.Pipe()
	r := httptest.NewRequest("POST", "http://gw/x", nil)
	r.Body, r.ContentLength = pr, contentLength
	return r, pw
}

// startReadAhead runs p.readAhead(r) until the body is read.
func startReadAhead(p *Proxy, r *http.Request) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := p.readAhead(r)
		done <- err
	}()
	return done
}

// A client that trickles a short body holds a buffer the size of its
// declared length (and the one byte that sees the body end) while it
// does, not the whole read-ahead bound.
func TestReadAheadOfADeclaredLengthHoldsThatLength(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Options{Upstreams: []string{"http://upstream.test"}})
	bufs := &aheadBuffers{limit: DefaultReadAheadBudget}
	p.aheadBuffers = bufs
	r, w := slowBody(10)
	done := startReadAhead(p, r)
	io.WriteString(w, "01234") // and the rest is late
	if held := bufs.held.Load(); held > 11 {
		t.Fatalf("a 10-byte body half arrived holds %d bytes of read-ahead", held)
	}
	io.WriteString(w, "56789")
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if held := bufs.held.Load(); held > 11 {
		t.Fatalf("a 10-byte body read ahead holds %d bytes", held)
	}
	got, err := io.ReadAll(r.Body)
	if err != nil || string(got) != "0123456789" || r.ContentLength != 10 {
		t.Fatalf("forwarded %q (%v), Content-Length %d", got, err, r.ContentLength)
	}
	r.Body.Close()
	if held := bufs.held.Load(); held != 0 {
		t.Fatalf("%d bytes still held after the body was read and closed", held)
	}
}

// A body of unknown length that trickles holds a buffer that grows with
// what arrived — at most twice that, and readAheadFirst at first — up to
// the read-ahead bound, after which the rest is streamed.
func TestReadAheadOfAnUnknownLengthGrowsWithWhatArrived(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Options{Upstreams: []string{"http://upstream.test"}})
	bufs := &aheadBuffers{limit: DefaultReadAheadBudget}
	p.aheadBuffers = bufs
	r, w := slowBody(-1)
	done := startReadAhead(p, r)
	body := pattern(readAheadSize + 1000)
	arrived := 0
	// Up to the bound exactly: readAhead reads no further, and a write of
	// more would wait for the upstream's reads.
	for _, n := range []int{1, 100, 3000, 1000, 5000, 10000, 20000, 26435} {
		w.Write(body[arrived : arrived+n])
		arrived += n
		if held, bound := bufs.held.Load(), int64(max(readAheadFirst, 2*arrived)); held > bound {
			t.Fatalf("%d bytes arrived, %d held, want at most %d", arrived, held, bound)
		}
	}
	if arrived != readAheadSize {
		t.Fatalf("the test sends %d bytes ahead, want %d", arrived, readAheadSize)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if held := bufs.held.Load(); held != readAheadSize {
		t.Fatalf("%d bytes held at the bound, want %d", held, readAheadSize)
	}
	go func() {
		w.Write(body[arrived:])
		w.Close()
	}()
	got, err := io.ReadAll(r.Body)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("forwarded %d bytes (%v), want %d", len(got), err, len(body))
	}
	r.Body.Close()
	if held := bufs.held.Load(); held != 0 {
		t.Fatalf("%d bytes still held after the body was read and closed", held)
	}
}

// Once the read-ahead budget is spent, bodies are streamed as they are
// (or after what could be read within it), and arrive intact.
func TestReadAheadOverBudgetStreams(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Options{Upstreams: []string{"http://upstream.test"}})
	bufs := &aheadBuffers{limit: readAheadFirst + 100}
	p.aheadBuffers = bufs
	for _, tt := range []struct {
		name      string
		length    int64 // -1: unknown
		body      []byte
		wantAhead bool
	}{
		{"a declared length over the budget is not read ahead", 5000, pattern(5000), false},
		{"an unknown length is read ahead until the budget ends", -1, pattern(20000), true},
		{"a declared length within the budget is read ahead", 50, pattern(50), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://gw/x", nil)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(tt.body)), tt.length
			ahead, err := p.readAhead(r)
			if err != nil {
				t.Fatal(err)
			}
			if (ahead != nil) != tt.wantAhead {
				t.Fatalf("read ahead: %v, want %v", ahead != nil, tt.wantAhead)
			}
			got, err := io.ReadAll(r.Body)
			if err != nil || !bytes.Equal(got, tt.body) {
				t.Fatalf("forwarded %d bytes (%v), want %d", len(got), err, len(tt.body))
			}
			r.Body.Close()
			if held := bufs.held.Load(); held != 0 {
				t.Fatalf("%d bytes still held", held)
			}
		})
	}
}

// FuzzReadAhead checks that reading ahead never changes a body: whatever a
// client sends after a chunked (or Content-Length) request head, the body
// forwarded after readAhead yields the bytes the server's own reader does,
// and fails wherever that reader fails.
func FuzzReadAhead(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), true)
	f.Add([]byte("zz\r\nhello\r\n0\r\n\r\n"), true)
	f.Add([]byte("5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"), true)
	f.Add([]byte("3;a=b\r\nabc\r\n"), true)
	f.Add([]byte("0123456789"), false)
	// Past the first buffer of an unknown length, so that it grows.
	f.Add(append(chunks(pattern(10000), 3000), "0\r\n\r\n"...), true)
	p, err := New(Options{Upstreams: []string{"http://upstream.test"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, chunked bool) {
		head := "POST /x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
		if !chunked {
			head = "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\n"
		}
		parse := func() *http.Request {
			r, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(head), bytes.NewReader(body))))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		want, wantErr := io.ReadAll(parse().Body)

		r := parse()
		ahead, err := p.readAhead(r)
		if err != nil {
			if wantErr == nil {
				t.Fatalf("readAhead failed (%v) on a body the server reads whole", err)
			}
			return
		}
		got, gotErr := io.ReadAll(r.Body)
		if ahead != nil {
			ahead.Close()
		}
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("forwarded %d bytes (err %v), the server reads %d (err %v)", len(got), gotErr, len(want), wantErr)
		}
		if gotErr == nil && r.ContentLength >= 0 && r.ContentLength != int64(len(got)) {
			t.Fatalf("Content-Length %d for %d bytes", r.ContentLength, len(got))
		}
	})
}
