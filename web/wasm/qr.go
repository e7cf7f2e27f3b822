//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"syscall/js"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSVG(text) returns an SVG of text as a QR code at error correction
// level L (a contact card is version 9), one path of unit squares with the
// quiet zone, black on white; "" if text does not fit a QR code.
func qrSVG(_ js.Value, args []js.Value) any {
	q, err := qrcode.New(str(args, 0), qrcode.Low)
	if err != nil {
		return ""
	}
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run - 1
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
