// Command cairn is the Cairn relay and its tools. Each subcommand turns flags
// into a config and calls into the packages; nothing else lives here. Run
// `cairn help` for the list.
package main

import (
	"fmt"
	"os"
)

// version is stamped at build time with -ldflags "-X main.version=…" from
// git describe.
var version = "dev"

const usage = `usage: cairn COMMAND [flags]

The relay:
  relay [--config FILE] [--data DIR] [--mqtt ADDR]   run the relay (--pprof ADDR: profiles)
  status [--data DIR] [--config FILE] [--json]       show a running relay's state and uplinks
  reload [--data DIR] [--config FILE]                re-read a running relay's config; fail if refused
  config check FILE                                  validate a config file
  store check|compact|export|import [--data DIR]     maintain a stopped relay's store (cairn store help)

A handheld (keystore in --home DIR, $CAIRN_HOME or ~/.cairn; --relay mqtt://HOST:PORT):
  id new|show [--qr]                                 make or show your identity and contact card
  contact add|list                                   add a contact from a card or did:key
  send [--urgent] DID TEXT                           send one message
  inbox [--follow] [--notices=false]                 read (and keep reading) your messages
  chat [--urgent] [--notices=false] DID              talk, line by line

Radios and tools:
  radio airtime|list|probe                           LoRa airtime, serial ports, modem details
  sim air CONFIG                                     run simulated air for fake modems
  bench [flags]                                      load a relay or an MQTT broker
  version                                            print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "relay":
		err = runRelay(args)
	case "status":
		err = runStatus(args)
	case "reload":
		err = runReload(args)
	case "config":
		err = runConfig(args)
	case "store":
		err = runStore(args)
	case "bench":
		err = runBench(args)
	case "id":
		err = runID(args)
	case "contact":
		err = runContact(args)
	case "send":
		err = runSend(args)
	case "inbox":
		err = runInbox(args)
	case "chat":
		err = runChat(args)
	case "radio":
		err = runRadio(args)
	case "sim":
		err = runSim(args)
	case "version":
		fmt.Println("cairn", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "cairn: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cairn:", err)
		os.Exit(1)
	}
}
