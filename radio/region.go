package radio

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Region is a regulatory plan: the bands a radio may use and their limits.
// Plans live in configs/regions/*.toml, one file per region, with sources.
type Region struct {
	Name  string `toml:"name"`
	Bands []Band `toml:"band"`
}

// Band is one sub-band of a region.
type Band struct {
	Name             string  `toml:"name"`
	LowHz            uint32  `toml:"low_hz"`
	HighHz           uint32  `toml:"high_hz"`
	DutyCyclePercent float64 `toml:"duty_cycle_percent"` // airtime per rolling hour
	MaxEIRPdBm       int     `toml:"max_eirp_dbm"`
	MaxDwellMs       int     `toml:"max_dwell_ms"` // longest single transmission; 0 means no limit
}

// ParseRegion reads a region plan strictly: unknown keys are errors.
func ParseRegion(b []byte) (*Region, error) {
	var r Region
	d := toml.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("region plan: %w", err)
	}
	if r.Name == "" {
		return nil, errors.New("region plan: name: missing")
	}
	if len(r.Bands) == 0 {
		return nil, fmt.Errorf("region %s: no band", r.Name)
	}
	for i, b := range r.Bands {
		switch {
		case b.LowHz == 0 || b.HighHz <= b.LowHz:
			return nil, fmt.Errorf("region %s: band[%d].high_hz must exceed low_hz > 0", r.Name, i)
		case b.DutyCyclePercent <= 0 || b.DutyCyclePercent > 100:
			return nil, fmt.Errorf("region %s: band[%d].duty_cycle_percent %v: want (0, 100]", r.Name, i, b.DutyCyclePercent)
		case b.MaxDwellMs < 0:
			return nil, fmt.Errorf("region %s: band[%d].max_dwell_ms is negative", r.Name, i)
		}
	}
	return &r, nil
}

// LoadRegions reads every *.toml in dir, keyed by upper-case name.
func LoadRegions(dir string) (map[string]*Region, error) {
	return LoadRegionsFS(os.DirFS(dir), ".")
}

// LoadRegionsFS is LoadRegions on a file system, e.g. the plans embedded in
// the binary (package configs).
func LoadRegionsFS(fsys fs.FS, dir string) (map[string]*Region, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.toml"))
	if err != nil {
		return nil, err
	}
	out := map[string]*Region{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("loading regions: %w", err)
		}
		r, err := ParseRegion(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out[strings.ToUpper(r.Name)] = r
	}
	return out, nil
}

// Band returns the band that holds a whole channel of bandwidthHz centred
// on frequencyHz.
func (r *Region) Band(frequencyHz, bandwidthHz uint32) (Band, bool) {
	lo, hi := frequencyHz-bandwidthHz/2, frequencyHz+bandwidthHz/2
	for _, b := range r.Bands {
		if lo >= b.LowHz && hi <= b.HighHz {
			return b, true
		}
	}
	return Band{}, false
}
