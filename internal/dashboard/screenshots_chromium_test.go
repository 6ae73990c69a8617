package dashboard

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/client"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// screenshotsDir, when set (make screenshots), is where TestScreenshots
// writes the documentation's pictures; without it they go to a temporary
// folder, so every test run proves they can be made and writes nothing
// in the tree.
var screenshotsDir = flag.String("screenshots", "", "write the dashboard's screenshots (docs/images) into this directory")

// TestScreenshots renders each main page with sample data, 1280 px wide,
// in the light scheme (and the overview once in the dark one), into
// dashboard-*.png.
func TestScreenshots(t *testing.T) {
	dir := *screenshotsDir
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	needPages(t, h, "GET /dashboard/keys", "GET /dashboard/keys/new", "GET /dashboard/keys/{id}", "GET /dashboard/clients",
		"GET /dashboard/users", "GET /dashboard/audit")
	h.user("alice", auth.RoleAdmin)
	h.user("bob", auth.RoleDeveloper, "billing")
	h.user("carol", auth.RoleDeveloper, "shipping", "analytics")
	key := sampleData(t, h)

	c := newChrome(t, h)
	c.do("viewport", chromedp.EmulateViewport(1280, 1000))
	scheme := func(s string) {
		c.do("color scheme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: s}},
			})
			return err
		}))
	}
	shot := func(name string) {
		t.Helper()
		eval[chromedp.Void](c, settle)
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, "dashboard-"+name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}
	scheme("light")
	c.signIn("alice")
	shot("overview")
	c.open("/dashboard/keys")
	shot("keys")
	c.open("/dashboard/keys/" + key.ID)
	shot("key")
	c.open("/dashboard/clients")
	shot("clients")
	c.open("/dashboard/users")
	shot("users")
	c.open("/dashboard/audit")
	shot("audit")
	c.open("/dashboard/keys/new")
	c.fill("Owner", "billing")
	c.fill("Name", "invoices-v2")
	c.fill("Scopes", "invoices:read invoices:write")
	c.press("Create key")
	shot("key-created")
	scheme("dark")
	c.open("/dashboard/")
	shot("overview-dark")
}

// sampleData fills the harness with a day of plausible traffic: keys of
// three owners, two clients, two routes, a rotation due and a revocation.
// It returns the busiest key.
func sampleData(t *testing.T, h *harness) *auth.APIKey {
	t.Helper()
	ctx := context.Background()
	invoices, _ := overviewKey(t, h, apikey.CreateParams{Owner: "billing", Name: "invoices", Scopes: []string{"invoices:read", "invoices:write"},
		Metadata: map[string]string{"team": "payments"}, RateLimit: auth.RateLimit{Rate: 50, Burst: 100}, RotationPeriod: 90 * 24 * time.Hour})
	labels, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "labels", Scopes: []string{"labels:write"}, RotationPeriod: time.Hour})
	reports, _ := overviewKey(t, h, apikey.CreateParams{Owner: "analytics", Name: "nightly reports", Scopes: []string{"orders:read"}})
	old, _ := overviewKey(t, h, apikey.CreateParams{Owner: "shipping", Name: "legacy importer", Scopes: []string{"orders:read"}})
	if _, err := h.Keys.Revoke(ctx, old.ID, auth.ActorSystem); err != nil {
		t.Fatal(err)
	}
	for _, r := range []auth.Route{
		{Name: "orders", PathPrefix: "/orders", Upstreams: []string{"http://127.0.0.1:9001"}, Policy: auth.PolicyAny, Audience: "https://api.example"},
		{Name: "invoices", PathPrefix: "/invoices", Upstreams: []string{"http://127.0.0.1:9002"}, Policy: auth.PolicyAPIKey},
	} {
		if _, err := h.Routes.Create(ctx, r, auth.ActorSystem); err != nil {
			t.Fatal(err)
		}
	}
	var clients []*auth.Client
	for _, in := range []client.Input{
		{Name: "Storefront", Owner: "billing", RedirectURIs: []string{"https://shop.example/callback"}, Scopes: []string{"openid", "profile", "orders:read"}},
		{Name: "Warehouse sync", Owner: "shipping", GrantTypes: []string{auth.GrantClientCredentials}, Scopes: []string{"orders:read"}},
	} {
		cl, _, err := h.Clients.Create(ctx, auth.ActorSystem, in)
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		clients = append(clients, cl)
	}
	h.Clock.Add(2 * time.Hour) // the labels key falls due for rotation
	now := h.Clock.Now()
	// A day of traffic, busiest in the afternoon (UTC), quiet at night.
	for hour := 23; hour >= 0; hour-- {
		at := now.Add(-time.Duration(hour) * time.Hour)
		fromPeak := (at.Hour() + 24 - 15) % 24
		load := int64(30 + 12*(12-min(fromPeak, 24-fromPeak)))
		add := func(e usage.Event, n int64) { h.Usage.Add(e, at, n) }
		add(usage.Event{KeyID: invoices.ID, Owner: "billing", Route: "invoices", Outcome: "VALID"}, 3*load)
		add(usage.Event{KeyID: invoices.ID, Owner: "billing", Route: "invoices", Outcome: "RATE_LIMITED"}, load/10)
		add(usage.Event{KeyID: labels.ID, Owner: "shipping", Route: "orders", Outcome: "VALID"}, load)
		add(usage.Event{KeyID: reports.ID, Owner: "analytics", Outcome: "VALID"}, load/4)
		add(usage.Event{KeyID: reports.ID, Owner: "analytics", Outcome: "INSUFFICIENT_SCOPE"}, int64(hour%3))
		add(usage.Event{KeyID: old.ID, Owner: "shipping", Outcome: "REVOKED"}, int64(hour%2))
		add(usage.Event{ClientID: clients[0].ID, Outcome: "VALID"}, load/2)
		add(usage.Event{ClientID: clients[0].ID, Route: "orders", UserID: "usr_sample", Outcome: "VALID"}, load)
		add(usage.Event{ClientID: clients[1].ID, Outcome: "VALID"}, load/5)
		add(usage.Event{ClientID: clients[1].ID, Outcome: "invalid_client"}, int64(hour%4/3))
	}
	flushUsage(t, h)
	return invoices
}
