package main

// systemd's notification protocol (sd_notify(3)), the few lines of it the
// relay needs, so that no libsystemd or module is linked: one datagram of
// newline-separated VAR=value lines to the unix socket named in
// $NOTIFY_SOCKET (a leading @ means the abstract namespace). With
// Type=notify the unit is "started" at READY=1, and with WatchdogSec= the
// relay must send WATCHDOG=1 at least every $WATCHDOG_USEC or be killed and
// restarted. Outside systemd $NOTIFY_SOCKET is unset and all of this does
// nothing.
//
// A reload (SIGHUP or cairn reload) is RELOADING=1 with MONOTONIC_USEC,
// then READY=1 once it is over. The unit's ExecReload= runs cairn reload,
// which itself waits for the outcome, and systemd ignores both messages
// while it runs; they matter for a SIGHUP sent by hand (systemd shows the
// unit reloading until READY=1) and for a Type=notify-reload drop-in on
// systemd 253 or later, which takes the reload as begun only at a
// RELOADING=1 stamped after its own signal (docs/operations.md,
// "Reloading").

import (
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// sdNotify sends state to the service manager. It returns nil and does
// nothing when $NOTIFY_SOCKET is unset.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	} else if path[0] != '/' {
		return errors.New("NOTIFY_SOCKET is neither a path nor an abstract socket")
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// sdReloading tells the service manager that a reload has begun:
// RELOADING=1 and MONOTONIC_USEC, the CLOCK_MONOTONIC time in µs, in one
// message (sd_notify(3)). READY=1 must follow when it is over.
func sdReloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return err
	}
	return sdNotify("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10))
}

// sdWatchdogInterval returns how often to send WATCHDOG=1: half the
// interval systemd asked for, so that one late tick is no restart. It is 0
// when no watchdog is set for this process.
func sdWatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0 // meant for another process
	}
	return time.Duration(usec) * time.Microsecond / 2
}
