package verify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder, status int, challenge, retryAfter string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d", rec.Code, status)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
	}
	if got := rec.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	known := false
	for _, k := range Problems() {
		known = known || k.Type() == p.Type && k.Status == status && k.Title == p.Title
	}
	if p.Status != status || !known || p.Detail == "" {
		t.Errorf("problem = %+v", p)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	var seen *Claims
	h := v.Middleware("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	good := mint(t, k, claimsAt(is, clk))
	expiredClaims := claimsAt(is, clk)
	expiredClaims["exp"] = clk.Now().Unix() - 3600
	expired := mint(t, k, expiredClaims)
	const invalid = `Bearer realm="api", error="invalid_token"`

	tests := []struct {
		name      string
		headers   []string
		status    int
		challenge string
	}{
		{"valid token", []string{"Bearer " + good}, http.StatusNoContent, ""},
		{"scheme in other case", []string{"bEARER " + good}, http.StatusNoContent, ""},
		{"no Authorization", nil, http.StatusUnauthorized, `Bearer realm="api"`},
		{"Basic credentials", []string{"Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, `Bearer realm="api"`},
		{"expired token", []string{"Bearer " + expired}, http.StatusUnauthorized, invalid},
		{"garbage token", []string{"Bearer abc"}, http.StatusUnauthorized, invalid},
		{"empty bearer", []string{"Bearer "}, http.StatusUnauthorized, invalid},
		{"not a token68", []string{"Bearer a b"}, http.StatusUnauthorized, invalid},
		{"two Authorization headers", []string{"Bearer " + good, "Bearer " + good}, http.StatusUnauthorized, invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			for _, hv := range tt.headers {
				r.Header.Add("Authorization", hv)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if tt.status == http.StatusNoContent {
				if rec.Code != tt.status || seen == nil || seen.Subject != "user-1" {
					t.Fatalf("status %d, claims %+v", rec.Code, seen)
				}
				return
			}
			if seen != nil {
				t.Fatal("the handler ran")
			}
			checkRefusal(t, rec, tt.status, tt.challenge, "")
		})
	}

	t.Run("insufficient scope", func(t *testing.T) {
		h := v.Middleware("orders:read", "admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.Error("the handler ran")
		}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+good)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		checkRefusal(t, rec, http.StatusForbidden, `Bearer realm="api", error="insufficient_scope", scope="orders:read admin"`, "")
	})
}

func TestMiddlewareKeysUnavailable(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	is.hang = make(chan struct{})
	v, err := New(Config{AnyAudience: true, Issuer: is.srv.URL, Now: clk.Now, Realm: `svc "a"`})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	h := v.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("the handler ran") }))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+mint(t, k, claimsAt(is, clk)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	checkRefusal(t, rec, http.StatusServiceUnavailable, "", "1")

	// The realm is a quoted-string: quotes in it are escaped.
	r.Header.Del("Authorization")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	checkRefusal(t, rec, http.StatusUnauthorized, `Bearer realm="svc \"a\""`, "")
}

func TestRequireScopes(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := RequireScopes("b")(ok)
	tests := []struct {
		name      string
		ctx       context.Context
		status    int
		challenge string
	}{
		{"claims with the scope", NewContext(context.Background(), &Claims{Scopes: []string{"a", "b"}}), http.StatusNoContent, ""},
		{"claims without it", NewContext(context.Background(), &Claims{Scopes: []string{"a"}}), http.StatusForbidden, `Bearer realm="api", error="insufficient_scope", scope="b"`},
		{"API key with the scope", context.WithValue(context.Background(), keyInfoKey, &KeyInfo{Scopes: []string{"b"}}), http.StatusNoContent, ""},
		{"no credentials at all", context.Background(), http.StatusUnauthorized, `Bearer realm="api"`},
		{"nil claims", NewContext(context.Background(), nil), http.StatusUnauthorized, `Bearer realm="api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(tt.ctx))
			if tt.status == http.StatusNoContent {
				if rec.Code != tt.status {
					t.Fatalf("status = %d", rec.Code)
				}
				return
			}
			checkRefusal(t, rec, tt.status, tt.challenge, "")
		})
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		status     int
		challenge  string
		retryAfter string
	}{
		{"missing", refuse(ReasonMissing, ""), 401, `Bearer realm="r"`, ""},
		{"wrapped bad signature", errors.Join(errors.New("ctx"), refuse(ReasonBadSignature, "")), 401, `Bearer realm="r", error="invalid_token"`, ""},
		{"not an *Error", errors.New("boom"), 401, `Bearer realm="r", error="invalid_token"`, ""},
		{"revoked", refuse(ReasonRevoked, ""), 401, `Bearer realm="r", error="invalid_token"`, ""},
		{"insufficient scope", refuse(ReasonInsufficientScope, ""), 403, `Bearer realm="r", error="insufficient_scope", scope="x y"`, ""},
		{"keys unavailable", refuse(ReasonKeysUnavailable, ""), 503, "", "1"},
		{"rate limited", &Error{Reason: ReasonRateLimited, RetryAfter: 1500e6}, 429, "", "2"},
		{"rate limited without a delay", refuse(ReasonRateLimited, ""), 429, "", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, "r", tt.err, []string{"x", "y"})
			checkRefusal(t, rec, tt.status, tt.challenge, tt.retryAfter)
			var p problemBody
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			// Every invalid token gets the same words: no hint of which check failed.
			if tt.status == 401 && tt.name != "missing" && p.Detail != "The credentials are not valid." {
				t.Errorf("detail = %q", p.Detail)
			}
		})
	}
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != ReasonMalformed {
		t.Error("ReasonOf of nil or a foreign error")
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		headers []string
		want    string
		ok      bool
	}{
		{[]string{"Bearer abc.def-_~+/=="}, "abc.def-_~+/==", true},
		{[]string{"bearer x"}, "x", true},
		{[]string{"BEARER   x"}, "x", true},
		{nil, "", false},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Bearerx"}, "", false},
		{[]string{"Basic x"}, "", false},
		{[]string{"Bearer a=b"}, "", false},
		{[]string{"Bearer =="}, "", false},
		{[]string{"Bearer x y"}, "", false},
		{[]string{"Bearer x", "Bearer x"}, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, h := range tt.headers {
			r.Header.Add("Authorization", h)
		}
		got, ok := BearerToken(r)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: got %q %v, want %q %v", tt.headers, got, ok, tt.want, tt.ok)
		}
	}
}
