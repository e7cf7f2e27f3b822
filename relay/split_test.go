package relay

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failOnce is a listener whose first Accept fails as accept(2) does when
// the process is out of file descriptors.
type failOnce struct {
	net.Listener
	failed atomic.Bool
}

func (l *failOnce) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A temporary accept error (EMFILE: too many connections open at once)
// does not end the listener: it accepts again once descriptors are free,
// as net/http's Server.Serve does.
func TestSplitListenerTemporaryError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newSplitListener(&failOnce{Listener: l})
	t.Cleanup(func() { s.Close(); s.wait() })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		conn, err := s.plain.Accept()
		if err == nil {
			conn.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("plain side after a temporary accept error: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after a temporary accept error")
	}
}
