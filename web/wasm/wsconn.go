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
// message, and Read returns the messages' bytes in order. Write waits
// while the browser holds more than maxSendBuffered bytes unsent. Safe for
// concurrent use, as net.Conn requires.
type wsConn struct {
	ws js.Value

	mu            sync.Mutex // guards everything below
	fs            []js.Func  // callbacks to release on close; nil once closed
	cond          *sync.Cond // signalled on data, close or a deadline change
	buf           []byte     // received and not yet read
	err           error      // why the socket ended; nil while open
	deadline      time.Time  // read deadline; zero for none
	timer         *time.Timer
	writeDeadline time.Time // zero for none
}

// wsAddr names the socket's URL for LocalAddr and RemoteAddr.
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

// maxBuffered bounds what is received and not yet read; past it the socket
// is closed (the MQTT reader has stopped reading: the connection is dead).
const maxBuffered = 1 << 20

// maxSendBuffered bounds what the browser holds sent and not yet on the
// wire (WebSocket.bufferedAmount), which is otherwise unbounded: Write
// waits while more than this is queued, so at most this plus one message
// (an MQTT packet: an envelope is at most 64 KiB) waits in the browser.
// 256 KiB is four of the largest envelopes, and seconds of a slow link.
// The browser says nothing when its buffer drains, so Write looks again
// every sendPoll.
const (
	maxSendBuffered = 256 << 10
	sendPoll        = 10 * time.Millisecond
)

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
		b := goBytes(js.Global().Get("Uint8Array").New(ev.Get("data")))
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
	c.mu.Lock()
	c.fs = append(c.fs, f)
	c.mu.Unlock()
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

// Write sends p as one message, once the browser holds no more than
// maxSendBuffered bytes unsent; past the write deadline it gives up with
// os.ErrDeadlineExceeded, having sent nothing.
func (c *wsConn) Write(p []byte) (int, error) {
	for {
		c.mu.Lock()
		err, deadline := c.err, c.writeDeadline
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if c.ws.Get("readyState").Int() != 1 { // OPEN
			return 0, errClosed
		}
		if c.ws.Get("bufferedAmount").Int() <= maxSendBuffered {
			break
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return 0, os.ErrDeadlineExceeded
		}
		time.Sleep(sendPoll) // lets the event loop run, and the buffer drain
	}
	c.ws.Call("send", jsBytes(p))
	return len(p), nil
}

// Close closes the socket; reads in progress return errClosed.
func (c *wsConn) Close() error {
	c.mu.Lock()
	c.fail(errClosed)
	if c.timer != nil {
		c.timer.Stop()
	}
	// A second Close finds fs nil and releases nothing twice.
	fs := c.fs
	c.fs = nil
	c.mu.Unlock()
	c.ws.Call("close")
	// The callbacks may still be called for events already queued; they
	// are released a little later.
	time.AfterFunc(10*time.Second, func() {
		for _, f := range fs {
			f.Release()
		}
	})
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return wsAddr("browser") }
func (c *wsConn) RemoteAddr() net.Addr { return wsAddr(c.ws.Get("url").String()) }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.SetReadDeadline(t)
}

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

// SetWriteDeadline makes a Write waiting for the browser's send buffer to
// drain give up once t passes; a Write that has begun sending never blocks.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}
