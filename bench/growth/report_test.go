package main

import (
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReport checks what make bench-growth writes from its rows: the
// summary's ratios from the smallest to the largest store, a CSV with one
// cell per header, and an SVG that parses, with a panel per metric.
func TestReport(t *testing.T) {
	o := options{rounds: 3, duration: 5 * time.Second, rate: 1000}
	rows := []row{
		{Envelopes: 1000, P50Ms: 1, P99Ms: 2, Throughput: 30000, SatCPUUs: 20, FillPutsPerS: 60000, Rounds: 3},
		{Envelopes: 1000000, P50Ms: 1.5, P99Ms: 3, Throughput: 20000, SatCPUUs: 30, FillPutsPerS: 20000, Rounds: 3},
	}
	summary := render(rows, o)
	want := "From 1000 to 1000000 stored (×1000): log n grows ×2.00; p50 ×1.50, p99 ×1.50, time per delivered envelope ×1.50, relay CPU per delivered envelope ×1.50, time per Put while filling ×3.00."
	if !strings.Contains(summary, want) {
		t.Errorf("summary:\n%s\nwant the line\n%s", summary, want)
	}

	path := filepath.Join(t.TempDir(), "growth.csv")
	if err := writeCSV(path, rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll() // fails if a row's cells differ in number from the header's
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 3 || records[1][0] != "1000" || records[2][len(csvHeader)-1] != "3" {
		t.Errorf("CSV %q", records)
	}

	svg := chart(rows, o)
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err != io.EOF {
				t.Fatalf("SVG does not parse: %v", err)
			}
			break
		}
	}
	if !strings.Contains(svg, "Relay CPU per delivered envelope") {
		t.Error("no CPU panel in the chart")
	}
}
