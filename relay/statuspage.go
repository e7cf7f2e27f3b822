package relay

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// The status page at /status is for a person with a phone at the foot of
// the mast: server-rendered HTML, no script, no external assets, black on
// white with large type so that it reads in sunlight, and a refresh every
// 30 seconds. Everything on it is also in /metrics and `cairn status`.

type statusPage struct {
	Version   string
	DID       string
	Uptime    string
	Ready     string // "" when ready
	Clients   int64
	Store     storeLine
	Relay     Stats
	Radios    []RadioStatus
	Uplinks   []uplink.Status
	Generated string
}

type storeLine struct {
	Count                     int
	Bytes, Quota              string
	Percent                   int
	Evicted, Expired, Deleted uint64
}

func (r *Relay) serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	ss := r.store.Stats()
	p := statusPage{
		Version:   r.version,
		DID:       r.DID(),
		Uptime:    humanDuration(r.Uptime()),
		Clients:   atomic.LoadInt64(&r.broker.Info.ClientsConnected),
		Relay:     r.Stats(),
		Radios:    r.RadioStatus(),
		Uplinks:   r.Uplinks(),
		Generated: time.Now().Format("2006-01-02 15:04:05 MST"),
		Store: storeLine{
			Count: ss.Count, Bytes: config.ByteSize(ss.Bytes).Human(), Quota: r.cfg.Store.MaxTotalBytes.Human(),
			Evicted: ss.Evicted, Expired: ss.Expired, Deleted: ss.Deleted,
		},
	}
	if q := int64(r.cfg.Store.MaxTotalBytes); q > 0 {
		p.Store.Percent = int(ss.Bytes * 100 / q)
	}
	if err := r.Ready(); err != nil {
		p.Ready = err.Error()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := statusTemplate.Execute(w, p); err != nil {
		r.log.Debug("status page", "err", err)
	}
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return humanDuration(time.Since(t)) + " ago"
	},
	"dur":   func(d time.Duration) string { return d.Round(time.Second).String() },
	"bytes": func(n int64) string { return config.ByteSize(n).Human() },
	"pct": func(used, budget time.Duration) int {
		if budget <= 0 {
			return 0
		}
		return int(used * 100 / budget)
	},
	"refused": func(m map[string]uint64) uint64 {
		var n uint64
		for _, v := range m {
			n += v
		}
		return n
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>Cairn relay</title>
<style>
body{font:20px/1.4 system-ui,sans-serif;margin:0 auto;padding:12px;max-width:40em;background:#fff;color:#000}
h1{font-size:28px;margin:0 0 4px}h2{font-size:22px;margin:20px 0 6px;border-bottom:3px solid #000}
.sub{word-break:break-all;font-size:16px}
table{border-collapse:collapse;width:100%}td{padding:4px 0;vertical-align:top}td:first-child{width:45%;font-weight:600}
.ok,.bad{display:inline-block;padding:0 8px;font-weight:700;border:3px solid #000}.bad{background:#000;color:#fff}
.err{font-family:monospace;font-size:16px;word-break:break-all}
</style></head><body>
<h1>Cairn relay {{if .Ready}}<span class="bad">NOT READY</span>{{else}}<span class="ok">OK</span>{{end}}</h1>
<div class="sub">{{.Version}} · up {{.Uptime}}{{if .DID}}<br>{{.DID}}{{end}}</div>
{{if .Ready}}<p class="err">{{.Ready}}</p>{{end}}
<h2>Clients and store</h2>
<table>
<tr><td>Clients connected</td><td>{{.Clients}}</td></tr>
<tr><td>Stored</td><td>{{.Store.Count}} envelopes, {{.Store.Bytes}} of {{.Store.Quota}} ({{.Store.Percent}}%)</td></tr>
<tr><td>Accepted</td><td>{{.Relay.Accepted}} (duplicates {{.Relay.Duplicates}})</td></tr>
<tr><td>Refused</td><td>{{refused .Relay.Refused}}{{range $k, $v := .Relay.Refused}} · {{$k}} {{$v}}{{end}}</td></tr>
<tr><td>Delivered</td><td>{{.Relay.Delivered}}</td></tr>
<tr><td>Removed</td><td>receipts {{.Store.Deleted}} · expired {{.Store.Expired}} · evicted {{.Store.Evicted}}</td></tr>
</table>
<h2>Radios</h2>
{{range .Radios}}
<table>
<tr><td>{{.Link}} {{.Port}}</td><td>{{if eq .State "ready"}}<span class="ok">ready</span>{{else}}<span class="bad">{{.State}}</span>{{end}}</td></tr>
<tr><td>Airtime this hour</td><td>{{dur .AirtimeUsed}} of {{dur .AirtimeBudget}} ({{pct .AirtimeUsed .AirtimeBudget}}%)</td></tr>
<tr><td>Neighbours</td><td>{{.Neighbours}}</td></tr>
<tr><td>Queued</td><td>{{.Queued}} ({{bytes .QueuedBytes}})</td></tr>
<tr><td>Frames</td><td>sent {{.Counters.FramesSent}} · received {{.Counters.FramesReceived}} · bad {{.Counters.BadFrames}} · retransmitted {{.Counters.Retransmissions}}</td></tr>
<tr><td>Last heard</td><td>{{if .Signal}}{{ago .LastRxAt}}, RSSI {{.RSSIDBm}} dBm, SNR {{.SNRdB}} dB{{else}}never{{end}}</td></tr>
{{if .LastError}}<tr><td>Last error</td><td class="err">{{.LastError}}</td></tr>{{end}}
</table>
{{else}}<p>None configured.</p>{{end}}
<h2>Uplinks</h2>
{{range .Uplinks}}
<table>
<tr><td>{{.Link}}</td><td>{{if .Connected}}<span class="ok">connected</span>{{else}}<span class="bad">disconnected</span>{{end}}</td></tr>
<tr><td>Broker</td><td class="err">{{.URL}}</td></tr>
<tr><td>Queued</td><td>{{.Queued}} ({{bytes .QueuedBytes}})</td></tr>
<tr><td>Published / received</td><td>{{.Published}} / {{.Received}}</td></tr>
<tr><td>Last success</td><td>{{ago .LastSuccess}}</td></tr>
{{if .LastError}}<tr><td>Last error ({{ago .LastErrorAt}})</td><td class="err">{{.LastError}}</td></tr>{{end}}
</table>
{{else}}<p>None configured: offline relay.</p>{{end}}
<p class="sub">Generated {{.Generated}} · <a href="/metrics">metrics</a></p>
</body></html>
`))

// humanDuration rounds d for a person: seconds under a minute, minutes under
// an hour, then hours and days.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd %dh", days, (d-days*24*time.Hour)/time.Hour)
}
