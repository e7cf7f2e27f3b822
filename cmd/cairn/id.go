package main

import (
	"flag"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/cairnmesh/cairn/client"
)

const idUsage = `usage:
  cairn id new  [--home DIR] [--encrypt]   make an identity (passphrase from CAIRN_PASSPHRASE)
  cairn id show [--home DIR] [--qr]        print its did:key, routing tag and contact card`

func runID(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", idUsage)
	}
	switch args[0] {
	case "new":
		return runIDNew(args[1:])
	case "show":
		return runIDShow(args[1:])
	}
	return fmt.Errorf("id: unknown command %q\n%s", args[0], idUsage)
}

func runIDNew(args []string) error {
	fs := flag.NewFlagSet("id new", flag.ContinueOnError)
	h := addHomeFlag(fs)
	encrypt := fs.Bool("encrypt", false, "encrypt the keystore with the passphrase in CAIRN_PASSPHRASE")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("id new: unexpected argument %q\n%s", pos[0], idUsage)
	}
	home, err := h.homeDir()
	if err != nil {
		return err
	}
	var pass []byte
	if *encrypt {
		if pass = passphrase(); len(pass) == 0 {
			return fmt.Errorf("id new --encrypt: set CAIRN_PASSPHRASE to the passphrase to use")
		}
	}
	ks, err := client.CreateKeystore(home, pass)
	if err != nil {
		return explain(err, home)
	}
	defer ks.Close()
	fmt.Printf("new identity in %s\n", home)
	printIdentity(ks)
	return nil
}

func runIDShow(args []string) error {
	fs := flag.NewFlagSet("id show", flag.ContinueOnError)
	h := addHomeFlag(fs)
	qr := fs.Bool("qr", false, "also print the contact card as a QR code")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("id show: unexpected argument %q\n%s", pos[0], idUsage)
	}
	ks, err := h.open()
	if err != nil {
		return err
	}
	defer ks.Close()
	if *qr {
		q, err := qrcode.New(ks.Card(), qrcode.Low)
		if err != nil {
			return fmt.Errorf("making the QR code: %w", err)
		}
		// Light modules as blocks: right on the usual dark terminal.
		fmt.Print(q.ToSmallString(false))
	}
	printIdentity(ks)
	return nil
}

func printIdentity(ks *client.Keystore) {
	fmt.Printf("did:  %s\n", ks.DID())
	fmt.Printf("tag:  %s\n", ks.Identity().Public().Tag())
	fmt.Printf("card: %s\n", ks.Card())
}
