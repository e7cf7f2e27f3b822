// Service worker: the app shell works offline after the first load. The
// build writes VERSION (a hash of the entry points and the asset list) and
// PRECACHE (the content-hashed assets): a new build is a new sw.js, which
// installs a new cache and deletes the old one. ONDEMAND (the QR scanner's
// worker and module, fetched only when someone scans without
// BarcodeDetector) is not fetched at install: it is kept when first
// fetched, and carried over from an older cache by a new version, so
// scanning works offline once it has been used. Everything else — /mqtt,
// /status.json, /status, /metrics — goes to the network.
const VERSION = "@VERSION@";
const PRECACHE = @PRECACHE@;
const ONDEMAND = @ONDEMAND@;
const CACHE = "cairn-" + VERSION;

// keepOnDemand copies into c what older caches hold of ONDEMAND: a hashed
// name is the same file in every version.
async function keepOnDemand(c) {
  for (const k of await caches.keys()) {
    if (!k.startsWith("cairn-") || k === CACHE) continue;
    const old = await caches.open(k);
    for (const u of ONDEMAND) {
      const hit = await old.match(u);
      if (hit) await c.put(u, hit);
    }
  }
}

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE).then(() => keepOnDemand(c))).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("cairn-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (ev) => {
  const req = ev.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) return;
  const key = req.mode === "navigate" ? "/" : url.pathname;
  if (ONDEMAND.includes(key)) {
    ev.respondWith(caches.open(CACHE).then((c) => c.match(key).then((hit) => hit || fetch(req).then((res) => {
      if (res.ok) return c.put(key, res.clone()).then(() => res);
      return res;
    }))));
    return;
  }
  if (!PRECACHE.includes(key)) return;
  ev.respondWith(caches.open(CACHE).then((c) => c.match(key).then((hit) => hit || fetch(req))));
});
