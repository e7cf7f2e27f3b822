package main

// cairn store check|compact|export|import: maintenance of a relay's store
// with the relay stopped (docs/operations.md, "Store maintenance"). A
// running relay holds the store file's lock; every subcommand says so and
// changes nothing rather than wait for it.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"

	"go.etcd.io/bbolt"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/relay"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/store"
)

const storeUsage = `usage: cairn store COMMAND [--config FILE] [--data DIR]

With the relay stopped (sudo systemctl stop cairn), as its user (sudo -u cairn):
  check             check the store file's integrity and counts; exit 1 on problems
  compact           rewrite the store file without its free pages
  export > FILE     write every live envelope to FILE (a CBOR sequence, docs/protocol.md)
  import < FILE     store the envelopes of an export, through the usual checks and quotas

--data is the relay's data directory (default: data_dir of --config, else ./data);
import also takes the store limits and links from --config.
`

func runStore(args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, storeUsage)
		if len(args) == 0 {
			return errors.New("store: missing command")
		}
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("store "+cmd, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "the relay's TOML config `file`")
	dataDir := fs.String("data", "", "the relay's data `directory` (default: data_dir of --config, else ./data)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("store %s: unexpected argument %q", cmd, fs.Arg(0))
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	path := relay.StorePath(cfg)
	var err error
	switch cmd {
	case "check":
		err = storeCheck(os.Stdout, path)
	case "compact":
		err = storeCompact(os.Stdout, path)
	case "export":
		err = storeExport(os.Stdout, os.Stderr, path)
	case "import":
		err = storeImport(os.Stdin, os.Stderr, cfg)
	default:
		fmt.Fprint(os.Stderr, storeUsage)
		return fmt.Errorf("store: unknown command %q", cmd)
	}
	switch {
	case errors.Is(err, store.ErrInUse):
		err = fmt.Errorf("%w; stop it first (sudo systemctl stop cairn)", err)
	case errors.Is(err, os.ErrNotExist) && cmd != "import":
		err = fmt.Errorf("no store at %s (is %s the relay's data directory?)", path, cfg.DataDir)
	}
	return err
}

func storeCheck(w io.Writer, path string) error {
	snap, err := store.OpenSnapshot(path)
	if err != nil {
		return err
	}
	defer snap.Close()
	rep, err := snap.Check()
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	fmt.Fprintf(w, "store %s: format %d, %s on disk\n", path, rep.Format, config.ByteSize(rep.FileBytes).Human())
	fmt.Fprintf(w, "envelopes %d (%s), %d expired not yet swept; %d seen ids; %d tags; %d auth keys\n",
		rep.Envelopes, config.ByteSize(rep.Bytes).Human(), rep.Expired, rep.Seen, rep.Tags, rep.AuthKeys)
	for _, l := range slices.Sorted(maps.Keys(rep.Owed)) {
		fmt.Fprintf(w, "link %s owes %d\n", l, rep.Owed[l])
	}
	if rep.OK() {
		fmt.Fprintln(w, "ok")
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
	n := len(rep.Problems) + rep.MoreProblems
	if rep.MoreProblems > 0 {
		fmt.Fprintf(w, "… and %d more\n", rep.MoreProblems)
	}
	return fmt.Errorf("store check: %d problems in %s", n, path)
}

func storeCompact(w io.Writer, path string) error {
	c, err := store.Compact(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "compacted %s: %s → %s\n", path, config.ByteSize(c.Before).Human(), config.ByteSize(c.After).Human())
	return nil
}

// storeExport writes every live envelope of the store at path to out as an
// envelope stream, and a summary to log.
func storeExport(out *os.File, log io.Writer, path string) error {
	if fi, err := out.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return errors.New("store export writes binary to standard output: redirect it to a file")
	}
	snap, err := store.OpenSnapshot(path)
	if err != nil {
		return err
	}
	defer snap.Close()
	bw := bufio.NewWriterSize(out, 64<<10)
	var n, bytes int
	var werr error
	err = snap.Each(func(it store.Item) bool {
		item := codec.AppendStreamItem(nil, it.Envelope.Encode())
		if _, werr = bw.Write(item); werr != nil {
			return false
		}
		n++
		bytes += len(item)
		return true
	})
	if err == nil {
		err = werr
	}
	if err == nil {
		err = bw.Flush()
	}
	if fi, serr := out.Stat(); err == nil && serr == nil && fi.Mode().IsRegular() {
		err = out.Sync()
	}
	if err != nil {
		return fmt.Errorf("exporting %s: %w", path, err)
	}
	fmt.Fprintf(log, "exported %d envelopes (%s) from %s\n", n, config.ByteSize(int64(bytes)).Human(), path)
	return nil
}

