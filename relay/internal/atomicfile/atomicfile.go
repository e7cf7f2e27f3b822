// Package atomicfile writes the relay's small state files so that a power
// cut leaves either the old file or the new one, never a torn mix.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data (mode 0600): temporary file in the same
// directory, fsync, rename, fsync of the directory.
func Write(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
