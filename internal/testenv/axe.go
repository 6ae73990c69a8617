package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Axe returns axe-core's source, vendored for the browser tests in
// internal/dashboard/testdata/axe (version, licence and sums there): one
// copy for every package's Chromium tests, never embedded in the binary.
// Evaluate it in the page, then AxeRun.
func Axe(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate the axe-core copy")
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "dashboard", "testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("testenv: read axe-core: %v", err)
	}
	return string(b)
}

// AxeRun runs axe-core on the document and lists its serious and critical
// violations, one line each with the elements concerned (a promise of an
// array of strings, for chromedp.Evaluate with await).
const AxeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => v.impact + " " + v.id + " (" + v.help + "): " +
		v.nodes.slice(0, 5).map(n => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\s+/g, " ")).join(" | ")))`
