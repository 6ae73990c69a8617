package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestServeTLS serves HTTPS from the configured certificate files.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	cfg := testConfig(t, dir, "")
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, cfg, testenv.NewClock(time.Now().UTC()), &testenv.SyncBuffer{})
	if !strings.HasPrefix(n.main.URL(), "https://") {
		t.Fatalf("URL = %s, want https", n.main.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(n.main.URL() + "/healthz")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Plain HTTP to the TLS port is not served.
	plain, err := http.Get(strings.Replace(n.main.URL(), "https://", "http://", 1) + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was served on the TLS port")
		}
	}
}

func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeRefusesUnreadableTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, "")
	cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, "missing.pem"), filepath.Join(dir, "missing-key.pem")
	if _, _, err := initialize(context.Background(), cfg, NewLogger(cfg, io.Discard)); err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Logger: NewLogger(cfg, io.Discard)}
	err := m.Run(context.Background())
	if err == nil {
		m.Close()
		t.Fatal("Run started without its certificate")
	}
	if !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("err = %v, want it to name the TLS certificate", err)
	}
}
