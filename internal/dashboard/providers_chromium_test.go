package dashboard

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/federation"
	"github.com/gatehouse-dev/gatehouse/internal/signing"
)

// TestChromiumProvidersPageIsAccessible runs axe-core on the identity
// providers page with a provider listed and a refused form shown, light
// and dark, 320 px wide and on a desktop, under the strict CSP.
func TestChromiumProvidersPageIsAccessible(t *testing.T) {
	var svc *federation.Service
	h := newHarness(t, func(c *Config) {
		sealer, err := signing.NewSealer(make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		if svc, err = federation.New(federation.Config{Store: c.Store.(federation.Store), Sealer: sealer, Issuer: c.Issuer}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		c.Providers = svc
	})
	issuer, client := "https://accounts.example", "gatehouse-client-with-a-long-identifier-0123456789"
	if _, err := svc.Create(t.Context(), auth.ActorSystem, federation.Input{Name: "acme", DisplayName: ptrTo("Acme ID"), Issuer: &issuer, ClientID: &client}); err != nil {
		t.Fatal(err)
	}
	h.user("alice", auth.RoleAdmin)
	c := newChrome(t, h)
	c.signIn("alice")
	resp := c.openResponse("/dashboard/providers")
	if resp == nil || resp.Status != 200 {
		t.Fatalf("providers page: %v", resp)
	}
	checkCSP(t, "/dashboard/providers", resp.Headers)
	eval[chromedp.Void](c, axeSource+"\n;undefined")
	for _, width := range []int64{320, 1280} {
		c.do("viewport", chromedp.EmulateViewport(width, 900))
		eval[chromedp.Void](c, settle)
		if width == 320 {
			if sw := eval[int64](c, `document.documentElement.scrollWidth`); sw > 320 {
				t.Errorf("at 320 px the page is %d px wide: %s", sw, eval[string](c, widest))
			}
		}
		for _, scheme := range []string{"light", "dark"} {
			c.do("color scheme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
				})
				return err
			}))
			for _, v := range eval[[]string](c, axeRun) {
				t.Errorf("%s, %d px: %s", scheme, width, v)
			}
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
