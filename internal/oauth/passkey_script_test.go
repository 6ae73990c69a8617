package oauth

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The passkey script of the sign-in and account pages is served by the
// authorization server, from the binary.
func TestPasskeyScriptIsServed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, insecureCookies)
	resp := newBrowser(t, ts).get(ts.URL + web.PasskeyScriptPath)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("passkey script: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
