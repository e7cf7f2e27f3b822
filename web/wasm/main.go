//go:build js && wasm

// Command wasm is the protocol half of the Cairn web client: package client
// (and through it codec and ratchet) built for the browser, exposing a small
// promise-based API as globalThis.cairn to the page (web/static/app.js),
// which draws the screens and keeps the message history. See docs/web.md.
//
// The keystore lives in IndexedDB (idbStorage) and is opened at most once
// (package web/identity); the connection to the relay is MQTT over a
// browser WebSocket to the relay's /mqtt (wsConn). Events go to the page
// through globalThis.cairnEvents: status(s), message(m), delivered(did,
// ids).
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/cairnmesh/cairn/client"
	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/web/identity"
)

// Timeouts of the page's calls.
const (
	dialTimeout    = 10 * time.Second // WebSocket open and MQTT CONNACK
	publishTimeout = 10 * time.Second // a PUBACK; past it the message stays queued
	sendTimeout    = 45 * time.Second // a send that fetches a bundle first
	retryMin       = 1 * time.Second  // between failed first connections, doubling
	retryMax       = 15 * time.Second
)

// app is the one identity the page works with. Its methods run on
// goroutines of their own (see promise).
type app struct {
	id *identity.Slot // the keystore, opened at most once

	mu  sync.Mutex     // guards c and run
	c   *client.Client // nil until the first connection succeeds
	run bool           // the connection loop has started
}

func main() {
	a := &app{id: identity.New(func() client.Storage {
		return idbStorage{js: js.Global().Get("cairnStore")}
	})}
	api := map[string]any{
		"state":       js.FuncOf(a.state),
		"create":      js.FuncOf(a.create),
		"unlock":      js.FuncOf(a.unlock),
		"identity":    js.FuncOf(a.identity),
		"contacts":    js.FuncOf(a.contacts),
		"addContact":  js.FuncOf(a.addContact),
		"seal":        js.FuncOf(a.seal),
		"publish":     js.FuncOf(a.publish),
		"send":        js.FuncOf(a.send),
		"connect":     js.FuncOf(a.connect),
		"sealRecord":  js.FuncOf(a.sealRecord),
		"openRecords": js.FuncOf(a.openRecords),
		"qr":          js.FuncOf(qrSVG),
		"validateRef": js.FuncOf(validateRef),
	}
	js.Global().Set("cairn", js.ValueOf(api))
	if f := js.Global().Get("cairnLoaded"); f.Type() == js.TypeFunction {
		f.Invoke()
	}
	select {} // serve the page until it closes
}

