package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"go.bug.st/serial/enumerator"

	"github.com/cairnmesh/cairn/radio"
)

const radioUsage = `usage:
  cairn radio airtime [--sf 9] [--bw 125000] [--cr 5] [--duty 1] BYTES...   cost on air of envelopes of BYTES
  cairn radio list [--timeout 1s]                                          serial ports, USB ids, RNode or not
  cairn radio probe [--timeout 2s] PORT                                    firmware, platform, settings of a modem`

func runRadio(args []string) error {
	if len(args) == 0 {
		return errors.New(radioUsage)
	}
	switch args[0] {
	case "airtime":
		return radioAirtime(args[1:])
	case "list":
		return radioList(args[1:])
	case "probe":
		return radioProbe(args[1:])
	}
	return fmt.Errorf("radio: unknown command %q\n%s", args[0], radioUsage)
}

// radioAirtime prints, for each envelope size, the link frames it becomes,
// the bytes on air (RNode's header byte included) and the time on air, and
// how many such envelopes a duty cycle allows per hour.
func radioAirtime(args []string) error {
	fs := flag.NewFlagSet("radio airtime", flag.ContinueOnError)
	sf := fs.Uint("sf", radio.DefaultSpreadingFactor, "spreading factor 5…12")
	bw := fs.Uint("bw", radio.DefaultBandwidthHz, "bandwidth in Hz")
	cr := fs.Uint("cr", radio.DefaultCodingRate, "coding rate denominator 5…8 (4/5…4/8)")
	duty := fs.Float64("duty", 1, "duty cycle in percent, for the per-hour column")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("radio airtime: give one or more envelope sizes in bytes")
	}
	m := radio.Modulation{BandwidthHz: uint32(*bw), SF: uint8(*sf), CR: uint8(*cr)}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("radio airtime: %w", err)
	}
	if *duty <= 0 || *duty > 100 {
		return fmt.Errorf("radio airtime: --duty %v: want (0, 100]", *duty)
	}
	fmt.Printf("SF%d, %d Hz, CR 4/%d, preamble 8, explicit header, CRC; duty cycle %v %%\n", m.SF, m.BandwidthHz, m.CR, *duty)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "envelope B\tframes\tframe B\ton air B\tairtime\tper hour\t")
	for _, a := range fs.Args() {
		n, err := strconv.Atoi(a)
		if err != nil || n < 1 || n > radio.MaxLinkEnvelope {
			return fmt.Errorf("radio airtime: %q: want 1 … %d bytes", a, radio.MaxLinkEnvelope)
		}
		frames := []int{n + radio.WholeHeaderBytes}
		if n > radio.MaxWholeEnvelope {
			frames = frames[:0]
			for left := n; left > 0; left -= radio.FragmentDataBytes {
				frames = append(frames, radio.FragmentHeaderBytes+min(left, radio.FragmentDataBytes))
			}
		}
		var frameBytes, airBytes int
		var air time.Duration
		for _, f := range frames {
			frameBytes += f
			airBytes += f + radio.RNodeHeaderBytes
			air += m.Airtime(f + radio.RNodeHeaderBytes)
		}
		perHour := int64(float64(time.Hour) * *duty / 100 / float64(air))
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%v\t%d\t\n", n, len(frames), frameBytes, airBytes, air, perHour)
	}
	return w.Flush()
}

// radioList prints every serial port with its USB ids and whether an RNode
// answers DETECT on it. A port in use by a running relay is reported busy.
func radioList(args []string) error {
	fs := flag.NewFlagSet("radio list", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Second, "how long to wait for a modem's answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return fmt.Errorf("radio list: %w", err)
	}
	if len(ports) == 0 {
		fmt.Println("no serial ports")
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PORT\tUSB VID:PID\tSERIAL\tPRODUCT\tRNODE")
	for _, p := range ports {
		ids := "-"
		if p.IsUSB {
			ids = p.VID + ":" + p.PID
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", p.Name, ids, dash(p.SerialNumber), dash(p.Product), detect(p.Name, *timeout))
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func detect(path string, timeout time.Duration) string {
	port, err := radio.SerialOpener(path)()
	if err != nil {
		return "cannot open: " + err.Error()
	}
	defer port.Close()
	res, err := radio.Probe(port, timeout)
	if err != nil {
		return "no"
	}
	return fmt.Sprintf("yes, firmware %d.%02d, %s", res.FirmwareMajor, res.FirmwareMinor, radio.PlatformName(res.Platform))
}

// radioProbe prints what the modem on PORT says about itself and how it is
// set now, configuring nothing.
func radioProbe(args []string) error {
	fs := flag.NewFlagSet("radio probe", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the modem's answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: cairn radio probe [--timeout 2s] PORT")
	}
	port, err := radio.SerialOpener(fs.Arg(0))()
	if err != nil {
		return err
	}
	defer port.Close()
	res, err := radio.Probe(port, *timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	state := "off"
	if res.RadioOn {
		state = "on"
	}
	fmt.Printf("port:        %s\n", fs.Arg(0))
	fmt.Printf("firmware:    %d.%02d\n", res.FirmwareMajor, res.FirmwareMinor)
	fmt.Printf("platform:    %s, MCU 0x%02x\n", radio.PlatformName(res.Platform), res.MCU)
	fmt.Printf("radio:       %s\n", state)
	fmt.Printf("frequency:   %d Hz\n", res.FrequencyHz)
	fmt.Printf("bandwidth:   %d Hz\n", res.BandwidthHz)
	fmt.Printf("SF, CR:      %d, 4/%d\n", res.SF, res.CR)
	fmt.Printf("TX power:    %d dBm\n", res.TxPowerDBm)
	if res.RSSIDBm != nil {
		fmt.Printf("channel RSSI: %d dBm\n", *res.RSSIDBm)
	} else {
		fmt.Printf("channel RSSI: not reported (the modem sends it with STAT_CHTM on ESP32 and nRF52 firmware)\n")
	}
	return nil
}
