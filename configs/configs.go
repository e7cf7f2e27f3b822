// Package configs embeds the region plans (regions/*.toml) so that the
// binary needs no file beside it to validate a [[radio]] table. The example
// config and the systemd unit live here too, as plain files.
package configs

import (
	"embed"
	"sync"

	"github.com/cairnmesh/cairn/radio"
)

//go:embed regions/*.toml
var regionFiles embed.FS

var regions = sync.OnceValues(func() (map[string]*radio.Region, error) {
	return radio.LoadRegionsFS(regionFiles, "regions")
})

// Regions returns the embedded region plans keyed by upper-case name. The
// map is shared: do not modify it.
func Regions() (map[string]*radio.Region, error) { return regions() }
