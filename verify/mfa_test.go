package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// mfaChallenge is RFC 9470's answer to a sign-in without a second factor.
const mfaChallenge = `Bearer realm="api", error="insufficient_user_authentication", error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa"`

func TestHasMFA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims *Claims
		want   bool
	}{
		{"amr holds mfa", &Claims{AMR: []string{"mfa", "otp", "pwd"}}, true},
		{"acr is Gatehouse's mfa class", &Claims{ACR: ACRMFA}, true},
		{"both", &Claims{AMR: []string{"hwk", "mfa", "user"}, ACR: ACRMFA}, true},
		// The issuer says whether its factors were independent: two
		// methods without "mfa" are not read as two factors here.
		{"two methods without mfa", &Claims{AMR: []string{"otp", "pwd"}}, false},
		{"a password alone", &Claims{AMR: []string{"pwd"}, ACR: "urn:gatehouse:acr:password"}, false},
		{"mfa in another case", &Claims{AMR: []string{"MFA"}}, false},
		{"an acr that merely contains the class", &Claims{ACR: ACRMFA + "x"}, false},
		{"a client's own token", &Claims{Subject: "cli_1", ClientID: "cli_1"}, false},
		{"nil claims", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.claims.HasMFA(); got != tc.want {
				t.Fatalf("HasMFA = %v, want %v", got, tc.want)
			}
			err := tc.claims.CheckMFA()
			if tc.want != (err == nil) || !tc.want && ReasonOf(err) != ReasonInsufficientUserAuthentication {
				t.Fatalf("CheckMFA = %v", err)
			}
		})
	}
}

// TestAMRAndACRAreReadFromTheToken: the claims come from a real signed
// token; an amr that is not an array of strings makes it malformed (RFC
// 8176 1: "JSON array of strings").
func TestAMRAndACRAreReadFromTheToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, nil)
	c := claimsAt(is, clk)
	c["amr"] = []string{"mfa", "otp", "pwd"}
	c["acr"] = ACRMFA
	got, err := v.Verify(context.Background(), mint(t, k, c))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.AMR) != 3 || got.AMR[0] != "mfa" || got.ACR != ACRMFA || !got.HasMFA() {
		t.Fatalf("claims %+v", got)
	}
	for name, amr := range map[string]any{"a string": "mfa", "an array of numbers": []int{1}, "an object": map[string]string{"a": "mfa"}} {
		c := claimsAt(is, clk)
		c["amr"] = amr
		c["jti"] = name
		if _, err := v.Verify(context.Background(), mint(t, k, c)); ReasonOf(err) != ReasonMalformed {
			t.Errorf("amr as %s: %v", name, err)
		}
	}
}

func TestMiddlewareRequireMFA(t *testing.T) {
	t.Parallel()
	clk := newClock()
	k := newECKey(t, "k1")
	is := newIssuer(t, k)
	v := newVerifier(t, is, clk, func(c *Config) { c.RequireMFA = true })
	ran := false
	h := v.Middleware("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = true
		w.WriteHeader(http.StatusNoContent)
	}))
	token := func(edit func(map[string]any)) string {
		c := claimsAt(is, clk)
		edit(c)
		return mint(t, k, c)
	}
	tests := []struct {
		name      string
		token     string
		status    int
		challenge string
	}{
		{"amr with mfa", token(func(c map[string]any) { c["amr"] = []string{"mfa", "otp", "pwd"} }), http.StatusNoContent, ""},
		{"acr mfa", token(func(c map[string]any) { c["acr"] = ACRMFA }), http.StatusNoContent, ""},
		{"a password alone", token(func(c map[string]any) { c["amr"] = []string{"pwd"}; c["acr"] = "urn:gatehouse:acr:password" }),
			http.StatusUnauthorized, mfaChallenge},
		{"no amr nor acr", token(func(map[string]any) {}), http.StatusUnauthorized, mfaChallenge},
		// Step-up first: a new sign-in can bring the scope as well.
		{"neither mfa nor the scope", token(func(c map[string]any) { c["scope"] = "other" }), http.StatusUnauthorized, mfaChallenge},
		{"mfa without the scope", token(func(c map[string]any) { c["amr"] = []string{"mfa"}; c["scope"] = "other" }),
			http.StatusForbidden, `Bearer realm="api", error="insufficient_scope", scope="orders:read"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran = false
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if tc.status == http.StatusNoContent {
				if rec.Code != tc.status || !ran {
					t.Fatalf("status %d, ran %v", rec.Code, ran)
				}
				return
			}
			if ran {
				t.Fatal("the handler ran")
			}
			checkRefusal(t, rec, tc.status, tc.challenge, "")
		})
	}

	t.Run("off by default", func(t *testing.T) {
		plain := newVerifier(t, is, clk, nil)
		ran = false
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+token(func(map[string]any) {}))
		rec := httptest.NewRecorder()
		plain.Middleware("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true })).ServeHTTP(rec, r)
		if !ran {
			t.Fatalf("refused without RequireMFA: %d", rec.Code)
		}
	})
}

func TestRequireMFA(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := RequireMFA()(ok)
	keyCtx := context.WithValue(context.Background(), keyInfoKey, &KeyInfo{Scopes: []string{"b"}})
	keyCtx = context.WithValue(keyCtx, realmKey, challengeInfo{"APIKey", "api", ""})
	dpopCtx := context.WithValue(NewContext(context.Background(), &Claims{AMR: []string{"pwd"}}), realmKey, challengeInfo{"DPoP", "api", "ES256"})
	tests := []struct {
		name      string
		ctx       context.Context
		status    int
		challenge string
	}{
		{"a token with mfa", NewContext(context.Background(), &Claims{AMR: []string{"mfa"}}), http.StatusNoContent, ""},
		{"a token with the mfa class", NewContext(context.Background(), &Claims{ACR: ACRMFA}), http.StatusNoContent, ""},
		{"a token of a password alone", NewContext(context.Background(), &Claims{AMR: []string{"pwd"}}), http.StatusUnauthorized, mfaChallenge},
		{"a DPoP-bound token of a password alone", dpopCtx, http.StatusUnauthorized,
			`DPoP realm="api", error="insufficient_user_authentication", error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa", algs="ES256"`},
		// A key proves no one's sign-in: the caller needs a user's token.
		{"an API key", keyCtx, http.StatusUnauthorized, mfaChallenge},
		{"no credentials at all", context.Background(), http.StatusUnauthorized, `Bearer realm="api"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(tc.ctx))
			if tc.status == http.StatusNoContent {
				if rec.Code != tc.status {
					t.Fatalf("status = %d", rec.Code)
				}
				return
			}
			checkRefusal(t, rec, tc.status, tc.challenge, "")
		})
	}
}

func TestWriteErrorInsufficientUserAuthentication(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	WriteError(rec, "api", (&Claims{}).CheckMFA(), []string{"x"})
	checkRefusal(t, rec, http.StatusUnauthorized, mfaChallenge, "")
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "urn:gatehouse:problem:insufficient_user_authentication" || p.Detail != "A sign-in with a second factor is required." {
		t.Fatalf("problem %+v", p)
	}

	rec = httptest.NewRecorder()
	WriteDPoPError(rec, "api", []string{"ES256", "EdDSA"}, (&Claims{}).CheckMFA(), nil)
	checkRefusal(t, rec, http.StatusUnauthorized,
		`DPoP realm="api", error="insufficient_user_authentication", error_description="A sign-in with a second factor is required.", acr_values="urn:gatehouse:acr:mfa", algs="ES256 EdDSA"`, "")
}
