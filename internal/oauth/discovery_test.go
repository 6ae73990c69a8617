package oauth

import (
	"bytes"
	"encoding/json"
	"flag"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update if the change is meant):\n%s", name, got)
	}
}

func TestDiscoveryGolden(t *testing.T) {
	ts := newTestServer(t)
	cfg := ts.cfg
	cfg.Issuer = "https://auth.example.com"
	cfg.Registrar = cfg.Clients.(*client.Registry) // every endpoint on, registration included
	cfg.TOTP = newFakeTOTP()                       // second factors on: acr_values_supported lists ACRMFA
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{PathOIDCDiscovery, PathASMetadata} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %v", path, rec.Code, rec.Header())
		}
		golden(t, "discovery.json", rec.Body.Bytes())
	}
}

func TestDiscoveryEndpointsAnswer(t *testing.T) {
	ts := newTestServer(t)
	resp, err := http.Get(ts.URL + PathOIDCDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	json.NewDecoder(resp.Body).Decode(&md)
	if md["issuer"] != ts.URL {
		t.Fatalf("issuer %v", md["issuer"])
	}
	// Every endpoint of the token side is served at the advertised URL
	// (POST endpoints answer a GET with 405, not 404).
	for _, k := range []string{"token_endpoint", "revocation_endpoint", "introspection_endpoint", "userinfo_endpoint", "jwks_uri"} {
		r, err := http.Get(md[k].(string))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode == http.StatusNotFound {
			t.Errorf("%s %v: 404", k, md[k])
		}
	}
}

func TestJWKS(t *testing.T) {
	ts := newTestServer(t)
	resp, err := http.Get(ts.URL + PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Cache-Control") != ts.Keys.CacheControl() {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	for _, k := range set.Keys {
		if k["d"] != nil {
			t.Fatal("private key published")
		}
	}
	for _, inm := range []string{etag, `"other", ` + etag, "*", "W/" + etag} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+PathJWKS, nil)
		req.Header.Set("If-None-Match", inm)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d", inm, r.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+PathJWKS, nil)
	req.Header.Set("If-None-Match", `"stale"`)
	r, _ := http.DefaultClient.Do(req)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("stale ETag: %d", r.StatusCode)
	}
}