// storeImport reads an envelope stream from in and stores each envelope as
// the relay would take it from a handheld: decoded strictly, receipts
// verified and applied, through Put with the relay's limits and links, so
// that the links owe every imported envelope. It pipelines the Puts (one
// group commit for many) and reports what was refused, by reason. It
// returns an error when the stream is cut or malformed, a write failed, or
// an envelope was refused for any reason but being stored already.
func storeImport(in io.Reader, log io.Writer, cfg *config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	opts := storeOptions(cfg, slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})))
	st, err := store.Open(opts)
	if errors.Is(err, bbolt.ErrTimeout) {
		err = fmt.Errorf("opening store %s: %w", opts.Path, store.ErrInUse)
	}
	if err != nil {
		return err
	}

	var (
		mu      sync.Mutex // guards stored and refused
		stored  int
		refused = map[string]int{}
		wg      sync.WaitGroup
	)
	outcome := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			stored++
		} else {
			refused[importReason(err)]++
		}
	}
	r := codec.NewStreamReader(in)
	items := 0
	var readErr error
	for {
		raw, err := r.Next()
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
		items++
		e, err := codec.DecodeEnvelope(raw)
		if err != nil {
			outcome(err)
			continue
		}
		wg.Add(1)
		if e.Kind != codec.KindReceipt {
			st.PutAsync(e, store.LinkLocal, func(_ codec.ID, err error) { outcome(err); wg.Done() })
			continue
		}
		rc, err := codec.OpenReceipt(e)
		if err != nil {
			outcome(err)
			wg.Done()
			continue
		}
		st.PutReceiptAsync(e, rc.IDs, store.LinkLocal, func(_ int, err error) { outcome(err); wg.Done() })
	}
	wg.Wait()
	cerr := st.Close()

	fmt.Fprintf(log, "imported %d of %d envelopes into %s", stored, items, opts.Path)
	if len(refused) > 0 {
		var parts []string
		for _, reason := range slices.Sorted(maps.Keys(refused)) {
			parts = append(parts, fmt.Sprintf("%d %s", refused[reason], reason))
		}
		fmt.Fprintf(log, "; not stored: %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(log)
	switch {
	case readErr != nil:
		return fmt.Errorf("import stopped after %d envelopes: %w", items, readErr)
	case cerr != nil:
		return cerr
	case len(refused) > refused["duplicate"]:
		lost := 0
		for reason, n := range refused {
			if reason != "duplicate" {
				lost += n
			}
		}
		return fmt.Errorf("import: %d envelopes refused", lost)
	}
	return nil
}

// importReason names why an imported envelope was not stored.
func importReason(err error) string {
	for _, r := range []struct {
		err  error
		name string
	}{
		{store.ErrDuplicate, "duplicate"},
		{store.ErrQuota, "quota"},
		{store.ErrTooLarge, "too_large"},
		{store.ErrExpired, "expired"},
		{store.ErrHopLimit, "hop_limit"},
		{syscall.ENOSPC, "disk_full"},
	} {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	if r := codec.Reason(err); r != "other" {
		return r
	}
	return "error: " + err.Error()
}

// storeOptions are the store options relay.New uses for cfg, so that what
// import stores is owed to each uplink and radio.
func storeOptions(cfg *config.Config, log *slog.Logger) store.Options {
	o := relay.StoreOptions(cfg)
	o.Logger = log
	return o
}
