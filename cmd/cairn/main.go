// Command cairn is the Cairn relay and its tools. Each subcommand turns flags
// into a config and calls into the packages; nothing else lives here.
package main

import (
	"fmt"
	"os"
)

// version is stamped at build time with -ldflags "-X main.version=…" from
// git describe.
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("cairn", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: cairn version")
	os.Exit(2)
}
