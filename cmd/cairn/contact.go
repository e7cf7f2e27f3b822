package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
)

const contactUsage = `usage:
  cairn contact add [--home DIR] [--name NAME] [--classical] CARD|DID
  cairn contact list [--home DIR]`

func runContact(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", contactUsage)
	}
	switch args[0] {
	case "add":
		return runContactAdd(args[1:])
	case "list":
		return runContactList(args[1:])
	}
	return fmt.Errorf("contact: unknown command %q\n%s", args[0], contactUsage)
}

func runContactAdd(args []string) error {
	fs := flag.NewFlagSet("contact add", flag.ContinueOnError)
	h := addHomeFlag(fs)
	name := fs.String("name", "", "what to call the contact")
	classical := fs.Bool("classical", false, "set sessions up without ML-KEM: small first messages, for contacts reached over LoRa only")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("contact add: want one contact card or did:key\n%s", contactUsage)
	}
	ks, err := h.open()
	if err != nil {
		return err
	}
	defer ks.Close()
	c, err := ks.AddContact(pos[0], *name, *classical)
	if err != nil {
		return explain(err, ks.Home())
	}
	how := "card: ready to write"
	if !c.HasBundle {
		how = "did:key only: the first message fetches their prekeys through the relay, so they must be online"
	}
	fmt.Printf("added %s (%s)\n  %s\n", c.Label(), c.DID, how)
	return nil
}

func runContactList(args []string) error {
	fs := flag.NewFlagSet("contact list", flag.ContinueOnError)
	h := addHomeFlag(fs)
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("contact list: unexpected argument %q", pos[0])
	}
	ks, err := h.open()
	if err != nil {
		return err
	}
	defer ks.Close()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tDID\tSTATUS")
	for _, c := range ks.Contacts() {
		status := "no session"
		switch {
		case c.Sessions > 0:
			status = "session"
		case c.HasKEM:
			status = "bundle (PQ)"
		case c.HasBundle:
			status = "card"
		}
		if c.Unknown {
			status += ", unknown: wrote first; confirm with contact add --name"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.Name, c.DID, status)
	}
	return w.Flush()
}
