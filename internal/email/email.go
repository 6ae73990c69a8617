// Package email sends the few plain-text messages Gatehouse sends (an
// administrator's password-reset link) through an SMTP server, with the
// standard library's net/smtp: STARTTLS before any credential unless the
// server is on a loopback address, AUTH PLAIN when a username is set.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// SMTP sends messages through one SMTP server. It is safe for concurrent
// use: each message has its own connection.
type SMTP struct {
	Addr     string // HOST:PORT
	Username string // "" for no authentication
	Password string
	From     string // the sender's address
	// StartTLS upgrades the connection before anything else is said
	// (and fails if the server cannot); required to authenticate to a
	// server that is not on a loopback address (net/smtp's PlainAuth).
	StartTLS bool
	// TLSConfig is the STARTTLS configuration; nil: the system roots and
	// the host of Addr as the server name.
	TLSConfig *tls.Config
	// Timeout bounds one message's whole exchange; 0: 30 seconds.
	Timeout time.Duration
	Now     func() time.Time // nil: time.Now
}

// Send sends a plain-text message to one address. The addresses must be
// bare e-mail addresses and the subject one line: nothing a caller passes
// can add a header or a recipient.
func (s *SMTP) Send(ctx context.Context, to, subject, body string) error {
	from, err := bareAddress(s.From)
	if err != nil {
		return fmt.Errorf("email: sender: %w", err)
	}
	rcpt, err := bareAddress(to)
	if err != nil {
		return fmt.Errorf("email: recipient: %w", err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return errors.New("email: the subject has a line break")
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("email: address %q: %w", s.Addr, err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("email: connect: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// A cancelled context ends a stalled exchange at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("email: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("email: EHLO: %w", err)
	}
	if s.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("email: the server does not offer STARTTLS")
		}
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("email: STARTTLS: %w", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("email: authenticate: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("email: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return fmt.Errorf("email: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email: DATA: %w", err)
	}
	msg, err := s.message(from, rcpt, subject, body)
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("email: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email: send: %w", err)
	}
	return c.Quit()
}

// message is the RFC 5322 message: UTF-8 text, quoted-printable, CRLF
// line ends.
func (s *SMTP) message(from, to, subject, body string) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	domain := from[strings.LastIndexByte(from, '@')+1:]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// bareAddress returns addr if it is a bare address (no name, no brackets,
// no line break), as the SMTP envelope and the headers take it.
func bareAddress(addr string) (string, error) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr || strings.ContainsAny(addr, "\r\n<>") {
		return "", fmt.Errorf("%q is not a bare e-mail address", addr)
	}
	return addr, nil
}
