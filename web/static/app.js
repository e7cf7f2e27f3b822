// The Cairn web client's page: screens, the message history and outbox in
// IndexedDB, and the glue to the protocol code (package client built to
// WebAssembly, globalThis.cairn; web/wasm). See docs/web.md.
"use strict";

const $ = (id) => document.getElementById(id);
const started = performance.now();

// ---- IndexedDB: "keystore" holds the keystore file's bytes (sealed under
// the passphrase when there is one); "messages" the history and outbox
// (sealed likewise, below).
let db;
function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("cairn", 1);
    req.onupgradeneeded = () => {
      const d = req.result;
      d.createObjectStore("keystore");
      const m = d.createObjectStore("messages", { keyPath: "key", autoIncrement: true });
      m.createIndex("peer", "peer");
      m.createIndex("id", "id");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
function tx(store, mode, fn, durability) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode, durability ? { durability } : undefined);
    let out;
    Promise.resolve(fn(t.objectStore(store))).then((v) => { out = v; });
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
  });
}
const reqP = (r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });

// What the WebAssembly keystore reads and writes (web/wasm/storage.go).
globalThis.cairnStore = {
  load: () => tx("keystore", "readonly", (s) => reqP(s.get("main"))),
  save: (bytes) => tx("keystore", "readwrite", (s) => { s.put(bytes, "main"); }, "strict"),
};

// Under a passphrase each message is stored sealed (cairn.sealRecord:
// XChaCha20-Poly1305 under a key derived from the keystore's, docs/web.md):
// the record is {key, box}, box the sealed JSON of the message. Without one
// it is stored as it is.
let sealHistory = false;
const b64 = (u8) => { let s = ""; for (const b of u8) s += String.fromCharCode(b); return btoa(s); };
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
async function toRecord(m) {
  if (!sealHistory) return m;
  const { key, env, ...rest } = m;
  const box = await cairn.sealRecord(JSON.stringify({ ...rest, env: env ? b64(env) : null }));
  if (!box) return m;
  return key === undefined ? { box } : { key, box };
}
const putMsg = async (m) => {
  const rec = await toRecord(m); // before the transaction: it commits when idle
  return tx("messages", "readwrite", (s) => reqP(s.put(rec)));
};
// allMsgs opens sealed records; plain ones found under a passphrase (kept
// by a build that did not seal) are sealed now.
async function allMsgs() {
  const recs = await tx("messages", "readonly", (s) => reqP(s.getAll()));
  const sealed = recs.filter((r) => r.box);
  const texts = sealed.length ? await cairn.openRecords(sealed.map((r) => r.box)) : [];
  const out = [];
  sealed.forEach((r, i) => {
    if (texts[i] === null) { console.log("cairn: a stored message does not open; skipped"); return; }
    const m = JSON.parse(texts[i]);
    m.key = r.key;
    m.env = m.env ? unb64(m.env) : null;
    out.push(m);
  });
  for (const m of recs.filter((r) => !r.box)) {
    out.push(m);
    if (sealHistory) await putMsg(m);
  }
  return out;
}

// ---- screens
const screens = ["loading", "onboard", "unlock", "chats", "conv", "add", "me"];
let current = "loading";
function show(name) {
  current = name;
  for (const s of screens) $(s).hidden = s !== name;
  $("bar").hidden = ["loading", "onboard", "unlock"].includes(name);
  document.body.dataset.screen = name;
}

let contacts = [];
let peer = null; // the conversation open
let messages = []; // all, oldest first

function label(did) {
  const c = contacts.find((c) => c.did === did);
  return c ? c.label : did.slice(0, 14) + "…" + did.slice(-6);
}

function stateText(m) {
  if (m.dir === "in") return "";
  return { queued: "⏱ queued on phone", sent: "✓ at relay", delivered: "✓✓ delivered" }[m.state] || m.state;
}

function timeText(at) {
  const d = new Date(at);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

async function renderChats() {
  contacts = await cairn.contacts();
  const list = $("chatlist");
  list.replaceChildren();
  $("nochats").hidden = contacts.length > 0;
  for (const c of contacts) {
    const mine = messages.filter((m) => m.peer === c.did);
    const last = mine[mine.length - 1];
    const unread = mine.filter((m) => m.dir === "in" && !m.read).length;
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.dataset.did = c.did;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = c.label;
    if (c.unknown) {
      const u = document.createElement("span");
      u.className = "unknown";
      u.textContent = "not added";
      name.append(u);
    }
    if (unread) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = unread;
      badge.setAttribute("aria-label", unread + " unread");
      name.append(badge);
    }
    const lastEl = document.createElement("span");
    lastEl.className = "last";
    lastEl.textContent = last ? (last.dir === "out" ? "You: " : "") + last.text : "No messages yet";
    b.append(name, lastEl);
    b.onclick = () => openConv(c.did);
    li.append(b);
    list.append(li);
  }
}

