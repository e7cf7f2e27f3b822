// Package qrscan reads a QR code from a grayscale camera frame, for the web
// client's scanner on browsers without BarcodeDetector (iOS Safari,
// Firefox, desktop Linux Chromium). It is built into its own WebAssembly
// module (web/qrscanwasm), loaded only when someone scans, because the QR
// reader (gozxing, a port of ZXing) and the character-set tables it pulls
// in would add about 460 KB gzipped to the app's first load. See
// docs/web.md, "Scanning a contact".
package qrscan

import (
	"errors"
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// ErrNotFound means the frame holds no QR code that could be read: none in
// view, or one too blurred, small or cut off. The scanner tries the next
// frame.
var ErrNotFound = errors.New("no QR code found")

// Decode returns the text of the QR code in gray, a frame of width × height
// 8-bit luminance samples, row by row (0 black, 255 white). It is safe for
// concurrent use.
func Decode(gray []byte, width, height int) (string, error) {
	if width <= 0 || height <= 0 || len(gray) != width*height {
		return "", fmt.Errorf("qrscan: %d bytes for a %d × %d frame", len(gray), width, height)
	}
	img := &image.Gray{Pix: gray, Stride: width, Rect: image.Rect(0, 0, width, height)}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("qrscan: %w", err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		// NotFound, checksum and format errors all mean this frame did
		// not do; the caller only needs to know to try another.
		return "", fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return res.GetText(), nil
}
