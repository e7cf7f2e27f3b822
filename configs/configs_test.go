package configs

import "testing"

func TestRegionsEmbedded(t *testing.T) {
	r, err := Regions()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"EU868", "US915", "AU915", "AS923", "IN865"} {
		if r[name] == nil {
			t.Errorf("region %s missing", name)
		}
	}
}
