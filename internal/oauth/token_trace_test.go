package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestEachTokenRequestRecordsOneSpanWithItsGrantAndOutcome(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ts := newTestServer(t, func(c *Config) { c.TracerProvider = tp })
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)

	cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: ts.URL + PathToken}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	bad := cfg
	bad.ClientSecret = "wrong-" + secret
	if _, err := bad.Token(context.Background()); err == nil {
		t.Fatal("a wrong secret got a token")
	}
	req, err := http.NewRequest("POST", ts.URL+PathToken, strings.NewReader(url.Values{"grant_type": {"password-of-the-caller"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var got []map[string]string
	for _, s := range rec.Ended() {
		if s.Name() != SpanToken {
			continue
		}
		m := map[string]string{}
		for _, a := range s.Attributes() {
			v := a.Value.Emit()
			m[string(a.Key)] = v
			if strings.Contains(v, secret) || strings.Contains(v, tok.AccessToken) || strings.Contains(v, "password-of-the-caller") {
				t.Fatalf("attribute %s records what the caller sent or got: %q", a.Key, v)
			}
		}
		m["status"] = s.Status().Code.String()
		got = append(got, m)
	}
	want := []map[string]string{
		{"gatehouse.oauth.grant_type": "client_credentials", "gatehouse.client_id": c.ID, "gatehouse.oauth.error": "", "status": "Unset"},
		{"gatehouse.oauth.grant_type": "client_credentials", "gatehouse.client_id": "", "gatehouse.oauth.error": "invalid_client", "status": "Unset"},
		{"gatehouse.oauth.grant_type": "unsupported", "gatehouse.client_id": c.ID, "gatehouse.oauth.error": "unsupported_grant_type", "status": "Unset"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d %s spans for %d token requests: %v", len(got), SpanToken, len(want), got)
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Errorf("span %d: %s = %q, want %q", i, k, got[i][k], v)
			}
		}
	}
}
