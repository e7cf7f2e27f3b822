//go:build !unix

package client

import "os"

// lockFile does nothing where there is no flock (WebAssembly, Windows): one
// process per home is then up to the user.
func lockFile(*os.File) error { return nil }

// syncDir does nothing where directories cannot be synced.
func syncDir(string) error { return nil }
