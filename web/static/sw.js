// Service worker: the app shell works offline after the first load. The
// build writes VERSION (a hash of the entry points and the asset list) and
// PRECACHE (the content-hashed assets): a new build is a new sw.js, which
// installs a new cache and deletes the old one. Everything else — /mqtt,
// /status.json, /status, /metrics — goes to the network.
const VERSION = "@VERSION@";
const PRECACHE = @PRECACHE@;
const CACHE = "cairn-" + VERSION;

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
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
  if (!PRECACHE.includes(key)) return;
  ev.respondWith(caches.open(CACHE).then((c) => c.match(key).then((hit) => hit || fetch(req))));
});
