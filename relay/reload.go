package relay

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/radiolink"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// ReloadReport is what Reload changed, and what it could not.
type ReloadReport struct {
	Uplinks  []uplink.Change // uplinks started, restarted or stopped
	Radios   []RadioChange   // radios started, restarted or stopped
	LogLevel string          // [log] level now in effect ("" if Options.LogLevel is not set)
	// Restart names the settings that differ from the running ones but
	// take effect only at the next restart ("mqtt", "store", …).
	Restart []string
}

// RadioChange is what Reload did to one radio.
type RadioChange struct {
	Link   string // store link, "radio:0"
	Port   string // serial device (the old one when stopped)
	Action string // "started", "restarted" (settings changed) or "stopped"
}

// Reload applies cfg to the running relay as far as it can without a
// restart: the [log] level, the [[uplink]] and the [[radio]] tables. The
// other sections, which the listeners, the store and the data directory
// were opened with, keep their running values and are named in
// ReloadReport.Restart (and in a warning) when they differ.
//
// Links are places in their list, as at a restart (uplink.Group.Reconfigure
// says why): a table equal to the running one at its place keeps running
// untouched, a changed one restarts that link and keeps its queue, a table
// past the old end starts a link owing only what is stored from now on,
// and a link past the new end stops and its queue is dropped.
//
// A cfg that does not validate changes nothing and Reload returns the
// error. Reload logs what it did and any error itself. It is safe to call
// concurrently with everything but Serve, and fails once Close has begun.
func (r *Relay) Reload(cfg *config.Config) (ReloadReport, error) {
	rep, refused, err := r.reload(cfg)
	switch {
	case refused:
		r.log.Error("reload refused, running config kept", "err", err)
	case err != nil:
		r.log.Error("reload incomplete", "err", err)
	}
	return rep, err
}

// reload is Reload; refused means that it changed nothing.
func (r *Relay) reload(cfg *config.Config) (rep ReloadReport, refused bool, err error) {
	if err := cfg.Validate(); err != nil {
		return rep, true, fmt.Errorf("config: %w", err)
	}
	resolved, err := cfg.ResolveRadios()
	if err != nil {
		return rep, true, fmt.Errorf("config: %w", err)
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closing || !r.serving.Load() {
		return rep, true, errors.New("the relay is not serving")
	}
	rep.Restart = restartKeys(r.cfg, cfg)

	// The store owes new links from before they start, and forgets old
	// ones only once they have stopped.
	links := StoreOptions(cfg).Links
	union := r.runningLinks()
	for _, l := range links {
		if !slices.Contains(union, l) {
			union = append(union, l)
		}
	}
	if err := r.store.SetLinks(union); err != nil {
		return rep, true, err
	}

	var errs []error
	rep.Uplinks, err = r.uplink.Reconfigure(cfg.Uplinks)
	if err != nil {
		// The uplinks keep running as they were; so do the radios.
		if lerr := r.store.SetLinks(r.runningLinks()); lerr != nil {
			return rep, false, errors.Join(err, lerr)
		}
		return rep, true, err
	}
	if len(rep.Uplinks) > 0 {
		for _, tag := range r.servedTags() {
			r.uplink.Serve(tag) // clients subscribed while no uplink kept the tag sets
		}
		r.uplink.Poke()
	}
	var rerr error
	rep.Radios, rerr = r.reloadRadios(cfg.Radios, resolved)
	if rerr != nil {
		errs = append(errs, rerr)
		links = r.runningLinks()
	}
	if err := r.store.SetLinks(links); err != nil {
		errs = append(errs, err)
	}
	if r.level != nil {
		r.level.Set(cfg.Log.SlogLevel())
		rep.LogLevel = cfg.Log.Level
	}
	r.logReload(rep)
	return rep, false, errors.Join(errs...)
}

// reloadRadios makes the running radios those of cfgs (resolved as res).
// The caller holds reloadMu. Changed and removed radios all stop before any
// starts, so that a modem moved to another place is free to open.
func (r *Relay) reloadRadios(cfgs []radio.Config, res []radio.Resolved) ([]RadioChange, error) {
	old := r.radios
	var changes []RadioChange
	keep := make([]bool, len(old.links))
	for i := range min(len(cfgs), len(old.links)) {
		keep[i] = reflect.DeepEqual(old.cfgs[i], cfgs[i])
	}
	var start []int
	for i := range cfgs {
		if i < len(keep) && keep[i] {
			continue
		}
		start = append(start, i)
		action := "started"
		if i < len(keep) {
			action = "restarted"
		}
		changes = append(changes, RadioChange{Link: radiolink.LinkName(i), Port: cfgs[i].Port, Action: action})
	}
	for i := len(cfgs); i < len(keep); i++ {
		changes = append(changes, RadioChange{Link: radiolink.LinkName(i), Port: old.cfgs[i].Port, Action: "stopped"})
	}
	if len(changes) == 0 {
		return nil, nil
	}

	// Status readers keep the views they hold: closed links and drivers
	// stay safe to read.
	var errs []error
	for i := range keep {
		if !keep[i] {
			errs = append(errs, old.stop(i))
		}
	}
	next := radios{}
	for i := range cfgs {
		if i < len(keep) && keep[i] {
			next.add(old.cfgs[i], old.drivers[i], old.taps[i], old.links[i])
			continue
		}
		drv, tap, l, err := r.startRadio(i, res[i], r.tune)
		if err != nil {
			// Places must stay dense: this one and those after it stay
			// off until the next reload or restart.
			errs = append(errs, err)
			for j := i + 1; j < len(keep); j++ {
				if keep[j] {
					errs = append(errs, old.stop(j))
				}
			}
			break
		}
		next.add(cfgs[i], drv, tap, l)
	}
	r.radios = next
	r.publishRadios()
	return changes, errors.Join(errs...)
}

// logReload logs what a reload did, and what waits for a restart.
func (r *Relay) logReload(rep ReloadReport) {
	var changed []string
	for _, c := range rep.Uplinks {
		changed = append(changed, c.Link+" "+c.Action+" ("+c.URL+")")
	}
	for _, c := range rep.Radios {
		changed = append(changed, c.Link+" "+c.Action+" ("+c.Port+")")
	}
	r.log.Info("config reloaded", "changed", changed, "log.level", rep.LogLevel,
		"uplinks", len(r.uplink.Links()), "radios", len(r.radios.links))
	if len(rep.Restart) > 0 {
		r.log.Warn("changed settings take effect at the next restart", "keys", rep.Restart)
	}
}

// restartKeys names the sections of next that differ from cur and that a
// running relay cannot change.
func restartKeys(cur, next *config.Config) []string {
	var keys []string
	for _, s := range []struct {
		key      string
		old, new any
	}{
		{"data_dir", cur.DataDir, next.DataDir},
		{"log.format", cur.Log.Format, next.Log.Format},
		{"mqtt", cur.MQTT, next.MQTT},
		{"store", cur.Store, next.Store},
		{"http", cur.HTTP, next.HTTP},
		{"discovery", cur.Discovery, next.Discovery},
	} {
		if !reflect.DeepEqual(s.old, s.new) {
			keys = append(keys, s.key)
		}
	}
	return keys
}

// runningLinks are the store links of the uplinks and radios running now.
// The caller holds reloadMu.
func (r *Relay) runningLinks() []string {
	links := r.uplink.Links()
	for i := range r.radios.links {
		links = append(links, radiolink.LinkName(i))
	}
	return links
}