function renderConv() {
  if (!peer) return;
  $("convname").textContent = label(peer);
  const ol = $("msgs");
  ol.replaceChildren();
  for (const m of messages.filter((m) => m.peer === peer)) {
    const li = document.createElement("li");
    li.className = m.dir + (m.urgent ? " urgent" : "");
    li.dataset.state = m.state || "";
    li.dataset.text = m.text;
    if (m.urgent) {
      const f = document.createElement("span");
      f.className = "flag";
      f.textContent = "URGENT";
      li.append(f);
    }
    li.append(document.createTextNode(m.text));
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = timeText(m.at) + (m.dir === "out" ? " · " + stateText(m) : "");
    li.append(meta);
    ol.append(li);
  }
  ol.scrollTop = ol.scrollHeight;
}

async function render() {
  if (current === "chats") await renderChats();
  if (current === "conv") {
    if (!contacts.some((c) => c.did === peer)) contacts = await cairn.contacts();
    renderConv();
  }
}

async function openConv(did) {
  peer = did;
  show("conv");
  let changed = false;
  for (const m of messages) {
    if (m.peer === did && m.dir === "in" && !m.read) { m.read = true; changed = true; await putMsg(m); }
  }
  renderConv();
  if (changed) renderChats();
  $("text").focus();
}

// ---- the link to the relay
let online = false; // the relay link is up and the browser has a network
let linkUp = false; // the MQTT connection, as the WebAssembly side reports it
let flushing = null;

// The browser knows at once when the phone loses its network; the
// connection's keepalive would take up to a minute to notice.
addEventListener("online", () => setStatus({ online: linkUp }));
addEventListener("offline", () => setStatus({ online: linkUp }));

function setStatus(s) {
  linkUp = s.online;
  online = linkUp && navigator.onLine;
  document.body.classList.toggle("online", online);
  document.body.classList.toggle("offline", !online);
  statusText();
  if (online) { flush(); relayInfo(); }
}

function statusText() {
  const queued = messages.filter((m) => m.dir === "out" && m.state === "queued").length;
  $("linktext").textContent = online ? "Online" : "Offline" + (queued ? ` — ${queued} queued, sent when the relay is back` : " — messages are queued");
}

async function relayInfo() {
  try {
    const r = await fetch("/status.json", { cache: "no-store" });
    if (!r.ok) throw new Error(r.status);
    const s = await r.json();
    const radios = s.radios || [];
    const ups = s.uplinks || [];
    const ready = radios.filter((x) => x.state === "ready");
    const radio = radios.length === 0 ? "no radio" :
      `radio ${ready.length ? "ready" : "down"} (${ready.reduce((n, x) => n + (x.neighbours || 0), 0)} neighbours)`;
    const net = ups.length === 0 ? "no internet link" : ups.some((u) => u.connected) ? "internet up" : "internet down";
    $("relay").textContent = `Relay ${s.name || ""} ${s.did ? s.did.slice(0, 14) + "…" + s.did.slice(-6) : ""} · ${radio} · ${net}`;
    $("relay").dataset.radio = radios.length ? (ready.length ? "ready" : "down") : "none";
    $("relay").dataset.internet = ups.length ? (ups.some((u) => u.connected) ? "up" : "down") : "none";
  } catch (e) {
    $("relay").textContent = "Relay status unavailable";
  }
}

// flush publishes queued messages, oldest first. A sealed envelope is
// published as is, again after a lost PUBACK (the relay takes the
// duplicate as done); one to a contact whose bundle is not known yet is
// sealed and sent in one go.
function flush() {
  if (flushing) { flushing.again = true; return; }
  flushing = { again: false };
  (async () => {
    do {
      flushing.again = false;
      for (const m of messages.filter((m) => m.dir === "out" && m.state === "queued")) {
        if (!online) break;
        try {
          m.id = m.env ? await cairn.publish(m.env) : await cairn.send(m.peer, m.text, m.urgent);
          m.state = "sent";
          if (m.delivered) m.state = "delivered";
          await putMsg(m);
          render();
        } catch (e) {
          console.log("cairn: still queued:", e.message);
          break;
        }
      }
    } while (flushing.again && online);
    flushing = null;
    statusText();
  })();
}

async function sendMessage(text, urgent) {
  const m = { peer, dir: "out", text, urgent, at: Date.now(), state: "queued", id: null, env: null };
  try {
    const s = await cairn.seal(peer, text, urgent);
    m.id = s.id;
    m.env = s.env;
  } catch (e) {
    if (!e.message.startsWith("nobundle:")) throw e;
    // Added by did:key alone: sealed once the relay has fetched its bundle.
  }
  m.key = await putMsg(m);
  messages.push(m);
  renderConv();
  statusText();
  flush();
}

