package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Storage keeps a keystore's one encoded file (docs/crypto.md, "Keystore").
// The keystore encrypts what it hands over when it has a passphrase, so a
// Storage sees the same bytes a keystore file holds. A Storage is used by
// one Keystore at a time, under that keystore's lock.
//
// The file-based one (a home directory: CreateKeystore, OpenKeystore) is
// what the CLI uses; the web client keeps the bytes in the browser's
// IndexedDB (web/wasm).
type Storage interface {
	// Load returns the stored bytes, or an error wrapping fs.ErrNotExist
	// when nothing is stored yet.
	Load() ([]byte, error)
	// Save replaces the stored bytes so that after a crash at any point
	// Load returns either the old or the new ones, and returns once they
	// are durable.
	Save(data []byte) error
	// Close lets go of the storage (locks, handles). No call follows it.
	Close() error
}

// dirStorage is a keystore file in a home directory, written crash-safely,
// with an exclusive lock on home/lock while open so that two processes
// never write one keystore.
type dirStorage struct {
	home string
	lock *os.File // exclusive lock on home/lock while open
}

// openDirStorage takes the home directory's lock and removes temporary
// files a crash left behind.
func openDirStorage(home string) (*dirStorage, error) {
	f, err := os.OpenFile(filepath.Join(home, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s): %v", ErrInUse, home, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(home, "."+keystoreName+".tmp-*"))
	for _, l := range leftovers {
		os.Remove(l)
	}
	return &dirStorage{home: home, lock: f}, nil
}

func (d *dirStorage) path() string { return filepath.Join(d.home, keystoreName) }

// Load refuses a file that others may read (ErrInsecure) or that is larger
// than any keystore (ErrBadKeystore).
func (d *dirStorage) Load() ([]byte, error) {
	f, err := os.Open(d.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: %w", ErrNoKeystore, d.home, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %#o", ErrInsecure, d.path(), fi.Mode().Perm())
	}
	if fi.Size() > maxKeystoreBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadKeystore, fi.Size(), maxKeystoreBytes)
	}
	raw := make([]byte, fi.Size())
	if _, err := readFull(f, raw); err != nil {
		return nil, fmt.Errorf("reading keystore: %w", err)
	}
	return raw, nil
}

func (d *dirStorage) Save(data []byte) error { return writeFileAtomic(d.home, keystoreName, data) }

func (d *dirStorage) Close() error {
	if d.lock == nil {
		return nil
	}
	err := d.lock.Close() // closing drops the lock
	d.lock = nil
	return err
}

func readFull(f *os.File, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := f.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// beforeRename, when set by a test, runs after the temporary file is
// durable and before it replaces the keystore; an error aborts the write.
var beforeRename func(tmp string) error

// writeFileAtomic replaces dir/name with data so that after a crash at any
// point the file holds either the old or the new contents: write a
// temporary file in the same directory, fsync it, rename it over the old
// one, fsync the directory so the rename itself is durable.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		if err = beforeRename(tmp); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}
