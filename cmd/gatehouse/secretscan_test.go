package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestSecretScanningIsWired reports a key created through the CLI with a
// signed GitHub-style report to a running node, whose configuration points
// secret_scanning.public_keys_url at a test key's document.
func TestSecretScanningIsWired(t *testing.T) {
	ghKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&ghKey.PublicKey)
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": "gh-1", "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}}})
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(doc) }))
	t.Cleanup(ks.Close)

	cfg := testConfig(t, t.TempDir(), "")
	cfg.SecretScanning.PublicKeysURL = ks.URL // http on loopback is allowed
	n := startInitialised(t, cfg, testenv.NewClock(time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)), &testenv.SyncBuffer{})
	var created struct {
		Key string `json:"key"`
	}
	n.cliJSON(&created, "keys", "create", "--owner", "billing")

	body, _ := json.Marshal([]map[string]string{{"token": created.Key, "type": "gatehouse_api_key", "url": "https://github.com/o/r", "source": "commit"}})
	post := func(sig string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, n.main.URL()+"/v1/secret-scanning", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Github-Public-Key-Identifier", "gh-1")
		req.Header.Set("Github-Public-Key-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, out := post("MEUCIQ=="); code != http.StatusUnauthorized {
		t.Fatalf("badly signed report: %d %s", code, out)
	}
	if v := n.verify(created.Key); v.Code != "VALID" {
		t.Fatalf("after a refused report: %s", v.Code)
	}
	digest := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, ghKey, digest[:])
	code, out := post(base64.StdEncoding.EncodeToString(sig))
	var labels []struct{ Label string }
	if err := json.Unmarshal([]byte(out), &labels); code != http.StatusOK || err != nil || len(labels) != 1 || labels[0].Label != "true_positive" {
		t.Fatalf("signed report: %d %s", code, out)
	}
	if v := n.verify(created.Key); v.Code != "REVOKED" {
		t.Fatalf("after a signed report the key verifies %s, want REVOKED", v.Code)
	}
}

func TestSecretScanningCanBeTurnedOff(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), "")
	cfg.SecretScanning.Enabled = false
	n := startInitialised(t, cfg, testenv.NewClock(time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)), &testenv.SyncBuffer{})
	resp, err := http.Post(n.main.URL()+"/v1/secret-scanning", "application/json", bytes.NewReader([]byte("[]")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("disabled endpoint answered %d, want 404", resp.StatusCode)
	}
}
