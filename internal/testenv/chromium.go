package testenv

import (
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the allocator options that start Debian's chromium
// headless, or fails the test when it is missing and
// GATEHOUSE_REQUIRE_BROWSER=1 (as in CI), or skips it otherwise.
func Chromium(t testing.TB) []chromedp.ExecAllocatorOption {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("GATEHOUSE_REQUIRE_BROWSER") == "1" {
			t.Fatal("chromium is not installed (GATEHOUSE_REQUIRE_BROWSER=1)")
		}
		t.Skip("chromium is not installed; set GATEHOUSE_REQUIRE_BROWSER=1 to fail instead")
	}
	// /dev/shm is tiny in many CI containers; Chromium then crashes
	// unless it keeps shared memory in /tmp. This machine's network is
	// closed: background connections would only fail.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.Headless,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	return opts
}
