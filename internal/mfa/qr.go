package mfa

import (
	"fmt"
	"strconv"
	"strings"

	qr "github.com/piglig/go-qr"
)

// qrBorder is the quiet zone around the code, in modules (ISO/IEC 18004
// asks for four).
const qrBorder = 4

// qrModulePixels is the size of a module in CSS pixels when the SVG is
// shown at its own size.
const qrModulePixels = 5

// QRSVG returns text as a QR code (error correction level M) drawn as an
// inline SVG image: a white square with one black path, one rectangle
// per run of dark modules in a row. Nothing in the markup comes from text
// but the module pattern, so it is safe to put in a page as is, and it
// needs no script, no style attribute and no image request (the pages'
// CSP allows none of them).
func QRSVG(text string) (string, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return "", fmt.Errorf("mfa: QR code: %w", err)
	}
	n := code.Size()
	full := n + 2*qrBorder
	var d strings.Builder
	for y := range n {
		for x := 0; x < n; {
			if !code.Module(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < n && code.Module(x+run, y) {
				run++
			}
			fmt.Fprintf(&d, "M%d %dh%dv1h-%dz", x+qrBorder, y+qrBorder, run, run)
			x += run
		}
	}
	px := strconv.Itoa(full * qrModulePixels)
	fs := strconv.Itoa(full)
	return `<svg xmlns="http://www.w3.org/2000/svg" class="qr" viewBox="0 0 ` + fs + ` ` + fs + `" width="` + px + `" height="` + px +
		`" role="img" aria-label="QR code to scan with your authenticator app" shape-rendering="crispEdges">` +
		`<rect width="` + fs + `" height="` + fs + `" fill="#fff"/><path fill="#000" d="` + d.String() + `"/></svg>`, nil
}
