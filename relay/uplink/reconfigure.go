package uplink

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/cairnmesh/cairn/relay/config"
)

// Change is what Reconfigure did to one uplink.
type Change struct {
	Link   string // store link, "uplink:0"
	URL    string // the broker now (the old one when stopped)
	Action string // "started", "restarted" (settings changed) or "stopped"
}

// Reconfigure changes a group's uplinks to ups (validated, defaults
// filled), touching only those that change, and reports what it did.
//
// An uplink is its place in the list, as after a restart: the i-th table
// is store link LinkName(i) and client id cairn-<relay id>-<i>, whose
// queue, persistent session and tag bits it keeps. A table equal to the
// one running at its place keeps running untouched; a table that differs
// at a place restarts that uplink (with an empty resend schedule); tables
// past the old end start, uplinks past the new end stop. So adding or
// removing the last table touches that one only, and removing one in the
// middle restarts those after it.
//
// Links of new uplinks must already be in the store's links (store.SetLinks)
// and those of stopped ones may leave it once Reconfigure returns. If a new
// uplink cannot be prepared (a TLS file), Reconfigure changes nothing and
// returns the error. Before Start it only prepares; after Close it fails.
func (g *Group) Reconfigure(ups []config.Uplink) ([]Change, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("uplink: reconfiguring a closed group")
	}
	old, tags := g.state()
	if tags == nil && len(ups) > 0 {
		if err := g.openTags(len(ups)); err != nil {
			return nil, err
		}
		_, tags = g.state()
	}

	// Prepare everything that can fail before stopping anything.
	next := make([]*Uplink, len(ups))
	var changes []Change
	var start, stop []*Uplink
	for i, c := range ups {
		if i < len(old) && reflect.DeepEqual(old[i].cfg, c) {
			next[i] = old[i]
			continue
		}
		u, err := g.newUplink(i, c)
		if err != nil {
			return nil, fmt.Errorf("uplink[%d]: %w", i, err)
		}
		next[i] = u
		start = append(start, u)
		action := "started"
		if i < len(old) {
			action = "restarted"
			stop = append(stop, old[i])
		}
		changes = append(changes, Change{Link: u.name, URL: c.URL, Action: action})
	}
	for _, u := range old[min(len(ups), len(old)):] {
		stop = append(stop, u)
		changes = append(changes, Change{Link: u.name, URL: u.cfg.URL, Action: "stopped"})
	}
	if len(changes) == 0 {
		return nil, nil
	}

	for _, u := range stop {
		if u.stop != nil {
			u.stop()
			<-u.done
		}
	}
	if tags != nil {
		tags.resize(len(ups))
	}
	g.upsMu.Lock()
	g.ups = next
	g.upsMu.Unlock()
	if tags != nil {
		if err := g.flushResend(true); err != nil {
			g.log.Error("saving uplink resend schedule", "err", err)
		}
	}
	if g.ctx != nil {
		for _, u := range start {
			g.startUplink(u)
		}
		if tags != nil {
			g.startHousekeep()
		}
	}
	return changes, nil
}

// resize keeps the remembered dropped tags of the first n uplinks only:
// an uplink that stopped holds no subscriptions a later one must end.
func (t *Tags) resize(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var mask uint64
	for i := range min(n, maxDropUplinks) {
		mask |= 1 << i
	}
	if mask == t.allMask {
		return
	}
	t.allMask = mask
	for tag, m := range t.dropMasks {
		if m &= mask; m != 0 {
			t.dropMasks[tag] = m
			continue
		}
		t.dropped.order.Remove(t.dropped.at[tag])
		delete(t.dropped.at, tag)
		delete(t.dropMasks, tag)
	}
	t.dirty = true
}
