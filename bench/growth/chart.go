package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// series is one line in a panel.
type series struct {
	name  string
	color string
	get   func(row) float64
}

// panel is one small chart: a metric against stored envelopes.
type panel struct {
	title  string
	unit   string
	series []series
	limit  float64 // a budget drawn as a dashed line; 0 means none
	limitS string
}

const (
	panelW, panelH = 300, 200 // px, one panel with its margins
	plotL, plotR   = 48, 12   // margins inside a panel
	plotT, plotB   = 38, 30
	columns        = 3
)

// chart draws rows as an SVG: one panel per metric, x = stored envelopes on
// a log scale.
func chart(rows []row, o options) string {
	panels := []panel{
		{title: fmt.Sprintf("Publish → delivery latency, %.0f msg/s", o.rate), unit: "ms", series: []series{
			{"p50", "#1f77b4", func(r row) float64 { return r.P50Ms }},
			{"p99", "#d62728", func(r row) float64 { return r.P99Ms }},
		}, limit: 10, limitS: "p99 target 10 ms"},
		{title: "Delivered, 16 → 16 QoS 1 saturation", unit: "msg/s", series: []series{
			{"msg/s", "#2ca02c", func(r row) float64 { return r.Throughput }},
		}},
		{title: "Relay CPU per delivered envelope, 16 → 16", unit: "µs", series: []series{
			{"µs", "#bcbd22", func(r row) float64 { return r.SatCPUUs }},
		}},
		{title: "Resident memory after the latency run", unit: "MB", series: []series{
			{"VmRSS", "#000000", func(r row) float64 { return r.RSSMB }},
			{"RssFile", "#ff7f0e", func(r row) float64 { return r.FileMB }},
			{"RssAnon", "#9467bd", func(r row) float64 { return r.AnonMB }},
		}, limit: 40, limitS: "budget 40 MB (at 100,000)"},
		{title: "Start-up: launch → CONNACK", unit: "ms", series: []series{
			{"start-up", "#8c564b", func(r row) float64 { return r.StartupMs }},
		}, limit: 1000, limitS: "target 1 s"},
		{title: "Store file", unit: "MiB", series: []series{
			{"file", "#7f7f7f", func(r row) float64 { return r.StoreMiB }},
		}},
		{title: "Filling: Puts/s (512 concurrent)", unit: "Puts/s", series: []series{
			{"Puts/s", "#17becf", func(r row) float64 { return r.FillPutsPerS }},
		}},
	}
	nrows := (len(panels) + columns - 1) / columns
	w, h := columns*panelW, nrows*panelH+24
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="10">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="8" y="16" font-size="12" font-weight="bold">Cairn relay cost against envelopes already stored (x: log scale; medians of %d rounds)</text>`+"\n", o.rounds)
	for i, p := range panels {
		x0, y0 := (i%columns)*panelW, 24+(i/columns)*panelH
		drawPanel(&b, p, rows, x0, y0)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func drawPanel(b *strings.Builder, p panel, rows []row, x0, y0 int) {
	pw, ph := float64(panelW-plotL-plotR), float64(panelH-plotT-plotB)
	left, top := float64(x0+plotL), float64(y0+plotT)
	// x: whole decades around the sizes.
	lo, hi := math.Floor(math.Log10(float64(rows[0].Envelopes))), math.Ceil(math.Log10(float64(rows[len(rows)-1].Envelopes)))
	if hi == lo {
		hi = lo + 1
	}
	xAt := func(n int) float64 { return left + (math.Log10(float64(n))-lo)/(hi-lo)*pw }
	// y: from 0 to a round number above every value and the limit.
	ymax := p.limit
	for _, s := range p.series {
		for _, r := range rows {
			ymax = math.Max(ymax, s.get(r))
		}
	}
	ymax, step := niceScale(ymax * 1.05)
	yAt := func(v float64) float64 { return top + ph - v/ymax*ph }

	fmt.Fprintf(b, `<g><text x="%d" y="%d" font-size="11" font-weight="bold">%s</text>`+"\n", x0+8, y0+14, html.EscapeString(p.title))
	for v := 0.0; v <= ymax+step/2; v += step {
		y := yAt(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`, left, y, left+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, y+3, short(v))
	}
	for d := lo; d <= hi; d++ {
		x := left + (d-lo)/(hi-lo)*pw
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`, x, top, x, top+ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, top+ph+12, short(math.Pow(10, d)))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">stored envelopes</text>`+"\n", left+pw/2, top+ph+24)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" fill="#555">%s</text>`+"\n", x0+4, top-6, html.EscapeString(p.unit))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", left, top, pw, ph)
	if p.limit > 0 {
		y := yAt(p.limit)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/>`, left, y, left+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#d62728">%s</text>`+"\n", left+pw-2, y-3, html.EscapeString(p.limitS))
	}
	legend := left + 4
	for _, s := range p.series {
		var pts []string
		for _, r := range rows {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xAt(r.Envelopes), yAt(s.get(r))))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, strings.Join(pts, " "), s.color)
		for _, pt := range pts {
			x, y, _ := strings.Cut(pt, ",")
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, x, y, s.color)
		}
		if len(p.series) > 1 {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`, legend, top+11, s.color, html.EscapeString(s.name))
			legend += float64(7*len(s.name) + 12)
		}
		b.WriteString("\n")
	}
	b.WriteString("</g>\n")
}

// niceScale returns a round maximum at or above v and a step that divides
// it into 4 to 10 parts.
func niceScale(v float64) (max, step float64) {
	if v <= 0 {
		return 1, 0.25
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10} {
		step = m * mag
		if math.Ceil(v/step) <= 5 {
			break
		}
	}
	return math.Ceil(v/step) * step, step
}

// short formats an axis label: 1000 → 1k, 1000000 → 1M.
func short(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e6) == 0:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3 && math.Mod(v, 1e3) == 0:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}
