package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/secretscan"
	"github.com/gatehouse-dev/gatehouse/internal/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// scanEnv is the real stack with secret scanning on: a test ECDSA P-256 key
// stands for GitHub's, published by an httptest server in GitHub's format.
type scanEnv struct {
	*testEnv
	ghKey   *ecdsa.PrivateKey
	fetches atomic.Int64
}

const ghKeyID = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"

func newScanEnv(t *testing.T, policy string) *scanEnv {
	t.Helper()
	ghKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ghKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{
		"key_identifier": ghKeyID,
		"key":            string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		"is_current":     true,
	}}})
	e := &scanEnv{ghKey: ghKey}
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	}))
	t.Cleanup(ks.Close)

	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	clock := testenv.NewClock(testStart)
	logs := &testenv.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys := newKeyService(t, db, clock, logger)
	pub, err := secretscan.NewPublicKeys(secretscan.KeysConfig{URL: ks.URL, Client: ks.Client(), Now: clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	scanner, err := secretscan.New(secretscan.Config{Keys: pub, Reporter: keys, Policy: policy, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{Keys: keys, Audit: db, Logger: logger, Now: clock.Now, SecretScanning: scanner})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.testEnv = &testEnv{db: db, keys: keys, server: srv, ts: ts, clock: clock, logs: logs}
	return e
}

// report builds a GitHub-style report of tokens.
func report(tokens ...string) []byte {
	var matches []map[string]string
	for _, tok := range tokens {
		matches = append(matches, map[string]string{
			"token": tok, "type": "gatehouse_api_key",
			"url":    "https://github.com/octocat/Hello-World/blob/1234/config.env",
			"source": "commit",
		})
	}
	b, _ := json.Marshal(matches)
	return b
}

func (e *scanEnv) sign(t *testing.T, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, e.ghKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// post sends body as GitHub does, with the given signature headers.
func (e *scanEnv) post(t *testing.T, body []byte, keyID, sig string) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{}
	if keyID != "" {
		h.Set("Github-Public-Key-Identifier", keyID)
	}
	if sig != "" {
		h.Set("Github-Public-Key-Signature", sig)
	}
	return e.do(t, http.MethodPost, "/v1/secret-scanning", "application/json", bytes.NewReader(body), h)
}

func (e *scanEnv) verifyCode(t *testing.T, key string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"key": key})
	resp, data := e.do(t, http.MethodPost, "/v1/keys/verify", "application/json", bytes.NewReader(body), nil)
	var out struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("verify answered %d %s", resp.StatusCode, data)
	}
	return out.Code
}

