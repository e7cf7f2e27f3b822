package radiotest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/cairnmesh/cairn/radio"
)

// FakeRNodeOptions configure NewFakeRNode. Air and Dir are required.
type FakeRNodeOptions struct {
	Air    *Air
	Node   uint16 // node id on the air
	Dir    string // where the port's stable path (a symlink to the pty) lives
	MaxTxP int8   // highest TX power the radio takes; 0 means 17 (SX1276)
	Queue  int    // packets the modem queues before it drops DATA; 0 means 4
}

// FakeStats counts what a FakeRNode did.
type FakeStats struct {
	Transmitted, QueueDrops, Received, BadCommands uint64
}

// FakeRNode is a modem with RNode's host-protocol semantics (as in
// RNode_Firmware.ino serial_callback) on a pty, whose radio is an Air. Its
// Path is a symlink that Unplug removes and Plug points at a new pty, the
// way a USB modem comes back under the same name. Safe for concurrent use.
type FakeRNode struct {
	opts FakeRNodeOptions
	path string
	udp  *net.UDPConn
	wg   sync.WaitGroup // serial readers, the air reader, the transmitter
	kick chan struct{}  // wakes the transmitter
	quit chan struct{}

	wmu    sync.Mutex // guards master writes and master itself
	master *os.File
	slave  *os.File

	mu        sync.Mutex // guards the modem state below
	freq, bw  uint32
	txp       int // 0xFF until set
	sf, cr    uint8
	st, lt    uint16
	online    bool
	wedged    bool
	queue     [][]byte
	rxSplit   []byte
	rxSplitSq byte
	stats     FakeStats
}

// NewFakeRNode starts a modem, plugged in, radio off.
func NewFakeRNode(opts FakeRNodeOptions) (*FakeRNode, error) {
	if opts.MaxTxP == 0 {
		opts.MaxTxP = 17
	}
	if opts.Queue == 0 {
		opts.Queue = 4
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("fake rnode: %w", err)
	}
	f := &FakeRNode{
		opts: opts,
		path: filepath.Join(opts.Dir, fmt.Sprintf("ttyRNode%d", opts.Node)),
		udp:  udp,
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		txp:  0xFF,
		cr:   5,
	}
	hello := Datagram{Type: TypeHello, Node: opts.Node}
	if _, err := udp.WriteToUDP(hello.Append(nil), opts.Air.Addr()); err != nil {
		udp.Close()
		return nil, fmt.Errorf("fake rnode: hello: %w", err)
	}
	if err := f.Plug(); err != nil {
		udp.Close()
		return nil, err
	}
	f.wg.Add(2)
	go f.readAir()
	go f.transmitter()
	return f, nil
}

// Path is the modem's port, for radio.SerialOpener.
func (f *FakeRNode) Path() string { return f.path }

