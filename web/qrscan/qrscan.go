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
	multiqr "github.com/makiuchi-d/gozxing/multi/qrcode"
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
	if err == nil {
		return res.GetText(), nil
	}
	// The reader's finder-pattern search stops scanning as soon as it
	// has three candidates seen twice each, so a finder-like 1:1:3:1:1
	// shape in the data, met above the real bottom-left pattern, ends
	// the search with the wrong three and the symbol is not read (about
	// 3 % of contact cards; docs/web.md). The multi-code reader scans
	// the whole frame and tries every three candidates laid out as a
	// QR code's, so it finds the real ones too. The binarized frame is
	// cached in bmp: only the search and decoding are done again.
	if text, ok := decodeAnyTriple(bmp, hints); ok {
		return text, nil
	}
	// NotFound, checksum and format errors all mean this frame did
	// not do; the caller only needs to know to try another.
	return "", fmt.Errorf("%w (%v)", ErrNotFound, err)
}

// decodeAnyTriple reads bmp with gozxing's multi-code QR reader and gives
// the first code it read.
func decodeAnyTriple(bmp *gozxing.BinaryBitmap, hints map[gozxing.DecodeHintType]any) (string, bool) {
	// It returns what it read even with an error from a later candidate.
	res, _ := multiqr.NewQRCodeMultiReader().DecodeMultiple(bmp, hints)
	for _, r := range res {
		if r != nil {
			return r.GetText(), true
		}
	}
	return "", false
}
