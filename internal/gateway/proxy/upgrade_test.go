package proxy

import (
	"net/http"
	"testing"
)

func TestDropH2CUpgrade(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
		settings       bool // HTTP2-Settings left
	}{
		{"h2c", "h2c", "", false},
		{"upper case", "H2C", "", false},
		{"with others", "websocket, h2c", "websocket", false},
		{"versioned", "h2c/1", "", false},
		{"websocket kept", "websocket", "websocket", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{"Upgrade": {c.in}, "Http2-Settings": {"AAMAAABkAAQAAP__"}}
			dropH2CUpgrade(h)
			if got := h.Get("Upgrade"); got != c.want {
				t.Errorf("Upgrade %q, want %q", got, c.want)
			}
			if _, ok := h["Http2-Settings"]; ok != c.settings {
				t.Errorf("HTTP2-Settings kept: %v, want %v", ok, c.settings)
			}
		})
	}
}
