//go:build unix

package store

import (
	"os"
	"syscall"
)

// sameOwner gives the file at path the owner and group of fi, so that a
// compaction run as root leaves a file the relay's user can still open.
func sameOwner(path string, fi os.FileInfo) error {
	want, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	cur, err := os.Stat(path)
	if err != nil {
		return err
	}
	if got, ok := cur.Sys().(*syscall.Stat_t); ok && got.Uid == want.Uid && got.Gid == want.Gid {
		return nil
	}
	return os.Chown(path, int(want.Uid), int(want.Gid))
}