// ---- events from the WebAssembly side
globalThis.cairnEvents = {
  status: (s) => setStatus(s),
  message: async (ev) => {
    if (messages.some((m) => m.dir === "in" && m.id === ev.id)) return;
    const m = { peer: ev.from, dir: "in", text: ev.text, urgent: ev.urgent, at: Date.now(), id: ev.id, read: current === "conv" && peer === ev.from };
    m.key = await putMsg(m);
    messages.push(m);
    render();
    if (ev.urgent && navigator.vibrate) navigator.vibrate([200, 100, 200]);
  },
  delivered: async (did, ids) => {
    for (const m of messages) {
      if (m.dir === "out" && m.peer === did && ids.includes(m.id)) {
        m.delivered = true;
        if (m.state !== "queued") m.state = "delivered";
        await putMsg(m);
      }
    }
    render();
  },
};

// ---- start
function loadWasm() {
  return new Promise((resolve, reject) => {
    globalThis.cairnLoaded = resolve;
    const go = new Go();
    const url = document.querySelector('meta[name="cairn-wasm"]').content;
    WebAssembly.instantiateStreaming(fetch(url), go.importObject)
      .then((r) => go.run(r.instance))
      .catch(reject);
  });
}

function ready() {
  document.body.dataset.ready = "1";
  globalThis.cairnReadyMs = performance.now() - started;
}

async function enter() {
  sealHistory = (await cairn.identity()).encrypted;
  messages = await allMsgs();
  messages.sort((a, b) => a.at - b.at || a.key - b.key);
  show("chats");
  await renderChats();
  setStatus({ online: false });
  const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt";
  cairn.connect(ws);
  ready();
}

async function main() {
  db = await openDB();
  await loadWasm();
  // After the module has loaded, so that the worker's precache finds it
  // in the HTTP cache instead of fetching it a second time.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").catch((e) => console.log("cairn: no service worker:", e.message));
  }
  const st = await cairn.state();
  if (st === "open") return enter();
  show(st === "locked" ? "unlock" : "onboard");
  ready();
}

$("create").onclick = async () => {
  $("create").disabled = true;
  try {
    await cairn.create($("newpass").value);
    $("newpass").value = "";
    await enter();
  } finally { $("create").disabled = false; }
};
$("unlockbtn").onclick = async () => {
  $("unlockerr").textContent = "";
  try {
    await cairn.unlock($("pass").value);
    $("pass").value = "";
    await enter();
  } catch (e) { $("unlockerr").textContent = e.message; }
};
$("pass").onkeydown = (e) => { if (e.key === "Enter") $("unlockbtn").click(); };
$("back").onclick = () => { peer = null; show("chats"); renderChats(); };
$("composer").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  $("text").value = "";
  const urgent = $("urgent").checked;
  $("urgent").checked = false;
  await sendMessage(text, urgent);
};
$("text").onkeydown = (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); } };
$("showme").onclick = async () => {
  const me = await cairn.identity();
  $("qr").innerHTML = cairn.qr(me.card);
  $("card").value = me.card;
  $("mydid").textContent = me.did;
  show("me");
};
$("meback").onclick = () => { show("chats"); renderChats(); };
$("copycard").onclick = async () => {
  try { await navigator.clipboard.writeText($("card").value); $("copycard").textContent = "Copied"; } catch {
    $("card").select();
  }
  setTimeout(() => { $("copycard").textContent = "Copy card"; }, 1500);
};

// Adding a contact: the camera (it needs a secure context) read by the
// browser's BarcodeDetector where it has one that reads QR codes (Chrome on
// Android), else by the scanner module in a Web Worker (scan.js,
// web/qrscanwasm: iOS Safari, Firefox, desktop Chromium), fetched the first
// time it is needed and cached by the service worker; or a pasted card.
let stream = null;
let scanWorker = null; // the scanner's worker while the camera is on
let scanPending = null; // the reject of the frame the worker is reading
// scanGen moves on at every stopCamera, so a camera granted after its scan
// was cancelled (the permission prompt still open at Cancel) is stopped at
// once instead of staying on. startingGen is the scanGen of a start still
// awaiting the camera: a second tap during it does nothing, but a tap after
// Cancel starts afresh, even while the cancelled start still waits.
let scanGen = 0;
let startingGen = -1;
function stopCamera() {
  scanGen++;
  if (stream) { for (const t of stream.getTracks()) t.stop(); stream = null; }
  if (scanWorker) { scanWorker.terminate(); scanWorker = null; }
  if (scanPending) { scanPending(new Error("stopped")); scanPending = null; }
  $("scanmsg").textContent = "";
}
$("addbtn").onclick = () => {
  $("ref").value = ""; $("cname").value = ""; $("adderr").textContent = "";
  const canScan = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  $("scanbox").hidden = !canScan;
  $("noscan").hidden = canScan;
  show("add");
};
const isRef = (s) => s.startsWith("cairn1:") || s.startsWith("did:key:");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// detectorReader returns a function that reads QR codes in the video with
// BarcodeDetector, or null when the browser has none for QR codes.
async function detectorReader() {
  if (!("BarcodeDetector" in globalThis)) return null;
  try {
    if (!(await BarcodeDetector.getSupportedFormats()).includes("qr_code")) return null;
  } catch { return null; }
  const det = new BarcodeDetector({ formats: ["qr_code"] });
  return async (v) => (await det.detect(v)).map((c) => c.rawValue);
}