// promise runs fn on a goroutine and returns a JavaScript promise of its
// result; an error rejects it with an Error whose message is the error's.
func promise(fn func() (any, error)) js.Value {
	var h js.Func
	h = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := fn()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	p := js.Global().Get("Promise").New(h) // calls h at once
	h.Release()
	return p
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

func str(args []js.Value, i int) string {
	if v := arg(args, i); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// goBytes copies the Uint8Array v into a new slice.
func goBytes(v js.Value) []byte {
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b
}

// jsBytes copies b into a new Uint8Array.
func jsBytes(b []byte) js.Value {
	arr := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(arr, b)
	return arr
}

func emit(event string, args ...any) {
	if ev := js.Global().Get("cairnEvents"); ev.Truthy() && ev.Get(event).Type() == js.TypeFunction {
		ev.Call(event, args...)
	}
}

func (a *app) keystore() (*client.Keystore, error) {
	if ks := a.id.Keystore(); ks != nil {
		return ks, nil
	}
	return nil, errors.New("no identity open")
}

// state resolves to "none" (no identity yet), "locked" (one under a
// passphrase: unlock it) or "open".
func (a *app) state(js.Value, []js.Value) any {
	return promise(func() (any, error) { return a.id.State() })
}

// create(passphrase) makes a new identity, under passphrase unless it is
// empty, and resolves to its did:key. It rejects when an identity is
// stored or open, so a second call (a double click) makes no second one.
func (a *app) create(_ js.Value, args []js.Value) any {
	pass := str(args, 0)
	return promise(func() (any, error) {
		ks, err := a.id.Create([]byte(pass))
		if err != nil {
			return nil, err
		}
		return ks.DID(), nil
	})
}

// unlock(passphrase) opens the identity and resolves to its did:key; when
// it is open already, to that one's (identity.Slot.Unlock).
func (a *app) unlock(_ js.Value, args []js.Value) any {
	pass := str(args, 0)
	return promise(func() (any, error) {
		ks, err := a.id.Unlock([]byte(pass))
		if err != nil {
			return nil, err
		}
		return ks.DID(), nil
	})
}

// identity() resolves to {did, card, encrypted}.
//
// Like every call that reads the keystore, it answers through a promise:
// the keystore's lock may be held by a goroutine waiting for IndexedDB,
// which needs the JavaScript event loop that a synchronous call would
// block, a deadlock.
func (a *app) identity(js.Value, []js.Value) any {
	return promise(func() (any, error) {
		ks, err := a.keystore()
		if err != nil {
			return nil, err
		}
		return map[string]any{"did": ks.DID(), "card": ks.Card(), "encrypted": ks.Encrypted()}, nil
	})
}

// sealRecord(text) resolves to the text sealed under the passphrase
// (client.Keystore.SealRecord) as a Uint8Array, or to null when the
// identity has no passphrase: the page then stores its history as it is.
func (a *app) sealRecord(_ js.Value, args []js.Value) any {
	text := str(args, 0)
	return promise(func() (any, error) {
		ks, err := a.keystore()
		if err != nil {
			return nil, err
		}
		rec, err := ks.SealRecord([]byte(text))
		if errors.Is(err, client.ErrNotEncrypted) {
			return js.Null(), nil
		}
		if err != nil {
			return nil, err
		}
		return jsBytes(rec), nil
	})
}

// openRecords(records) resolves to the texts of an array of records made
// by sealRecord, in order; a record that does not open gives null.
func (a *app) openRecords(_ js.Value, args []js.Value) any {
	v := arg(args, 0)
	recs := make([][]byte, v.Length())
	for i := range recs {
		recs[i] = goBytes(v.Index(i))
	}
	return promise(func() (any, error) {
		ks, err := a.keystore()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(recs))
		for i, r := range recs {
			if pt, err := ks.OpenRecord(r); err == nil {
				out[i] = string(pt)
			}
		}
		return js.ValueOf(out), nil
	})
}

func contactValue(c client.Contact) map[string]any {
	return map[string]any{
		"did": c.DID, "name": c.Name, "label": c.Label(), "unknown": c.Unknown,
		"hasBundle": c.HasBundle, "sessions": c.Sessions,
	}
}

// contacts() resolves to the contacts, in the order they were added.
func (a *app) contacts(js.Value, []js.Value) any {
	return promise(func() (any, error) {
		ks, err := a.keystore()
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, c := range ks.Contacts() {
			out = append(out, contactValue(c))
		}
		return js.ValueOf(out), nil
	})
}

// addContact(ref, name) adds a contact card or did:key and resolves to
// the contact.
func (a *app) addContact(_ js.Value, args []js.Value) any {
	ref, name := strings.TrimSpace(str(args, 0)), strings.TrimSpace(str(args, 1))
	return promise(func() (any, error) {
		ks, err := a.keystore()
		if err != nil {
			return nil, err
		}
		c, err := ks.AddContact(ref, name, false)
		if err != nil {
			return nil, err
		}
		return contactValue(c), nil
	})
}

// validateRef(s) returns "" when s looks like a card or a did:key, or why not.
func validateRef(_ js.Value, args []js.Value) any {
	s := strings.TrimSpace(str(args, 0))
	switch {
	case strings.HasPrefix(s, client.CardPrefix):
		if _, err := client.DecodeCard(s); err != nil {
			return err.Error()
		}
	case strings.HasPrefix(s, "did:"):
		if _, err := codec.ParseDIDKey(s); err != nil {
			return err.Error()
		}
	default:
		return "not a contact card (" + client.CardPrefix + "…) or a did:key"
	}
	return ""
}

func prioOf(urgent bool) codec.Prio {
	if urgent {
		return codec.PrioUrgent
	}
	return codec.PrioNormal
}

// seal(ref, text, urgent) encrypts a message without the relay and
// resolves to {id, env}: the envelope id in hex and its bytes, to keep
// and publish. It rejects with a message starting "nobundle:" when the
// contact's bundle must be fetched first (then use send once online).
func (a *app) seal(_ js.Value, args []js.Value) any {
	ref, text, urgent := str(args, 0), str(args, 1), arg(args, 2).Truthy()
	return promise(func() (any, error) {
		ks, err := a.keystore()
		if err != nil {
			return nil, err
		}
		e, err := ks.Seal(ref, []byte(text), prioOf(urgent), 0)
		if errors.Is(err, client.ErrNoBundle) {
			return nil, fmt.Errorf("nobundle: %w", err)
		}
		if err != nil {
			return nil, err
		}
		id := e.ID()
		return map[string]any{"id": hex.EncodeToString(id[:]), "env": jsBytes(e.Encode())}, nil
	})
}

func (a *app) connected() (*client.Client, error) {
	a.mu.Lock()
	c := a.c
	a.mu.Unlock()
	if c == nil || !c.Connected() {
		return nil, client.ErrRelay
	}
	return c, nil
}

// publish(env) hands a sealed envelope to the relay and resolves to its id
// once the relay has it durably.
func (a *app) publish(_ js.Value, args []js.Value) any {
	b := goBytes(arg(args, 0))
	return promise(func() (any, error) {
		c, err := a.connected()
		if err != nil {
			return nil, err
		}
		e, err := codec.DecodeEnvelope(b)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		if err := c.Publish(ctx, e); err != nil {
			return nil, err
		}
		id := e.ID()
		return hex.EncodeToString(id[:]), nil
	})
}

// send(ref, text, urgent) fetches the contact's bundle through the relay,
// seals and publishes, resolving to the id: for contacts added by did:key
// alone, which cannot be sealed to offline.
func (a *app) send(_ js.Value, args []js.Value) any {
	ref, text, urgent := str(args, 0), str(args, 1), arg(args, 2).Truthy()
	return promise(func() (any, error) {
		c, err := a.connected()
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		s, err := c.Send(ctx, ref, []byte(text), prioOf(urgent))
		if err != nil {
			return nil, err
		}
		return hex.EncodeToString(s.ID[:]), nil
	})
}

// connect(url) starts keeping a connection to the relay at url (ws:// or
// wss://), reading the inbox, for as long as the page lives. Status
// changes go to cairnEvents.status({online, error}).
func (a *app) connect(_ js.Value, args []js.Value) any {
	relay := str(args, 0)
	ks := a.id.Keystore()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.run || ks == nil {
		return js.ValueOf(false)
	}
	a.run = true
	go a.loop(ks, relay)
	return js.ValueOf(true)
}

func (a *app) loop(ks *client.Keystore, relay string) {
	log := slog.New(slog.NewTextHandler(consoleWriter{}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := &client.Options{
		Relay:           relay,
		Timeout:         dialTimeout,
		Logger:          log,
		DeliveryNotices: true,
		OpenConn: func(u *url.URL) (net.Conn, error) {
			return dialWS(u.String(), dialTimeout)
		},
		OnDelivered: func(from client.Contact, ids []codec.ID) {
			var hs []any
			for _, id := range ids {
				hs = append(hs, hex.EncodeToString(id[:]))
			}
			emit("delivered", from.DID, js.ValueOf(hs))
		},
	}
	var c *client.Client
	for wait := retryMin; c == nil; wait = min(wait*2, retryMax) {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout+5*time.Second)
		var err error
		c, err = client.Dial(ctx, ks, opts)
		cancel()
		if err != nil {
			emit("status", map[string]any{"online": false, "error": err.Error()})
			time.Sleep(wait)
		}
	}
	a.mu.Lock()
	a.c = c
	a.mu.Unlock()
	go a.receive(c)
	// The MQTT library reconnects by itself from here on; tell the page
	// when the link comes and goes.
	was := false
	for {
		if now := c.Connected(); now != was {
			was = now
			emit("status", map[string]any{"online": now, "error": ""})
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// receive reads the inbox for as long as the page lives; Receive returns
// when the connection drops while it acknowledges, and is started again.
func (a *app) receive(c *client.Client) {
	for {
		err := c.Receive(context.Background(), true, func(m client.Message) {
			emit("message", map[string]any{
				"id": hex.EncodeToString(m.ID[:]), "from": m.From.DID, "label": m.From.Label(),
				"unknown": m.From.Unknown, "text": string(m.Text), "urgent": m.Prio == codec.PrioUrgent,
			})
		})
		slog.Debug("inbox reading ended", "err", err)
		time.Sleep(time.Second)
	}
}

// consoleWriter sends log lines to the browser console.
type consoleWriter struct{}

func (consoleWriter) Write(p []byte) (int, error) {
	js.Global().Get("console").Call("log", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
