package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string ("168h").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"90s\" or \"168h\"", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ByteSize is a number of bytes written in TOML as a string with a unit:
// "B", "KiB", "MiB" or "GiB" ("512MiB").
type ByteSize int64

var byteUnits = []struct {
	suffix string
	size   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (s *ByteSize) UnmarshalText(b []byte) error {
	text := strings.TrimSpace(string(b))
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(text, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/u.size {
				break
			}
			*s = ByteSize(n * u.size)
			return nil
		}
	}
	return fmt.Errorf("%q is not a size like \"64KiB\" or \"512MiB\"", b)
}

func (s ByteSize) MarshalText() ([]byte, error) {
	for _, u := range byteUnits {
		if int64(s)%u.size == 0 && int64(s) >= u.size {
			return []byte(strconv.FormatInt(int64(s)/u.size, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(int64(s), 10) + "B"), nil
}

// Human returns s for people, in the largest binary unit that keeps it at
// least 1, with one decimal: "512 B", "1.5 KiB", "8.0 MiB".
func (s ByteSize) Human() string {
	const unit = 1024
	n := int64(s)
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