func (e *scanEnv) leakedEvents(t *testing.T) []auth.AuditEvent {
	t.Helper()
	evs, _, err := e.db.ListAuditEvents(context.Background(), auth.AuditFilter{Type: auth.EventKeyLeaked, Limit: auth.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

type label struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// signedReport posts body signed by the published key and decodes the
// answer, which must be GitHub's feedback format.
func (e *scanEnv) signedReport(t *testing.T, body []byte) []label {
	t.Helper()
	resp, data := e.post(t, body, ghKeyID, e.sign(t, body))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	var labels []label
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&labels); err != nil {
		t.Fatalf("answer is not GitHub's feedback format: %v: %s", err, data)
	}
	return labels
}

func TestSecretScanningReportRevokesTheLeakedKey(t *testing.T) {
	t.Parallel()
	e := newScanEnv(t, secretscan.PolicyRevoke)
	k, key := e.createKey(t, apikey.CreateParams{Owner: "billing"})
	other, otherKey := e.createKey(t, apikey.CreateParams{Owner: "billing"})
	if code := e.verifyCode(t, key); code != "VALID" {
		t.Fatalf("before the report: %s", code)
	}
	unknown, err := apikey.Generate("sk_live_") // well-formed, never stored
	if err != nil {
		t.Fatal(err)
	}
	mangled := key[:len(key)-2] + "zz"
	body := report(key, "NMIfyYncKcRALEXAMPLE", unknown, mangled)
	labels := e.signedReport(t, body)
	want := []label{
		{key, "gatehouse_api_key", "true_positive"},
		{"NMIfyYncKcRALEXAMPLE", "gatehouse_api_key", "false_positive"},
		{unknown, "gatehouse_api_key", "false_positive"},
		{mangled, "gatehouse_api_key", "false_positive"},
	}
	if len(labels) != len(want) {
		t.Fatalf("labels = %+v, want %+v", labels, want)
	}
	for i := range want {
		if labels[i] != want[i] {
			t.Errorf("label %d = %+v, want %+v", i, labels[i], want[i])
		}
	}
	if code := e.verifyCode(t, key); code != "REVOKED" {
		t.Errorf("after the report the key verifies %s, want REVOKED", code)
	}
	if code := e.verifyCode(t, otherKey); code != "VALID" {
		t.Errorf("an unreported key (%s) verifies %s, want VALID", other.ID, code)
	}
	evs := e.leakedEvents(t)
	if len(evs) != 1 || evs[0].KeyID != k.ID || evs[0].Details["source"] != "commit" ||
		evs[0].Details["url"] != "https://github.com/octocat/Hello-World/blob/1234/config.env" {
		t.Fatalf("key.leaked events = %+v", evs)
	}

	// GitHub may report it again: still a true positive, nothing new.
	labels = e.signedReport(t, report(key))
	if len(labels) != 1 || labels[0].Label != "true_positive" {
		t.Errorf("a revoked key reported again = %+v, want true_positive", labels)
	}
	if n := len(e.leakedEvents(t)); n != 1 {
		t.Errorf("%d key.leaked events after a second report, want 1", n)
	}
	if n := e.fetches.Load(); n != 1 {
		t.Errorf("the public keys were fetched %d times, want 1 (cached)", n)
	}
	e.secrets = append(e.secrets, key, otherKey)
	e.assertNoSecretLogged(t)
}

func TestSecretScanningNotifyPolicyKeepsTheKey(t *testing.T) {
	t.Parallel()
	e := newScanEnv(t, secretscan.PolicyNotify)
	k, key := e.createKey(t, apikey.CreateParams{Owner: "billing"})
	labels := e.signedReport(t, report(key))
	if len(labels) != 1 || labels[0].Label != "true_positive" {
		t.Fatalf("labels = %+v", labels)
	}
	if code := e.verifyCode(t, key); code != "VALID" {
		t.Errorf("after a report under notify the key verifies %s, want VALID", code)
	}
	if evs := e.leakedEvents(t); len(evs) != 1 || evs[0].KeyID != k.ID || evs[0].Details["action"] != "notified" {
		t.Errorf("key.leaked events = %+v, want one for %s", evs, k.ID)
	}
}

func TestSecretScanningRefusesUnsignedReports(t *testing.T) {
	t.Parallel()
	e := newScanEnv(t, secretscan.PolicyRevoke)
	_, key := e.createKey(t, apikey.CreateParams{Owner: "billing"})
	body := report(key)
	good := e.sign(t, body)
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(body)
	forged, _ := ecdsa.SignASN1(rand.Reader, forger, digest[:])
	altered := bytes.Replace(body, []byte(`"commit"`), []byte(`"commiT"`), 1)

	for _, tc := range []struct {
		name      string
		body      []byte
		keyID     string
		signature string
	}{
		{"unsigned", body, "", ""},
		{"no signature", body, ghKeyID, ""},
		{"no key identifier", body, "", good},
		{"signed by another key", body, ghKeyID, base64.StdEncoding.EncodeToString(forged)},
		{"body altered after signing", altered, ghKeyID, good},
		{"signature not base64", body, ghKeyID, "%%%"},
	} {
		resp, data := e.post(t, tc.body, tc.keyID, tc.signature)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(string(data), "urn:gatehouse:problem:unauthorized") {
			t.Errorf("%s: answer %d %s, want a 401 problem", tc.name, resp.StatusCode, data)
		}
	}
	// Signed by a key identifier GitHub does not publish: 401 once the
	// document is fetched again to look for it; within the refetch
	// interval it cannot be looked for, so 503 tells GitHub to retry.
	e.clock.Add(secretscan.DefaultMinRefetch)
	if resp, data := e.post(t, body, "0000", good); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed by an unknown key identifier: answer %d %s, want 401", resp.StatusCode, data)
	}
	if resp, data := e.post(t, body, "0000", good); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unknown key identifier again within the refetch interval: answer %d %s, want 503", resp.StatusCode, data)
	}
	if code := e.verifyCode(t, key); code != "VALID" {
		t.Errorf("after refused reports the key verifies %s, want VALID", code)
	}
	if n := len(e.leakedEvents(t)); n != 0 {
		t.Errorf("refused reports wrote %d key.leaked events", n)
	}
}

