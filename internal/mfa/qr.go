package mfa

import (
	"fmt"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// QRSVG renders content (an otpauth:// URI) as a QR code in an inline SVG
// document: one path of unit squares on a white background with the four
// modules of quiet zone the standard asks for, scaled by the viewer. It
// needs no script, no image request and no data: URL, so pages show it under
// their strict Content Security Policy. The module matrix comes from
// github.com/boombuler/barcode (pquerna/otp's own QR encoder), at error
// correction level M.
func QRSVG(content string) (string, error) {
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	b := code.Bounds()
	const quiet = 4
	n := b.Dx() + 2*quiet
	var path strings.Builder
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, _, _, _ := code.At(x, y).RGBA(); r == 0 { // a dark module
				fmt.Fprintf(&path, "M%d %dh1v1h-1z", x-b.Min.X+quiet, y-b.Min.Y+quiet)
			}
		}
	}
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges" role="img" aria-label="QR code">`+
		`<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`, n, n, n*5, n*5, n, n, path.String()), nil
}
