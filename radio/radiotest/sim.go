package radiotest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// SimConfig is the TOML of `cairn sim air`: fake RNodes on ptys whose
// radios share one simulated air, joined by a range graph.
//
//	seed = 1              # loss is random but repeatable
//	dir = "/tmp/cairn-air" # where each node's port symlink ttyRNode<id> goes
//	[[node]]
//	id = 1
//	[[link]]              # in range; both ways unless one_way
//	a = 1
//	b = 2
//	loss = 0.2            # probability a frame is lost, 0…1
//	rssi_dbm = -110
//	snr_db = -5.0
type SimConfig struct {
	Seed  uint64    `toml:"seed"`
	Dir   string    `toml:"dir"`
	Nodes []SimNode `toml:"node"`
	Links []SimLink `toml:"link"`
}

// SimNode is one fake modem.
type SimNode struct {
	ID uint16 `toml:"id"`
}

// SimLink puts two nodes in range.
type SimLink struct {
	A       uint16  `toml:"a"`
	B       uint16  `toml:"b"`
	Loss    float64 `toml:"loss"`
	RSSIDBm int16   `toml:"rssi_dbm"` // 0: −90
	SNRdB   float64 `toml:"snr_db"`   // 0: 10
	OneWay  bool    `toml:"one_way"`  // only A → B
}

// ParseSimConfig reads a SimConfig strictly: unknown keys and bad values
// are errors naming the key.
func ParseSimConfig(data []byte) (*SimConfig, error) {
	var c SimConfig
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			return nil, fmt.Errorf("sim config: unknown key %s", strings.Join(strict.Errors[0].Key(), "."))
		}
		return nil, fmt.Errorf("sim config: %w", err)
	}
	if c.Dir == "" {
		return nil, errors.New("sim config: dir: missing")
	}
	ids := map[uint16]bool{}
	for i, n := range c.Nodes {
		if n.ID == 0 || ids[n.ID] {
			return nil, fmt.Errorf("sim config: node[%d].id: %d is zero or repeated", i, n.ID)
		}
		ids[n.ID] = true
	}
	for i, l := range c.Links {
		switch {
		case !ids[l.A]:
			return nil, fmt.Errorf("sim config: link[%d].a: no node %d", i, l.A)
		case !ids[l.B] || l.A == l.B:
			return nil, fmt.Errorf("sim config: link[%d].b: no other node %d", i, l.B)
		case l.Loss < 0 || l.Loss > 1:
			return nil, fmt.Errorf("sim config: link[%d].loss: %v not in 0…1", i, l.Loss)
		case l.SNRdB < -32 || l.SNRdB > 31.75:
			return nil, fmt.Errorf("sim config: link[%d].snr_db: %v not in −32…31.75", i, l.SNRdB)
		}
	}
	return &c, nil
}

// Sim is a running simulated air with its fake modems.
type Sim struct {
	Air   *Air
	Nodes map[uint16]*FakeRNode
}

// StartSim runs c: the air, its links and a fake RNode per node.
func StartSim(c *SimConfig) (*Sim, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	air, err := NewAir(c.Seed)
	if err != nil {
		return nil, err
	}
	s := &Sim{Air: air, Nodes: map[uint16]*FakeRNode{}}
	for _, l := range c.Links {
		link := Link{Loss: l.Loss, RSSIDBm: l.RSSIDBm, SNRQuarter: int8(l.SNRdB * 4)}
		if l.OneWay {
			air.SetLink(l.A, l.B, link)
		} else {
			air.Connect(l.A, l.B, link)
		}
	}
	for _, n := range c.Nodes {
		f, err := NewFakeRNode(FakeRNodeOptions{Air: air, Node: n.ID, Dir: c.Dir})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Nodes[n.ID] = f
	}
	return s, nil
}

// Close stops the modems and the air.
func (s *Sim) Close() error {
	for _, f := range s.Nodes {
		f.Close()
	}
	return s.Air.Close()
}