func TestSecretScanningRefusesBadReportsWithoutActing(t *testing.T) {
	t.Parallel()
	e := newScanEnv(t, secretscan.PolicyRevoke)
	_, key := e.createKey(t, apikey.CreateParams{Owner: "billing"})

	// Oversized: over the body limit, refused before the signature itself
	// is checked (the headers and the key are, first).
	var big bytes.Buffer
	big.WriteString(`[`)
	for big.Len() <= secretscan.MaxReportBytes {
		big.WriteString(`{"token":"` + key + `","type":"t","url":"` + strings.Repeat("u", 1000) + `","source":"commit"},`)
	}
	big.WriteString(`{"token":"` + key + `"}]`)
	resp, data := e.post(t, big.Bytes(), ghKeyID, e.sign(t, big.Bytes()))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized report: %d %s, want 413", resp.StatusCode, data)
	}
	// Unsigned, the same body is refused before it is read: a forger
	// costs no read and no hash of a megabyte.
	if resp, data := e.post(t, big.Bytes(), "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("oversized unsigned report: %d %s, want 401 before the body is read", resp.StatusCode, data)
	}
	if resp, data := e.post(t, big.Bytes(), "0000", e.sign(t, big.Bytes())); resp.StatusCode/100 != 4 && resp.StatusCode != http.StatusServiceUnavailable || resp.StatusCode == http.StatusRequestEntityTooLarge {
		t.Errorf("oversized report signed by an unknown key: %d %s, want it refused before the body is read", resp.StatusCode, data)
	}

	// Too many matches, within the byte limit.
	var many []string
	for range secretscan.MaxReportMatches + 1 {
		many = append(many, key)
	}
	body := report(many...)
	if resp, data := e.post(t, body, ghKeyID, e.sign(t, body)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("report of %d matches: %d %s, want 413", len(many), resp.StatusCode, data)
	}

	// Signed, but not a report.
	for _, bad := range []string{`{"token":"` + key + `"}`, `[{"token":"` + key + `"`, `[{"token":["` + key + `"]}]`} {
		if resp, data := e.post(t, []byte(bad), ghKeyID, e.sign(t, []byte(bad))); resp.StatusCode != http.StatusBadRequest ||
			strings.Contains(string(data), key) {
			t.Errorf("malformed report: %d %s, want a 400 that does not quote the key", resp.StatusCode, data)
		}
	}
	if code := e.verifyCode(t, key); code != "VALID" {
		t.Errorf("after refused reports the key verifies %s, want VALID", code)
	}
	if n := len(e.leakedEvents(t)); n != 0 {
		t.Errorf("refused reports wrote %d key.leaked events", n)
	}
}

func TestSecretScanningIsNotFoundWhenDisabled(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	resp, data := e.do(t, http.MethodPost, "/v1/secret-scanning", "application/json", strings.NewReader(`[]`), nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(data), "urn:gatehouse:problem:not_found") {
		t.Fatalf("answer %d %s, want a 404 problem", resp.StatusCode, data)
	}
}