// workerReader returns a function that draws the video's frame into a
// canvas at most 640 px on its longer side, makes it grey (luminance, as
// ITU-R BT.601) and has the scanner's worker read it.
function workerReader() {
  scanWorker = new Worker("/@scan.js@");
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return (v) => new Promise((resolve, reject) => {
    if (!v.videoWidth) { resolve([]); return; }
    const k = Math.min(1, 640 / Math.max(v.videoWidth, v.videoHeight));
    const w = Math.round(v.videoWidth * k), h = Math.round(v.videoHeight * k);
    canvas.width = w; canvas.height = h;
    ctx.drawImage(v, 0, 0, w, h);
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const gray = new Uint8Array(w * h);
    for (let i = 0, j = 0; i < gray.length; i++, j += 4) gray[i] = (77 * rgba[j] + 150 * rgba[j + 1] + 29 * rgba[j + 2]) >> 8;
    const wk = scanWorker;
    if (!wk) { reject(new Error("stopped")); return; }
    scanPending = reject;
    wk.onmessage = (ev) => {
      scanPending = null;
      if (ev.data.fatal) reject(new Error(ev.data.error));
      else resolve(ev.data.text ? [ev.data.text] : []);
    };
    wk.onerror = (ev) => { scanPending = null; ev.preventDefault(); reject(new Error(ev.message || "the scanner did not load")); };
    wk.postMessage({ gray, width: w, height: h }, [gray.buffer]);
  });
}

// openCamera asks for the back camera. A camera that a cancelled scan has
// just opened, or is still opening, can refuse a second open for a moment
// (NotReadableError, AbortError: "could not start video source"), so those
// are tried again, three times at most, 300 ms apart, while the scan is not
// cancelled; a refused permission is not.
async function openCamera(gen) {
  for (let tries = 1; ; tries++) {
    try {
      return await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (e) {
      if (tries >= 3 || gen !== scanGen || (e.name !== "NotReadableError" && e.name !== "AbortError")) throw e;
    }
    await sleep(300);
  }
}

$("scan").onclick = async () => {
  if (stream || startingGen === scanGen) return;
  $("adderr").textContent = "";
  const gen = scanGen;
  try {
    startingGen = gen;
    let s;
    try {
      s = await openCamera(gen);
    } finally { if (startingGen === gen) startingGen = -1; }
    if (gen !== scanGen) { for (const t of s.getTracks()) t.stop(); return; }
    stream = s;
    const v = $("video");
    v.srcObject = stream;
    await v.play();
    let read = await detectorReader();
    if (!read) {
      $("scanmsg").textContent = "Loading the scanner…";
      read = workerReader();
    }
    let first = true;
    while (stream) {
      const texts = await read(v);
      if (first && scanWorker) { $("scanmsg").textContent = "Point the camera at the contact's QR code."; first = false; }
      const hit = texts.find(isRef);
      if (hit) { $("ref").value = hit; stopCamera(); $("cname").focus(); break; }
      await sleep(200);
    }
  } catch (e) {
    // A cancelled scan ends quietly: a newer one may be running, and
    // stopCamera here would stop it.
    if (gen !== scanGen || e.message === "stopped") return;
    stopCamera();
    $("adderr").textContent = "Camera: " + e.message + " — paste the card instead.";
  }
};
$("addcancel").onclick = () => { stopCamera(); show("chats"); renderChats(); };
$("addok").onclick = async () => {
  const ref = $("ref").value.trim();
  const why = cairn.validateRef(ref);
  if (why) { $("adderr").textContent = why; return; }
  try {
    const c = await cairn.addContact(ref, $("cname").value);
    stopCamera();
    contacts = await cairn.contacts();
    openConv(c.did);
  } catch (e) { $("adderr").textContent = e.message; }
};

main().catch((e) => {
  $("loadmsg").textContent = "Cairn could not start: " + e.message;
  console.error(e);
});
