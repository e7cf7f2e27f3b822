package config

import (
	"fmt"

	"github.com/cairnmesh/cairn/configs"
	"github.com/cairnmesh/cairn/radio"
)

// ResolveRadios validates every [[radio]] table against the region plans
// embedded in the binary and returns them with their defaults filled in and
// their band found. Errors name the key: "radio[0].frequency_hz: …".
func (c *Config) ResolveRadios() ([]radio.Resolved, error) {
	if len(c.Radios) == 0 {
		return nil, nil
	}
	regions, err := configs.Regions()
	if err != nil {
		return nil, fmt.Errorf("region plans: %w", err)
	}
	out := make([]radio.Resolved, len(c.Radios))
	ports := map[string]int{}
	for i, rc := range c.Radios {
		key := fmt.Sprintf("radio[%d]", i)
		if out[i], err = rc.Validate(key, regions); err != nil {
			return nil, err
		}
		if j, dup := ports[rc.Port]; dup {
			return nil, fmt.Errorf("%s.port: %q is already radio[%d]'s", key, rc.Port, j)
		}
		ports[rc.Port] = i
	}
	return out, nil
}
