package oauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func TestTokenEndpointRequestShape(t *testing.T) {
	ts := newTestServer(t)
	c, secret := ts.confidentialClient(auth.AuthMethodSecretBasic)
	send := func(method, path, contentType string, body []byte) *http.Response {
		req, _ := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.SetBasicAuth(c.ID, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	const form = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
	}{
		{"GET on the token endpoint", http.MethodGet, PathToken, "", "", http.StatusMethodNotAllowed},
		{"JSON body", http.MethodPost, PathToken, "application/json", `{"grant_type":"client_credentials"}`, http.StatusBadRequest},
		{"no content type", http.MethodPost, PathToken, "", "grant_type=client_credentials", http.StatusBadRequest},
		{"other charset", http.MethodPost, PathToken, form + "; charset=iso-8859-1", "grant_type=client_credentials", http.StatusBadRequest},
		{"duplicate grant_type", http.MethodPost, PathToken, form, "grant_type=client_credentials&grant_type=client_credentials", http.StatusBadRequest},
		{"duplicate scope", http.MethodPost, PathToken, form, "grant_type=client_credentials&scope=read&scope=write", http.StatusBadRequest},
		{"parameters in the URL", http.MethodPost, PathToken + "?grant_type=client_credentials", form, "", http.StatusBadRequest},
		{"oversized body", http.MethodPost, PathToken, form, "grant_type=client_credentials&scope=" + strings.Repeat("a", maxFormBytes), http.StatusRequestEntityTooLarge},
		{"bad form encoding", http.MethodPost, PathToken, form, "grant_type=client_credentials&x=%zz", http.StatusBadRequest},
		{"GET on revoke", http.MethodGet, PathRevoke, "", "", http.StatusMethodNotAllowed},
		{"GET on introspect", http.MethodGet, PathIntrospect, "", "", http.StatusMethodNotAllowed},
		{"duplicate token at introspect", http.MethodPost, PathIntrospect, form, "token=a&token=b", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(tc.method, tc.path, tc.contentType, []byte(tc.body))
			wantError(t, resp, tc.status, CodeInvalidRequest)
			if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
		})
	}
	t.Run("charset utf-8, empty parameters and repeated resource are fine", func(t *testing.T) {
		resp := send(http.MethodPost, PathToken, form+"; charset=UTF-8",
			[]byte("grant_type=client_credentials&scope=&resource=https%3A%2F%2Fapi.example.com&resource=https%3A%2F%2Fother.example.com"))
		decode(t, resp, http.StatusOK)
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Errorf("headers %v", resp.Header)
		}
	})
}

func TestParseForm(t *testing.T) {
	f, err := parseForm("application/x-www-form-urlencoded", []byte("a=1&b=&resource=x&resource=y&resource="))
	if err != nil {
		t.Fatal(err)
	}
	if f.Get("a") != "1" || f.Has("b") || len(f["resource"]) != 2 {
		t.Errorf("form %v", f)
	}
	if _, err := parseForm("application/x-www-form-urlencoded", []byte("a=1&a=2")); err == nil {
		t.Error("duplicate accepted")
	}
	if _, err := parseForm("text/plain", []byte("a=1")); err == nil {
		t.Error("text/plain accepted")
	}
}

func TestParseBasicAuth(t *testing.T) {
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		header      string
		id, secret  string
		present, ok bool
	}{
		{"", "", "", false, false},
		{"Bearer abc", "", "", false, false},
		{enc("cli_a:s3cret"), "cli_a", "s3cret", true, true},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("cli_a:s")), "cli_a", "s", true, true},
		{enc("cli%3Aa:p%2Bq+r"), "cli:a", "p+q r", true, true},
		{enc("cli_a:se:cret"), "cli_a", "se:cret", true, true},
		{enc("cli_a"), "", "", true, false},
		{enc(":secret"), "", "", true, false},
		{enc("cli_a:%zz"), "", "", true, false},
		{"Basic !!!", "", "", true, false},
		{"Basic " + strings.Repeat("A", 2000), "", "", true, false},
	} {
		id, secret, present, ok := parseBasicAuth(tc.header)
		if id != tc.id || secret != tc.secret || present != tc.present || ok != tc.ok {
			t.Errorf("parseBasicAuth(%q) = %q %q %v %v", tc.header, id, secret, present, ok)
		}
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials", "a=1&a=2", "resource=x&resource=y", "%zz=1", "a=&b=;c", ""} {
		f.Add("application/x-www-form-urlencoded", s)
	}
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "a=b")
	f.Add("multipart/form-data; boundary=x", "a=b")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		form, err := parseForm(contentType, []byte(body))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidRequest {
				t.Fatalf("error %v is not invalid_request", err)
			}
			return
		}
		for k, vs := range form {
			if len(vs) == 0 || (len(vs) > 1 && k != "resource") {
				t.Fatalf("parameter %q has %d values", k, len(vs))
			}
			for _, v := range vs {
				if v == "" {
					t.Fatalf("empty value of %q kept", k)
				}
			}
		}
	})
}

func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic Y2xpX2E6czNjcmV0", "Basic !!!", "Bearer x", "", "Basic Y2xpJTNBYTpwJTJCcStyCg=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		id, _, present, ok := parseBasicAuth(header)
		if ok && (!present || id == "") {
			t.Fatalf("ok without a client ID")
		}
		if !present && ok {
			t.Fatal("ok without a header")
		}
	})
}
