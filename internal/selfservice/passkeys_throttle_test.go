package selfservice

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/account"
	"github.com/gatehouse-dev/gatehouse/internal/passkey"
	"github.com/gatehouse-dev/gatehouse/internal/passkey/passkeytest"
)

// Registrations that do not verify are throttled per account and address
// like one-time codes: then 429 with Retry-After, even for a good one,
// until the window passes.
func TestPasskeyRegistrationFailuresThrottled(t *testing.T) {
	var lim *account.FactorLimiter
	h, _ := passkeyHarness(t, func(c *passkey.Config) {
		var err error
		lim, err = account.NewFactorLimiter(account.FactorConfig{Failures: 2, Window: 5 * time.Minute, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		c.Limiter = lim
	})
	u := h.user("ada", "correct horse battery")
	c, _ := h.signIn(u)
	_, page := h.get(c, pathPasskeys)
	tok := registerToken(t, page)
	a := &passkeytest.Authenticator{Origin: h.srv.origin, UserVerified: true, Counting: true}
	attempt := func(good bool) *http.Response {
		resp, begun := h.postJSON(c, pathPasskeyBegin, tok, map[string]string{"name": "Key"}, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("begin: %d %v", resp.StatusCode, begun)
		}
		cred := json.RawMessage(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`)
		if good {
			opts, _ := json.Marshal(begun["options"])
			cred = a.Create(t, opts)
		}
		resp, _ = h.postJSON(c, pathPasskeyFinish, tok, map[string]any{"name": "Key", "state": begun["state"], "credential": cred}, nil)
		return resp
	}
	for i := range 2 {
		if resp := attempt(false); resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusConflict {
			t.Fatalf("bad registration %d: %d", i, resp.StatusCode)
		}
	}
	if resp := attempt(true); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("throttled: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	h.clock.Add(6 * time.Minute)
	if resp := attempt(true); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
}
