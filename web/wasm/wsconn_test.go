//go:build js && wasm

package main

import (
	"errors"
	"os"
	"syscall/js"
	"testing"
	"time"
)

// fakeWebSocket stands in for the browser's WebSocket: it opens at once,
// adds what is sent to bufferedAmount and never drains it by itself; the
// test sets bufferedAmount to play the network. The last one made is
// globalThis.lastWS.
const fakeWebSocket = `globalThis.WebSocket = class {
	constructor(url, proto) {
		this.url = url; this.readyState = 0; this.bufferedAmount = 0; this.sends = 0; this.l = {};
		globalThis.lastWS = this;
		setTimeout(() => { this.readyState = 1; this.emit("open", {}); }, 0);
	}
	addEventListener(ev, f) { (this.l[ev] ||= []).push(f); }
	emit(ev, e) { for (const f of this.l[ev] || []) f(e); }
	send(b) { this.sends++; this.bufferedAmount += b.length; }
	close() {
		if (this.readyState === 3) return;
		this.readyState = 3;
		setTimeout(() => this.emit("close", { code: 1000 }), 0);
	}
}`

func dialFake(t *testing.T) (*wsConn, js.Value) {
	t.Helper()
	js.Global().Call("eval", fakeWebSocket)
	nc, err := dialWS("ws://relay.test/mqtt", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*wsConn)
	t.Cleanup(func() { c.Close() })
	return c, js.Global().Get("lastWS")
}

// Write waits while the browser holds more than maxSendBuffered bytes
// unsent, gives up at the write deadline having sent nothing, and goes on
// once the buffer drains.
func TestWriteWaitsForSendBuffer(t *testing.T) {
	c, ws := dialFake(t)
	big := make([]byte, maxSendBuffered/2+1)
	for range 2 { // the first leaves room; the second passes the bound
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	if got := ws.Get("sends").Int(); got != 2 {
		t.Fatalf("%d sends, want 2", got)
	}

	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write over a full buffer: %v, want a deadline error", err)
	}
	if got := ws.Get("sends").Int(); got != 2 {
		t.Errorf("%d sends after a write that gave up, want 2", got)
	}

	c.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("x"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("write returned (%v) with the buffer full", err)
	case <-time.After(50 * time.Millisecond):
	}
	ws.Set("bufferedAmount", 0) // the network took it
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("write still waiting after the buffer drained")
	}
	if got := ws.Get("sends").Int(); got != 3 {
		t.Errorf("%d sends, want 3", got)
	}
}

// A write waiting for the buffer returns when the socket is closed.
func TestWriteWaitingEndsAtClose(t *testing.T) {
	c, ws := dialFake(t)
	ws.Set("bufferedAmount", maxSendBuffered+1)
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte("x"))
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	c.Close()
	c.Close() // a second Close is harmless
	select {
	case err := <-done:
		if err == nil {
			t.Error("write over a full buffer succeeded after Close")
		}
	case <-time.After(time.Second):
		t.Fatal("write still waiting after Close")
	}
}
