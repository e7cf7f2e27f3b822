//go:build js && wasm

// Command qrscanwasm is the web client's QR scanner for browsers without
// BarcodeDetector: package qrscan built to its own WebAssembly module, run
// in a Web Worker (web/static/scan.js) that the page starts the first time
// someone taps Scan. It sets globalThis.cairnScan(gray, width, height),
// gray a Uint8Array of width × height luminance samples, returning
// {text} or {error}, and calls globalThis.cairnScanLoaded when ready.
// See docs/web.md, "Scanning a contact".
package main

import (
	"syscall/js"

	"github.com/cairnmesh/cairn/web/qrscan"
)

func main() {
	js.Global().Set("cairnScan", js.FuncOf(scan))
	if f := js.Global().Get("cairnScanLoaded"); f.Type() == js.TypeFunction {
		f.Invoke()
	}
	select {} // answer frames until the worker ends
}

// scan decodes one frame synchronously: the worker has nothing else to do
// meanwhile, and the page sends the next frame only after this answer.
func scan(_ js.Value, args []js.Value) any {
	if len(args) < 3 || args[0].Type() != js.TypeObject {
		return map[string]any{"error": "cairnScan(gray, width, height)"}
	}
	gray := make([]byte, args[0].Get("length").Int())
	js.CopyBytesToGo(gray, args[0])
	text, err := qrscan.Decode(gray, args[1].Int(), args[2].Int())
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return map[string]any{"text": text}
}
