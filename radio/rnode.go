package radio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.bug.st/serial"
)

// Port is the byte stream to a modem: a serial port, or a pty in tests.
// Close must make a blocked Read return.
type Port interface {
	io.ReadWriteCloser
}

// Opener opens the modem's port; the driver calls it again for every
// connection attempt, so a modem that is unplugged and plugged back in is
// found again under the same path.
type Opener func() (Port, error)

// SerialOpener opens path as a serial port at 115200 8N1, RNode's speed
// (RNode_Firmware serial_baudrate; RNodeInterface.py self.speed).
func SerialOpener(path string) Opener {
	return func() (Port, error) {
		p, err := serial.Open(path, &serial.Mode{BaudRate: 115200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		return p, nil
	}
}

// MaxFrameBytes is the longest frame Send takes: one LoRa packet of
// RNodeSingleMTU (255) bytes less the modem's own header byte, so that an
// RNode never splits a Cairn frame over two packets.
const MaxFrameBytes = RNodeSingleMTU - RNodeHeaderBytes

// Driver limits and their defaults. Each is an option of RNodeOptions.
const (
	DefaultReplyTimeout = 2 * time.Second        // an echo or answer later than this means the modem is wedged
	DefaultMinBackoff   = 250 * time.Millisecond // first wait before reconnecting
	DefaultMaxBackoff   = 30 * time.Second       // backoff doubles up to this
	DefaultReadyPoll    = 50 * time.Millisecond  // wait before asking READY again after "queue full"
	DefaultKeepalive    = 10 * time.Second       // an idle modem is asked its radio state this often
	DefaultRxQueue      = 64                     // received frames buffered for Receive; newer ones are dropped and counted
)

// RNodeOptions configure OpenRNode. Open, FrequencyHz and Modulation are
// required; every other zero field takes its default.
type RNodeOptions struct {
	Open        Opener
	FrequencyHz uint32
	Modulation  Modulation // BandwidthHz, SF, CR; the preamble is the modem's
	TxPowerDBm  int8
	// Airtime locks set on the modem, in percent × 100 (100 = 1 %); 0
	// leaves a lock off. RNode treats 10000 (100 %) and above as off.
	STALock, LTALock uint16

	ReplyTimeout, MinBackoff, MaxBackoff, ReadyPoll, Keepalive time.Duration
	RxQueue                                                    int
	Logger                                                     *slog.Logger
}

func (o *RNodeOptions) fill() error {
	if o.Open == nil {
		return errors.New("rnode: Open is required")
	}
	if err := o.Modulation.Validate(); err != nil {
		return fmt.Errorf("rnode: %w", err)
	}
	if o.FrequencyHz == 0 {
		return errors.New("rnode: FrequencyHz is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReplyTimeout, DefaultReplyTimeout)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.ReadyPoll, DefaultReadyPoll)
	def(&o.Keepalive, DefaultKeepalive)
	if o.RxQueue <= 0 {
		o.RxQueue = DefaultRxQueue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// State is where the driver is with its modem.
type State uint8

const (
	StateDetecting   State = iota + 1 // port opening, DETECT sent, waiting for the answer
	StateConfiguring                  // detected; settings sent one by one, each echo checked
	StateReady                        // radio on with our settings; Send goes out
	StateLost                         // port gone, modem silent or settings refused; waiting to retry
	StateClosed                       // Close was called
)

func (s State) String() string {
	switch s {
	case StateDetecting:
		return "detecting"
	case StateConfiguring:
		return "configuring"
	case StateReady:
		return "ready"
	case StateLost:
		return "lost"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Errors of the driver.
var (
	ErrClosed        = errors.New("rnode: closed")
	ErrFrameTooLarge = fmt.Errorf("frame larger than %d bytes", MaxFrameBytes)
	ErrNoAnswer      = errors.New("modem did not answer")
	ErrNotRNode      = errors.New("device answered DETECT with an unexpected value")
)

// EchoMismatchError says the modem echoed a setting other than the one sent:
// the hardware cannot do it (RNode clamps TX power, SF and CR to what the
// radio supports).
type EchoMismatchError struct {
	Setting   string
	Want, Got int64
}

func (e *EchoMismatchError) Error() string {
	return fmt.Sprintf("modem set %s to %d, not %d", e.Setting, e.Got, e.Want)
}

// ModemError is a CMD_ERROR from the modem.
type ModemError struct{ Code byte }

func (e ModemError) Error() string {
	switch e.Code {
	case ErrCodeInitRadio:
		return "modem error: radio initialisation failed"
	case ErrCodeTxFailed:
		return "modem error: transmit failed"
	case ErrCodeEEPROMLocked:
		return "modem error: EEPROM locked"
	case ErrCodeQueueFull:
		return "modem error: queue full"
	case ErrCodeMemoryLow:
		return "modem error: memory low"
	case ErrCodeModemTimeout:
		return "modem error: radio timeout"
	}
	return fmt.Sprintf("modem error 0x%02x", e.Code)
}

// DeviceInfo is what the modem said about itself when detected.
type DeviceInfo struct {
	FirmwareMajor, FirmwareMinor byte
	Platform, MCU                byte
}

// Packet is a frame received over the air, with the signal it came with.
type Packet struct {
	Data    []byte
	RSSIDBm int     // STAT_RSSI byte − 157
	SNRdB   float64 // STAT_SNR signed byte × 0.25
}

// RNodeStats counts the driver's work.
type RNodeStats struct {
	Sent, Received, RxDropped, Reconnects, NotReady uint64
	ModemErrors                                     uint64
	KISS                                            KISSStats // of the current connection
}

// RNode drives one RNode-protocol modem. It keeps the modem configured
// across unplugging, resets and wedges: a supervisor goroutine reconnects
// with exponential backoff and reconfigures. Methods are safe for
// concurrent use. The zero value is not usable; call OpenRNode.
type RNode struct {
	opts RNodeOptions
	log  *slog.Logger

	tx      chan txReq
	rx      chan Packet
	closing chan struct{}
	done    chan struct{}

	mu      sync.Mutex    // guards the fields below
	state   State         // current state
	lastErr error         // why the driver last left StateReady or failed to reach it
	info    DeviceInfo    // from the last detection
	stats   RNodeStats    // counters
	changed chan struct{} // closed and replaced on every state change
}

type txReq struct {
	ctx  context.Context
	data []byte
	done chan error
}

// OpenRNode starts driving the modem behind opts.Open and returns at once;
// the modem need not be present yet. Use WaitState to wait for StateReady.
func OpenRNode(opts RNodeOptions) (*RNode, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	r := &RNode{
		opts:    opts,
		log:     opts.Logger,
		tx:      make(chan txReq),
		rx:      make(chan Packet, opts.RxQueue),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		state:   StateDetecting,
		changed: make(chan struct{}),
	}
	go r.supervise()
	return r, nil
}

// Close stops the driver, turning the radio off if the modem is there.
func (r *RNode) Close() error {
	select {
	case <-r.closing:
	default:
		close(r.closing)
	}
	<-r.done
	return nil
}

// Receive returns the channel of packets from the air. It is never closed;
// stop reading when Close returns.
func (r *RNode) Receive() <-chan Packet { return r.rx }

// Status returns the current state and the last error.
func (r *RNode) Status() (State, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state, r.lastErr
}

// Info returns what the modem said about itself when last detected.
func (r *RNode) Info() DeviceInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.info
}

// Stats returns the driver's counters.
func (r *RNode) Stats() RNodeStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// WaitState blocks until the driver is in one of states, ctx ends or the
// driver closes.
func (r *RNode) WaitState(ctx context.Context, states ...State) error {
	for {
		r.mu.Lock()
		st, ch := r.state, r.changed
		r.mu.Unlock()
		for _, s := range states {
			if st == s {
				return nil
			}
		}
		if st == StateClosed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %v (now %v): %w", states, st, ctx.Err())
		}
	}
}

// Send hands one frame of at most MaxFrameBytes to the modem. It blocks
// until the modem said it had room (CMD_READY) and the frame was written,
// or ctx ends; while the modem is lost it waits for it to come back. The
// caller accounts for airtime (see Ledger); Send only paces the modem.
func (r *RNode) Send(ctx context.Context, frame []byte) error {
	if len(frame) > MaxFrameBytes {
		return fmt.Errorf("rnode send: %w", ErrFrameTooLarge)
	}
	if len(frame) == 0 {
		return errors.New("rnode send: empty frame")
	}
	req := txReq{ctx: ctx, data: append([]byte(nil), frame...), done: make(chan error, 1)}
	select {
	case r.tx <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.closing:
		return ErrClosed
	}
	select {
	case err := <-req.done:
		return err
	case <-r.done:
		return ErrClosed
	}
}

func (r *RNode) setState(s State, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || s == StateReady {
		r.lastErr = err
	}
	if r.state == s {
		return
	}
	r.state = s
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *RNode) count(f func(*RNodeStats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// supervise is the state machine: connect, run until the connection fails,
// back off, again. Backoff resets once the modem reached StateReady.
func (r *RNode) supervise() {
	defer close(r.done)
	backoff := r.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.count(func(s *RNodeStats) { s.Reconnects++ })
		}
		r.setState(StateDetecting, nil)
		reachedReady, err := r.connect()
		if errors.Is(err, ErrClosed) {
			r.setState(StateClosed, nil)
			return
		}
		if reachedReady {
			backoff = r.opts.MinBackoff
		}
		r.log.Warn("modem lost", "reason", err, "retry_in", backoff)
		r.setState(StateLost, err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-r.closing:
			t.Stop()
			r.setState(StateClosed, nil)
			return
		}
		backoff = min(2*backoff, r.opts.MaxBackoff)
	}
}

// conn is one connection to the modem, from open to failure.
type conn struct {
	r      *RNode
	port   Port
	frames chan kissMsg
	readEr chan error
	dec    KISSDecoder
	rssi   *int
	snr    *float64
	nextTx time.Time // pacing: the modem is still sending until then
}

type kissMsg struct {
	cmd     byte
	payload []byte
}

// maxPendingFrames bounds the frames the reader goroutine holds for the
// connection loop; the reader blocks when it is full (backpressure to the
// serial port, which RNode tolerates: its own serial writes block).
const maxPendingFrames = 64

func (r *RNode) connect() (reachedReady bool, err error) {
	port, err := r.opts.Open()
	if err != nil {
		return false, err
	}
	c := &conn{r: r, port: port, frames: make(chan kissMsg, maxPendingFrames), readEr: make(chan error, 1)}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go c.read(stop, readerDone)
	defer func() {
		close(stop)
		port.Close()
		<-readerDone
	}()
	if err := c.detect(); err != nil {
		return false, err
	}
	r.setState(StateConfiguring, nil)
	if err := c.configure(); err != nil {
		return false, err
	}
	r.setState(StateReady, nil)
	r.log.Info("modem ready", "freq_hz", r.opts.FrequencyHz, "sf", r.opts.Modulation.SF)
	err = c.serve()
	if errors.Is(err, ErrClosed) {
		c.write(CmdRadioState, []byte{RadioStateOff})
	}
	return true, err
}

func (c *conn) read(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 512)
	for {
		n, err := c.port.Read(buf)
		var blocked bool
		c.dec.Feed(buf[:n], func(cmd byte, payload []byte) {
			if blocked {
				return
			}
			select {
			case c.frames <- kissMsg{cmd, append([]byte(nil), payload...)}:
			case <-stop:
				blocked = true
			}
		})
		c.r.mu.Lock()
		c.r.stats.KISS = c.dec.Stats()
		c.r.mu.Unlock()
		if err == nil && n == 0 {
			err = io.EOF // a pty whose other side is gone may read 0, nil
		}
		if err != nil || blocked {
			c.readEr <- fmt.Errorf("reading port: %w", err)
			return
		}
	}
}

func (c *conn) write(cmd byte, payload []byte) error {
	if _, err := c.port.Write(AppendKISS(nil, cmd, payload)); err != nil {
		return fmt.Errorf("writing port: %w", err)
	}
	return nil
}

// await waits up to ReplyTimeout for a frame with cmd, handling every other
// frame on the way.
func (c *conn) await(cmd byte) ([]byte, error) {
	t := time.NewTimer(c.r.opts.ReplyTimeout)
	defer t.Stop()
	for {
		select {
		case m := <-c.frames:
			if m.cmd == cmd {
				return m.payload, nil
			}
			if err := c.handle(m); err != nil {
				return nil, err
			}
		case err := <-c.readEr:
			return nil, err
		case <-t.C:
			return nil, fmt.Errorf("command 0x%02x: %w", cmd, ErrNoAnswer)
		case <-c.r.closing:
			return nil, ErrClosed
		}
	}
}

// detect sends DETECT with the firmware, platform and MCU queries in one
// write, as RNodeInterface.detect does, and waits for the answers.
func (c *conn) detect() error {
	var b []byte
	b = AppendKISS(b, CmdDetect, []byte{DetectReq})
	b = AppendKISS(b, CmdFWVersion, []byte{0})
	b = AppendKISS(b, CmdPlatform, []byte{0})
	b = AppendKISS(b, CmdMCU, []byte{0})
	if _, err := c.port.Write(b); err != nil {
		return fmt.Errorf("detect: writing port: %w", err)
	}
	p, err := c.await(CmdDetect)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	if len(p) != 1 || p[0] != DetectResp {
		return fmt.Errorf("detect: answer %x: %w", p, ErrNotRNode)
	}
	var info DeviceInfo
	for _, q := range []byte{CmdFWVersion, CmdPlatform, CmdMCU} {
		p, err := c.await(q)
		if err != nil {
			return fmt.Errorf("detect: %w", err)
		}
		switch {
		case q == CmdFWVersion && len(p) == 2:
			info.FirmwareMajor, info.FirmwareMinor = p[0], p[1]
		case q == CmdPlatform && len(p) == 1:
			info.Platform = p[0]
		case q == CmdMCU && len(p) == 1:
			info.MCU = p[0]
		default:
			return fmt.Errorf("detect: answer to 0x%02x has %d bytes", q, len(p))
		}
	}
	c.r.mu.Lock()
	c.r.info = info
	c.r.mu.Unlock()
	return nil
}

// configure sends each setting and checks its echo. RNode answers every
// setting with the value it actually took (RNode_Firmware.ino
// serial_callback: kiss_indicate_frequency, …), clamped to what the radio
// can do, so a different echo means the hardware cannot do what we asked.
func (c *conn) configure() error {
	o := c.r.opts
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	alock := func(v uint16) int64 {
		if v >= 10000 { // RNode: a limit of 100 % or more is no limit, echoed as 0
			return 0
		}
		return int64(v)
	}
	steps := []struct {
		name string
		cmd  byte
		arg  []byte
		want int64
	}{
		{"frequency_hz", CmdFrequency, u32(o.FrequencyHz), int64(o.FrequencyHz)},
		{"bandwidth_hz", CmdBandwidth, u32(o.Modulation.BandwidthHz), int64(o.Modulation.BandwidthHz)},
		{"tx_power_dbm", CmdTxPower, []byte{byte(o.TxPowerDBm)}, int64(o.TxPowerDBm)},
		{"spreading_factor", CmdSF, []byte{o.Modulation.SF}, int64(o.Modulation.SF)},
		{"coding_rate", CmdCR, []byte{o.Modulation.CR}, int64(o.Modulation.CR)},
		{"short_term_airtime_lock", CmdStALock, u16(o.STALock), alock(o.STALock)},
		{"long_term_airtime_lock", CmdLtALock, u16(o.LTALock), alock(o.LTALock)},
		{"radio_state", CmdRadioState, []byte{RadioStateOn}, RadioStateOn},
	}
	for _, s := range steps {
		if err := c.write(s.cmd, s.arg); err != nil {
			return fmt.Errorf("configuring %s: %w", s.name, err)
		}
		p, err := c.await(s.cmd)
		if err != nil {
			return fmt.Errorf("configuring %s: %w", s.name, err)
		}
		var got int64
		switch {
		case len(p) == 4:
			got = int64(binary.BigEndian.Uint32(p))
		case len(p) == 2:
			got = int64(binary.BigEndian.Uint16(p))
		case len(p) == 1 && s.cmd == CmdTxPower:
			got = int64(int8(p[0]))
		case len(p) == 1:
			got = int64(p[0])
		default:
			return fmt.Errorf("configuring %s: echo of %d bytes", s.name, len(p))
		}
		if got != s.want {
			return &EchoMismatchError{Setting: s.name, Want: s.want, Got: got}
		}
	}
	return nil
}

// handle deals with a frame that no one is waiting for.
func (c *conn) handle(m kissMsg) error {
	switch m.cmd {
	case CmdStatRSSI:
		if len(m.payload) == 1 {
			v := int(m.payload[0]) - RSSIOffset
			c.rssi = &v
		}
	case CmdStatSNR:
		if len(m.payload) == 1 {
			v := float64(int8(m.payload[0])) * 0.25
			c.snr = &v
		}
	case CmdData:
		c.deliver(m.payload)
	case CmdError:
		c.r.count(func(s *RNodeStats) { s.ModemErrors++ })
		if len(m.payload) == 1 {
			err := ModemError{m.payload[0]}
			c.r.log.Warn("modem error", "err", err)
			if m.payload[0] == ErrCodeInitRadio {
				return err
			}
		}
	case CmdReset:
		// The modem rebooted: it forgot our settings.
		return errors.New("modem reset")
	case CmdRadioState:
		if len(m.payload) == 1 && m.payload[0] != RadioStateOn {
			return errors.New("modem radio turned off")
		}
	}
	return nil
}

func (c *conn) deliver(data []byte) {
	p := Packet{Data: data}
	if c.rssi != nil {
		p.RSSIDBm = *c.rssi
	}
	if c.snr != nil {
		p.SNRdB = *c.snr
	}
	c.rssi, c.snr = nil, nil
	select {
	case c.r.rx <- p:
		c.r.count(func(s *RNodeStats) { s.Received++ })
	default:
		c.r.count(func(s *RNodeStats) { s.RxDropped++ })
	}
}

// serve runs a configured connection: frames from the modem, frames to send,
// and a keepalive that asks the radio state when idle so a wedged modem is
// noticed.
func (c *conn) serve() error {
	keep := time.NewTicker(c.r.opts.Keepalive)
	defer keep.Stop()
	for {
		select {
		case m := <-c.frames:
			if err := c.handle(m); err != nil {
				return err
			}
		case err := <-c.readEr:
			return err
		case <-keep.C:
			if err := c.write(CmdRadioState, []byte{QueryByte}); err != nil {
				return err
			}
			p, err := c.await(CmdRadioState)
			if err != nil {
				return fmt.Errorf("keepalive: %w", err)
			}
			if len(p) != 1 || p[0] != RadioStateOn {
				return errors.New("keepalive: modem radio is off")
			}
		case req := <-c.r.tx:
			err := c.send(req)
			req.done <- err
			if err != nil && req.ctx.Err() == nil {
				return err
			}
		case <-c.r.closing:
			return ErrClosed
		}
	}
}

// send paces one frame: wait until the previous frame's airtime has passed,
// then ask READY until the modem has room, then write. RNode drops DATA
// silently when its queue is full (RNode_Firmware.ino serial_callback), so
// nothing is written before it said ready.
func (c *conn) send(req txReq) error {
	if d := time.Until(c.nextTx); d > 0 {
		if err := c.pause(req.ctx, d); err != nil {
			return err
		}
	}
	for {
		if err := req.ctx.Err(); err != nil {
			return err
		}
		if err := c.write(CmdReady, []byte{0}); err != nil {
			return err
		}
		p, err := c.await(CmdReady)
		if err != nil {
			return fmt.Errorf("asking ready: %w", err)
		}
		if len(p) == 1 && p[0] == ReadyYes {
			break
		}
		c.r.count(func(s *RNodeStats) { s.NotReady++ })
		if err := c.pause(req.ctx, c.r.opts.ReadyPoll); err != nil {
			return err
		}
	}
	if err := c.write(CmdData, req.data); err != nil {
		return err
	}
	c.nextTx = time.Now().Add(c.r.opts.Modulation.Airtime(len(req.data) + RNodeHeaderBytes))
	c.r.count(func(s *RNodeStats) { s.Sent++ })
	return nil
}

// pause waits d while still handling frames from the modem.
func (c *conn) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return nil
		case m := <-c.frames:
			if err := c.handle(m); err != nil {
				return err
			}
		case err := <-c.readEr:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-c.r.closing:
			return ErrClosed
		}
	}
}
