//go:build js && wasm

package main

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall/js"
	"time"
)

// wsConn is a net.Conn over a browser WebSocket carrying MQTT (subprotocol
// "mqtt", binary messages), for the client's MQTT library: each Write is one
// message, and Read returns the messages' bytes in order. Safe for
// concurrent use, as net.Conn requires.
type wsConn struct {
	ws js.Value
	fs []js.Func // callbacks to release on close

	mu       sync.Mutex // guards everything below
	cond     *sync.Cond // signalled on data, close or a deadline change
	buf      []byte     // received and not yet read
	err      error      // why the socket ended; nil while open
	deadline time.Time  // read deadline; zero for none
	timer    *time.Timer
}

// wsAddr names the socket's URL for LocalAddr and RemoteAddr.
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

// maxBuffered bounds what is received and not yet read; past it the socket
// is closed (the MQTT reader has stopped reading: the connection is dead).
const maxBuffered = 1 << 20

var errClosed = errors.New("websocket closed")

// dialWS opens a WebSocket to url and waits until it is open or fails, or
// timeout passes.
func dialWS(url string, timeout time.Duration) (net.Conn, error) {
	c := &wsConn{ws: js.Global().Get("WebSocket").New(url, "mqtt")}
	c.cond = sync.NewCond(&c.mu)
	c.ws.Set("binaryType", "arraybuffer")
	opened := make(chan error, 1)
	c.on("open", func(js.Value) {
		select {
		case opened <- nil:
		default:
		}
	})
	c.on("message", func(ev js.Value) {
		src := js.Global().Get("Uint8Array").New(ev.Get("data"))
		b := make([]byte, src.Length())
		js.CopyBytesToGo(b, src)
		c.mu.Lock()
		if len(c.buf)+len(b) > maxBuffered {
			c.fail(errors.New("websocket: reader fell behind"))
			c.mu.Unlock()
			c.ws.Call("close")
			return
		}
		c.buf = append(c.buf, b...)
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	c.on("close", func(ev js.Value) {
		c.mu.Lock()
		c.fail(errClosed)
		c.mu.Unlock()
		select {
		case opened <- errors.New("websocket: closed before it opened (code " + strconv.Itoa(ev.Get("code").Int()) + ")"):
		default:
		}
	})
	c.on("error", func(js.Value) {
		c.mu.Lock()
		c.fail(errors.New("websocket error"))
		c.mu.Unlock()
	})
	select {
	case err := <-opened:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-time.After(timeout):
		c.Close()
		return nil, errors.New("websocket: no answer within " + timeout.String())
	}
}

func (c *wsConn) on(event string, fn func(js.Value)) {
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		fn(args[0])
		return nil
	})
	c.fs = append(c.fs, f)
	c.ws.Call("addEventListener", event, f)
}

// fail records why the socket ended. c.mu held.
func (c *wsConn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			return 0, os.ErrDeadlineExceeded
		}
		c.cond.Wait()
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	if len(c.buf) == 0 {
		c.buf = nil
	}
	return n, nil
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if c.ws.Get("readyState").Int() != 1 { // OPEN
		return 0, errClosed
	}
	arr := js.Global().Get("Uint8Array").New(len(p))
	js.CopyBytesToJS(arr, p)
	c.ws.Call("send", arr)
	return len(p), nil
}

// Close closes the socket; reads in progress return errClosed.
func (c *wsConn) Close() error {
	c.mu.Lock()
	c.fail(errClosed)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.ws.Call("close")
	// The callbacks may still be called for events already queued; they
	// are released a little later.
	fs := c.fs
	c.fs = nil
	time.AfterFunc(10*time.Second, func() {
		for _, f := range fs {
			f.Release()
		}
	})
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return wsAddr("browser") }
func (c *wsConn) RemoteAddr() net.Addr { return wsAddr(c.ws.Get("url").String()) }

func (c *wsConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline makes Read return os.ErrDeadlineExceeded once t passes.
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if !t.IsZero() {
		c.timer = time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
	}
	c.cond.Broadcast()
	return nil
}

// SetWriteDeadline does nothing: a browser WebSocket's send never blocks
// (it buffers).
func (c *wsConn) SetWriteDeadline(time.Time) error { return nil }