// Stats returns the counters.
func (f *FakeRNode) Stats() FakeStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Plug connects a new pty under Path. The modem keeps its settings, like an
// RNode whose USB cable was pulled but which kept power; use Reset to forget
// them.
func (f *FakeRNode) Plug() error {
	master, slave, err := pty.Open()
	if err != nil {
		return fmt.Errorf("fake rnode: pty: %w", err)
	}
	if err := makeRaw(slave); err != nil {
		master.Close()
		slave.Close()
		return err
	}
	if master, err = pollable(master); err != nil {
		slave.Close()
		return err
	}
	tmp := f.path + ".new"
	os.Remove(tmp)
	if err := os.Symlink(slave.Name(), tmp); err != nil {
		master.Close()
		slave.Close()
		return fmt.Errorf("fake rnode: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("fake rnode: %w", err)
	}
	f.wmu.Lock()
	f.master, f.slave = master, slave
	f.wmu.Unlock()
	f.wg.Add(1)
	go f.readSerial(master)
	return nil
}

// Unplug closes the pty and removes Path: the host sees its port vanish.
func (f *FakeRNode) Unplug() {
	os.Remove(f.path)
	f.wmu.Lock()
	if f.master != nil {
		f.master.Close()
		f.slave.Close()
		f.master, f.slave = nil, nil
	}
	f.wmu.Unlock()
}

// WriteSerial writes raw bytes to the host, e.g. garbage or half a frame.
func (f *FakeRNode) WriteSerial(b []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.master == nil {
		return fmt.Errorf("fake rnode: unplugged")
	}
	_, err := f.master.Write(b)
	return err
}

// Wedge makes the modem swallow its input and say nothing, as a hung
// firmware does; Wedge(false) revives it.
func (f *FakeRNode) Wedge(on bool) {
	f.mu.Lock()
	f.wedged = on
	f.mu.Unlock()
}

// Reset reboots the modem: settings forgotten, radio off, CMD_RESET sent
// to the host (RNode_Firmware kiss_indicate_reset).
func (f *FakeRNode) Reset() {
	f.mu.Lock()
	f.freq, f.bw, f.txp, f.sf, f.cr, f.st, f.lt, f.online = 0, 0, 0xFF, 0, 5, 0, 0, false
	f.queue = nil
	f.mu.Unlock()
	f.reply(radio.CmdReset, []byte{radio.ResetByte})
}

// Close stops the modem.
func (f *FakeRNode) Close() error {
	close(f.quit)
	f.Unplug()
	f.udp.Close()
	f.wg.Wait()
	return nil
}

// pollable returns f with its descriptor non-blocking, so that the runtime
// poller owns it and Close interrupts a Read in progress (a blocking pty
// master would stay open until its Read returned).
func pollable(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("fake rnode: dup: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("fake rnode: nonblock: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}

func makeRaw(tty *os.File) error {
	fd := int(tty.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("fake rnode: termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("fake rnode: termios: %w", err)
	}
	return nil
}

func (f *FakeRNode) reply(cmd byte, payload []byte) {
	f.mu.Lock()
	wedged := f.wedged
	f.mu.Unlock()
	if !wedged {
		f.WriteSerial(radio.AppendKISS(nil, cmd, payload))
	}
}

func (f *FakeRNode) readSerial(master *os.File) {
	defer f.wg.Done()
	var dec radio.KISSDecoder
	buf := make([]byte, 512)
	for {
		n, err := master.Read(buf)
		dec.Feed(buf[:n], f.command)
		if err != nil {
			return
		}
	}
}

// command handles one host frame the way RNode_Firmware.ino does.
func (f *FakeRNode) command(cmd byte, p []byte) {
	f.mu.Lock()
	if f.wedged {
		f.mu.Unlock()
		return
	}
	var out []byte // the echo, if any
	send := true
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	switch {
	case cmd == radio.CmdData:
		send = false
		if f.online && len(f.queue) < f.opts.Queue && len(p) > 0 && len(p) <= radio.RNodeMTU {
			f.queue = append(f.queue, append([]byte(nil), p...))
			select {
			case f.kick <- struct{}{}:
			default:
			}
		} else {
			f.stats.QueueDrops++ // silently, as RNode does
		}
	case cmd == radio.CmdDetect && len(p) == 1:
		send = p[0] == radio.DetectReq
		out = []byte{radio.DetectResp}
	case cmd == radio.CmdFWVersion:
		out = []byte{1, 82}
	case cmd == radio.CmdPlatform:
		out = []byte{0x80} // ESP32
	case cmd == radio.CmdMCU:
		out = []byte{0x81}
	case cmd == radio.CmdFrequency && len(p) == 4:
		if v := binary.BigEndian.Uint32(p); v != 0 {
			f.freq = v
		}
		out = u32(f.freq)
	case cmd == radio.CmdBandwidth && len(p) == 4:
		if v := binary.BigEndian.Uint32(p); v != 0 {
			f.bw = v
		}
		out = u32(f.bw)
	case cmd == radio.CmdTxPower && len(p) == 1:
		if p[0] != radio.QueryByte {
			f.txp = min(int(p[0]), int(f.opts.MaxTxP))
		}
		out = []byte{byte(f.txp)}
	case cmd == radio.CmdSF && len(p) == 1:
		if p[0] != radio.QueryByte {
			f.sf = min(max(p[0], radio.MinSF), radio.MaxSF)
		}
		out = []byte{f.sf}
	case cmd == radio.CmdCR && len(p) == 1:
		if p[0] != radio.QueryByte {
			f.cr = min(max(p[0], radio.MinCR), radio.MaxCR)
		}
		out = []byte{f.cr}
	case (cmd == radio.CmdStALock || cmd == radio.CmdLtALock) && len(p) == 2:
		v := binary.BigEndian.Uint16(p)
		if v >= 10000 {
			v = 0
		}
		if cmd == radio.CmdStALock {
			f.st = v
		} else {
			f.lt = v
		}
		out = binary.BigEndian.AppendUint16(nil, v)
	case cmd == radio.CmdRadioState && len(p) == 1:
		switch p[0] {
		case radio.RadioStateOn:
			f.online = f.freq != 0 && f.bw != 0 && f.txp != 0xFF && f.sf != 0
		case radio.RadioStateOff:
			f.online = false
		}
		out = []byte{0}
		if f.online {
			out[0] = 1
		}
	case cmd == radio.CmdReady:
		out = []byte{radio.ReadyYes}
		if len(f.queue) >= f.opts.Queue {
			out[0] = radio.ReadyNo
		}
	default:
		send = false
		f.stats.BadCommands++
	}
	f.mu.Unlock()
	if send {
		f.reply(cmd, out)
	}
}

// transmitter sends queued packets onto the air one at a time, each taking
// its airtime, with RNode's one-byte header (random sequence nibble, split
// flag for frames longer than 254 bytes).
func (f *FakeRNode) transmitter() {
	defer f.wg.Done()
	for {
		f.mu.Lock()
		var p []byte
		if f.online && len(f.queue) > 0 {
			p, f.queue = f.queue[0], f.queue[1:]
		}
		d := Datagram{Type: TypeTX, Node: f.opts.Node, FrequencyHz: f.freq, BandwidthHz: f.bw, SF: f.sf, CR: f.cr}
		f.mu.Unlock()
		if p == nil {
			select {
			case <-f.kick:
				continue
			case <-f.quit:
				return
			}
		}
		header := byte(rand.IntN(256)) & radio.RNodeSeqMask
		if len(p) > radio.RNodeSingleMTU-radio.RNodeHeaderBytes {
			header |= radio.RNodeFlagSplit
		}
		for len(p) > 0 {
			n := min(len(p), radio.RNodeSingleMTU-radio.RNodeHeaderBytes)
			d.Payload = append([]byte{header}, p[:n]...)
			p = p[n:]
			air := d.modulation().Airtime(len(d.Payload))
			d.AirtimeUs = uint32(air / time.Microsecond)
			f.udp.WriteToUDP(d.Append(nil), f.opts.Air.Addr())
			f.mu.Lock()
			f.stats.Transmitted++
			f.mu.Unlock()
			t := time.NewTimer(air) // the radio is busy sending
			select {
			case <-t.C:
			case <-f.quit:
				t.Stop()
				return
			}
		}
	}
}

func (f *FakeRNode) readAir() {
	defer f.wg.Done()
	buf := make([]byte, MaxDatagram+1)
	for {
		n, _, err := f.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		d, err := ParseDatagram(buf[:n])
		if err != nil || d.Type != TypeRX || len(d.Payload) < 2 {
			continue
		}
		f.mu.Lock()
		tuned := f.online && d.FrequencyHz == f.freq && d.BandwidthHz == f.bw && d.SF == f.sf
		var packet []byte
		if tuned {
			header, body := d.Payload[0], d.Payload[1:]
			seq := header & radio.RNodeSeqMask
			switch {
			case header&radio.RNodeFlagSplit == 0:
				packet, f.rxSplit = append([]byte(nil), body...), nil
			case f.rxSplit != nil && f.rxSplitSq == seq:
				packet, f.rxSplit = append(f.rxSplit, body...), nil
			default:
				f.rxSplit, f.rxSplitSq = append([]byte(nil), body...), seq
			}
		}
		if packet != nil {
			f.stats.Received++
		}
		f.mu.Unlock()
		if packet != nil {
			f.reply(radio.CmdStatRSSI, []byte{byte(int(d.RSSIDBm) + radio.RSSIOffset)})
			f.reply(radio.CmdStatSNR, []byte{byte(d.SNRQuarter)})
			f.reply(radio.CmdData, packet)
		}
	}
}
