package email

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server for the tests: EHLO, STARTTLS (when
// it has a certificate), AUTH PLAIN, MAIL, RCPT, DATA, QUIT. It records
// each message and the commands it was sent.
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	tls      *tls.Config // nil: no STARTTLS
	user     string      // "" : no AUTH offered
	pass     string
	mu       sync.Mutex
	messages []received
}

type received struct {
	from, to string
	data     string
	tls      bool // the message came over TLS
	authed   bool
	commands []string
}

func newSMTPServer(t *testing.T, tlsCfg *tls.Config, user, pass string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln, tls: tlsCfg, user: user, pass: pass}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	var msg received
	tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		msg.commands = append(msg.commands, strings.SplitN(line, " ", 2)[0])
		cmd, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "EHLO":
			ext := []string{"250-test"}
			if s.tls != nil && !msg.tls {
				ext = append(ext, "250-STARTTLS")
			}
			if s.user != "" {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 8BITMIME")
			for _, e := range ext {
				tp.PrintfLine("%s", e)
			}
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			tp = textproto.NewConn(tc)
			msg.tls = true
		case "AUTH":
			fields := strings.Fields(arg)
			raw, _ := base64.StdEncoding.DecodeString(fields[len(fields)-1])
			parts := strings.Split(string(raw), "\x00")
			if len(parts) == 3 && parts[1] == s.user && parts[2] == s.pass {
				msg.authed = true
				tp.PrintfLine("235 ok")
			} else {
				tp.PrintfLine("535 bad credentials")
			}
		case "MAIL":
			if s.user != "" && !msg.authed {
				tp.PrintfLine("530 authentication required")
				continue
			}
			msg.from, _, _ = strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "FROM:"), "<"), ">")
			tp.PrintfLine("250 ok")
		case "RCPT":
			msg.to, _, _ = strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "TO:"), "<"), ">")
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go")
			data, err := io.ReadAll(tp.DotReader())
			if err != nil {
				return
			}
			msg.data = string(data)
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok")
		}
	}
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

// selfSigned returns a server certificate for 127.0.0.1 and a client
// configuration that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func decodeBody(t *testing.T, data string) (headers, body string) {
	t.Helper()
	// The DotReader has turned CRLF into LF.
	headers, raw, ok := strings.Cut(data, "\n\n")
	if !ok {
		t.Fatalf("no header/body separator in %q", data)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return headers, string(b)
}

func TestSendPlainOnLoopback(t *testing.T) {
	t.Parallel()
	srv := newSMTPServer(t, nil, "", "")
	m := &SMTP{Addr: srv.ln.Addr().String(), From: "gatehouse@id.example"}
	body := "Hello ann,\n\nhttps://id.example/account/reset?token=gate_pr_x\n\nÜnïcode and a line of more than seventy-six characters to be wrapped by quoted-printable soft breaks.\n"
	if err := m.Send(context.Background(), "ann@example.com", "Gatehouse: choose a new password", body); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || got[0].from != "gatehouse@id.example" || got[0].to != "ann@example.com" || got[0].tls {
		t.Fatalf("received %+v", got)
	}
	headers, text := decodeBody(t, got[0].data)
	for _, h := range []string{"From: gatehouse@id.example", "To: ann@example.com", "Subject: Gatehouse: choose a new password",
		"Content-Type: text/plain; charset=utf-8", "Message-ID: <"} {
		if !strings.Contains(headers, h) {
			t.Errorf("headers lack %q:\n%s", h, headers)
		}
	}
	if strings.ReplaceAll(text, "\r\n", "\n") != body {
		t.Fatalf("body %q, want %q", text, body)
	}
}

func TestSendStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	srv := newSMTPServer(t, serverTLS, "mailer", "s3cret")
	m := &SMTP{Addr: srv.ln.Addr().String(), From: "gatehouse@id.example", Username: "mailer", Password: "s3cret",
		StartTLS: true, TLSConfig: clientTLS}
	if err := m.Send(context.Background(), "ann@example.com", "subject", "body\n"); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || !got[0].tls || !got[0].authed {
		t.Fatalf("received %+v: want a message over TLS after AUTH", got)
	}
	// STARTTLS came before AUTH: the password never crossed in the clear.
	cmds := strings.Join(got[0].commands, " ")
	if !strings.HasPrefix(cmds, "EHLO STARTTLS EHLO AUTH") {
		t.Fatalf("commands %q", cmds)
	}

	m.Password = "wrong"
	if err := m.Send(context.Background(), "ann@example.com", "subject", "body\n"); err == nil {
		t.Fatal("a wrong SMTP password sent the message")
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	srv := newSMTPServer(t, nil, "", "")
	addr := srv.ln.Addr().String()
	ok := &SMTP{Addr: addr, From: "gatehouse@id.example"}
	for name, tc := range map[string]struct {
		m           *SMTP
		to, subject string
	}{
		"recipient with a header":  {ok, "ann@example.com\r\nBcc: eve@example.com", "s"},
		"recipient with a name":    {ok, "Ann <ann@example.com>", "s"},
		"two recipients":           {ok, "ann@example.com, eve@example.com", "s"},
		"subject with a header":    {ok, "ann@example.com", "s\r\nBcc: eve@example.com"},
		"bad sender":               {&SMTP{Addr: addr, From: "not an address"}, "ann@example.com", "s"},
		"STARTTLS not offered":     {&SMTP{Addr: addr, From: "gatehouse@id.example", StartTLS: true}, "ann@example.com", "s"},
		"nothing listening":        {&SMTP{Addr: "127.0.0.1:1", From: "gatehouse@id.example", Timeout: 2 * time.Second}, "ann@example.com", "s"},
		"address without the port": {&SMTP{Addr: "127.0.0.1", From: "gatehouse@id.example"}, "ann@example.com", "s"},
	} {
		if err := tc.m.Send(context.Background(), tc.to, tc.subject, "body"); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	if n := len(srv.received()); n != 0 {
		t.Fatalf("%d messages got through", n)
	}
}
