// The QR scanner's Web Worker (docs/web.md, "Scanning a contact"). The page
// starts it the first time someone scans on a browser without
// BarcodeDetector; it runs the scanner module (web/qrscanwasm: package
// qrscan with a Go runtime of its own, apart from the app's) and answers
// each frame {gray, width, height} — gray a Uint8Array of luminance, row by
// row — with {text} or {error}; {error, fatal: true} when the module could
// not be loaded.
"use strict";
importScripts("/@wasm_exec.js@");

const loaded = new Promise((resolve, reject) => {
  self.cairnScanLoaded = resolve;
  const go = new Go();
  WebAssembly.instantiateStreaming(fetch("/@qrscan.wasm@"), go.importObject)
    .then((r) => go.run(r.instance))
    .catch(reject);
});

self.onmessage = async (ev) => {
  try {
    await loaded;
  } catch (e) {
    self.postMessage({ error: "the scanner did not load: " + e.message, fatal: true });
    return;
  }
  const { gray, width, height } = ev.data;
  self.postMessage(self.cairnScan(gray, width, height));
};
