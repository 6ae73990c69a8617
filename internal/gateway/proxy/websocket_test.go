package proxy

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A minimal RFC 6455 implementation, enough to prove that an upgraded
// connection is relayed both ways: the handshake, and short text frames.

const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + websocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeFrame writes one final text frame; clients mask (§5.3), servers do not.
func writeFrame(w io.Writer, payload []byte, mask bool) error {
	if len(payload) > 125 {
		return errors.New("test frames are short")
	}
	b := []byte{0x81, byte(len(payload))}
	if mask {
		b[1] |= 0x80
		key := []byte{0x37, 0xfa, 0x21, 0x3d}
		b = append(b, key...)
		for i, c := range payload {
			b = append(b, c^key[i%4])
		}
	} else {
		b = append(b, payload...)
	}
	_, err := w.Write(b)
	return err
}

// readFrame reads one short frame and returns its opcode, whether it was
// masked, and its unmasked payload.
func readFrame(r io.Reader) (opcode byte, masked bool, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, false, nil, err
	}
	opcode, masked = h[0]&0x0f, h[1]&0x80 != 0
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err = io.ReadFull(r, l[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(l[:]))
	case 127:
		return 0, false, nil, errors.New("test frames are short")
	}
	var key [4]byte
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return opcode, masked, payload, nil
}

// websocketEcho answers the handshake and echoes text frames, upper-cased
// so that the test sees the upstream's work, until the client closes.
func websocketEcho(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || r.Header.Get("Sec-WebSocket-Version") != "13" {
			http.Error(w, "websocket only", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + websocketAccept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n")
		rw.Flush()
		for {
			op, masked, payload, err := readFrame(rw)
			if err != nil || op != 1 {
				return
			}
			if !masked {
				t.Error("the client's frame arrived unmasked")
			}
			if err := writeFrame(conn, []byte(strings.ToUpper(string(payload))), false); err != nil {
				return
			}
		}
	}
}

// websocketRoundTrip opens a WebSocket through the proxy at addr and
// exchanges two messages.
// pause between them lets a header timeout pass.
func websocketRoundTrip(t *testing.T, addr string, pause time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455 §1.3
	req, _ := http.NewRequest("GET", "http://"+addr+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("handshake: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Sec-WebSocket-Accept %q", got)
	}
	for i, msg := range []string{"hello", "second message"} {
		if i > 0 {
			time.Sleep(pause)
		}
		if err := writeFrame(conn, []byte(msg), true); err != nil {
			t.Fatal(err)
		}
		op, masked, payload, err := readFrame(br)
		if err != nil {
			t.Fatal(err)
		}
		if op != 1 || masked || string(payload) != strings.ToUpper(msg) {
			t.Fatalf("echo: opcode %d masked %v %q", op, masked, payload)
		}
	}
}

func TestWebSocketEchoThroughTheProxy(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(websocketEcho(t))
	t.Cleanup(up.Close)
	// A short header timeout: the upgraded connection must outlive it.
	const timeout = 50 * time.Millisecond
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Timeout: timeout}))
	websocketRoundTrip(t, strings.TrimPrefix(f.URL, "http://"), 4*timeout)
}

func TestWebSocketToAnHTTP2UpstreamUsesHTTP1(t *testing.T) {
	t.Parallel()
	up := httptest.NewUnstartedServer(websocketEcho(t))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	tr := NewTransport(16)
	tr.TLSClientConfig = up.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	f := front(t, mustNew(t, Options{Upstreams: []string{up.URL}, Transport: tr}))
	// An HTTP/2 connection to the upstream exists first: http.Transport
	// must still open an HTTP/1.1 one for the Upgrade (it does, for
	// requests with "Connection: Upgrade"; this test keeps it so).
	resp, body := get(t, f.Client(), f.URL+"/x")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "websocket only") {
		t.Fatalf("plain request: %d %s", resp.StatusCode, body)
	}
	websocketRoundTrip(t, strings.TrimPrefix(f.URL, "http://"), 0)
}
