package radiotest

import (
	"strings"
	"testing"
)

func TestSimConfig(t *testing.T) {
	dir := t.TempDir()
	c, err := ParseSimConfig([]byte(`
seed = 3
dir = "` + dir + `"
[[node]]
id = 1
[[node]]
id = 2
[[link]]
a = 1
b = 2
loss = 0.2
snr_db = -5.0
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartSim(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Nodes) != 2 || !strings.HasPrefix(s.Nodes[2].Path(), dir) {
		t.Errorf("nodes %v", s.Nodes)
	}
	for _, tc := range []struct{ toml, key string }{
		{"dir = \"x\"\n[[node]]\nid = 1\n[[link]]\na = 1\nb = 3\n", "link[0].b"},
		{"dir = \"x\"\n[[node]]\nid = 1\n[[node]]\nid = 1\n", "node[1].id"},
		{"[[node]]\nid = 1\n", "dir"},
		{"dir = \"x\"\nspeed = 1\n", "speed"},
	} {
		if _, err := ParseSimConfig([]byte(tc.toml)); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: %v, want an error naming %s", tc.toml, err, tc.key)
		}
	}
}
