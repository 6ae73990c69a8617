package dashboard

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// benchKeys is the store's size the issue sets: with this many keys, the
// key list and a key's page render in under 100 ms of server time.
const benchKeys = 100_000

// BenchmarkKeyPages measures the server time of the key pages over a
// SQLite store of benchKeys keys (100 owners of 1,000 keys each, each key
// with its key.created event), through the dashboard's handler with a
// signed-in admin's session. The store is filled once, for every
// sub-benchmark; on a tmpfs that takes seconds rather than minutes (one
// fsync per key):
//
//	TMPDIR=/dev/shm go test -run '^$' -bench KeyPages -benchtime 20x ./internal/dashboard/
func BenchmarkKeyPages(b *testing.B) {
	h := newHarness(b)
	h.user("alice", auth.RoleAdmin)
	ctx := context.Background()
	start := time.Now()
	var some *auth.APIKey
	for i := range benchKeys {
		// A millisecond apart, as keys made by people are: the webhook
		// outbox's event IDs have 32 random bits per millisecond, which
		// 100,000 events of one millisecond would collide in.
		created := h.Clock.Now().Add(-time.Duration(benchKeys-i) * time.Millisecond)
		sum := sha256.Sum256(fmt.Appendf(nil, "bench key %d", i))
		k := &auth.APIKey{
			ID: fmt.Sprintf("key_bench%07d", i), Hash: sum[:], Prefix: "sk_live_", Hint: "abcd",
			Owner: fmt.Sprintf("owner-%02d", i%100), Name: fmt.Sprintf("key number %d", i),
			Scopes: []string{"read", "write"}, CreatedAt: created,
		}
		ev := auth.AuditEvent{Time: created, Type: auth.EventKeyCreated, Actor: auth.ActorSystem, KeyID: k.ID, Count: 1}
		if err := h.Store.CreateAPIKey(ctx, k, ev); err != nil {
			b.Fatalf("key %d: %v", i, err)
		}
		if i == benchKeys/2 {
			some = k
		}
	}
	// The key shown has a month of traffic, by the hour.
	var counts []auth.UsageCount
	for t := h.Clock.Now().Add(-30 * 24 * time.Hour); t.Before(h.Clock.Now()); t = t.Add(time.Hour) {
		counts = append(counts, auth.UsageCount{UsageSubject: auth.UsageSubject{KeyID: some.ID, Owner: some.Owner}, Outcome: "VALID", Start: t, Count: 10})
	}
	if err := h.Store.AddUsage(ctx, counts); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled the store with %d keys in %v", benchKeys, time.Since(start))

	cookie := h.sessionCookie(h.signIn("alice"))
	handler := h.Dashboard.Handler()
	for _, bc := range []struct{ name, path string }{
		{"list", "/dashboard/keys"},
		{"list owner", "/dashboard/keys?owner=owner-42"},
		{"list search", "/dashboard/keys?q=" + url.QueryEscape("number 99999")},
		{"list status", "/dashboard/keys?status=active&env=live"},
		{"detail", "/dashboard/keys/" + some.ID},
		{"detail 30d", "/dashboard/keys/" + some.ID + "?range=30d"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d\n%s", bc.path, rec.Code, rec.Body)
				}
			}
		})
	}
	// The search alone, in the store, to tell its share of "list search".
	b.Run("store search", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := h.Store.ListAPIKeys(ctx, auth.APIKeyFilter{Search: "number 99999", Limit: keyPageSize}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sessionCookie returns the dashboard session cookie of a signed-in browser,
// for requests sent to the handler directly.
func (h *harness) sessionCookie(br *browser) *http.Cookie {
	u, err := url.Parse(h.URL + "/dashboard/")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range br.c.Jar.Cookies(u) {
		if c.Name == h.Dashboard.sessionCookieName() {
			return c
		}
	}
	h.t.Fatal("no session cookie")
	return nil
}
