package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cairnmesh/cairn/client"
	"github.com/cairnmesh/cairn/codec"
)

const (
	sendUsage  = "usage: cairn send [--home DIR] [--relay mqtt://host:port] [--urgent] DID|NAME TEXT"
	inboxUsage = "usage: cairn inbox [--home DIR] [--relay mqtt://host:port] [--follow] [--notices=false]"
	chatUsage  = "usage: cairn chat [--home DIR] [--relay mqtt://host:port] [--urgent] [--notices=false] DID|NAME"
	// sendTimeout covers connecting, a bundle fetch (client.DefaultBundleWait)
	// and the relay's acknowledgement.
	sendTimeout  = 90 * time.Second
	inboxTimeout = 60 * time.Second
)

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// dialRelay opens the keystore and connects. notices turns on end-to-end
// delivery notices (client.Options.DeliveryNotices) for the commands that
// read messages, so that senders see them delivered.
func dialRelay(ctx context.Context, h *handheldFlags, notices bool) (*client.Keystore, *client.Client, error) {
	ks, err := h.open()
	if err != nil {
		return nil, nil, err
	}
	opts := h.clientOptions()
	opts.DeliveryNotices = notices
	c, err := client.Dial(ctx, ks, opts)
	if err != nil {
		ks.Close()
		return nil, nil, explain(err, ks.Home())
	}
	return ks, c, nil
}

func prioOf(urgent bool) codec.Prio {
	if urgent {
		return codec.PrioUrgent
	}
	return codec.PrioNormal
}

func runSend(args []string) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	h := addRelayFlags(fs)
	urgent := fs.Bool("urgent", false, "send at urgent priority: relays deliver and keep it first")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return fmt.Errorf("send: want a contact and a text\n%s", sendUsage)
	}
	ctx, cancel := signalContext()
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, sendTimeout)
	defer cancel2()
	ks, c, err := dialRelay(ctx, h, false)
	if err != nil {
		return err
	}
	defer ks.Close()
	defer c.Close()
	sent, err := c.Send(ctx, pos[0], []byte(strings.Join(pos[1:], " ")), prioOf(*urgent))
	if err != nil {
		return explain(err, ks.Home())
	}
	fmt.Printf("sent to %s: %d bytes, id %s\n", sent.To.Label(), sent.Bytes, sent.ID)
	return nil
}

// addNoticesFlag is --notices of the commands that read messages. Each
// notice is one small bulk envelope per sender per batch (about 60 bytes
// on an established session): airtime on LoRa, which --notices=false saves
// at the cost of the senders' "delivered".
func addNoticesFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("notices", true, "tell senders, end to end, which of their messages were read (docs/crypto.md, delivery notices)")
}

// printer writes messages to stdout one line each, and tells once per
// sender on stderr that an unknown one wrote.
type printer struct {
	mu     sync.Mutex // guards warned and the lines
	warned map[string]bool
}

func (p *printer) print(m client.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := m.From.Label()
	if m.From.Unknown {
		from = m.From.DID
		if p.warned == nil {
			p.warned = make(map[string]bool)
		}
		if !p.warned[from] {
			p.warned[from] = true
			fmt.Fprintf(os.Stderr, "cairn: %s is not a contact; if you know them: cairn contact add %s --name NAME\n", from, from)
		}
	}
	mark := ""
	if m.Prio == codec.PrioUrgent {
		mark = "[urgent] "
	}
	fmt.Printf("%s%s: %s\n", mark, from, printable(string(m.Text)))
}

func runInbox(args []string) error {
	fs := flag.NewFlagSet("inbox", flag.ContinueOnError)
	h := addRelayFlags(fs)
	follow := fs.Bool("follow", false, "keep reading new messages until interrupted")
	notices := addNoticesFlag(fs)
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("inbox: unexpected argument %q\n%s", pos[0], inboxUsage)
	}
	ctx, cancel := signalContext()
	defer cancel()
	if !*follow {
		ctx, cancel = context.WithTimeout(ctx, inboxTimeout)
		defer cancel()
	}
	ks, c, err := dialRelay(ctx, h, *notices)
	if err != nil {
		return err
	}
	defer ks.Close()
	defer c.Close()
	var p printer
	err = c.Receive(ctx, *follow, p.print)
	if *follow && ctx.Err() != nil {
		return nil // interrupted: the normal end
	}
	return explain(err, ks.Home())
}

func runChat(args []string) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	h := addRelayFlags(fs)
	urgent := fs.Bool("urgent", false, "send at urgent priority")
	notices := addNoticesFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("chat: want one contact\n%s", chatUsage)
	}
	ctx, cancel := signalContext()
	defer cancel()
	ks, c, err := dialRelay(ctx, h, *notices)
	if err != nil {
		return err
	}
	defer ks.Close()
	defer c.Close()
	peer := pos[0]
	var p printer
	recvErr := make(chan error, 1)
	go func() { recvErr <- c.Receive(ctx, true, p.print) }()
	fmt.Fprintf(os.Stderr, "cairn: chatting with %s as %s; one line per message, Ctrl-D to end\n", peer, client.ShortDID(ks.DID()))

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			sctx, scancel := context.WithTimeout(ctx, sendTimeout)
			_, err := c.Send(sctx, peer, []byte(line), prioOf(*urgent))
			scancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "cairn: not sent: %v\n", explain(err, ks.Home()))
			}
		case err := <-recvErr:
			if ctx.Err() != nil {
				return nil
			}
			return explain(err, ks.Home())
		case <-ctx.Done():
			return nil
		}
	}
}
