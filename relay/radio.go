package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/cairnmesh/cairn/codec"
	"github.com/cairnmesh/cairn/radio"
	"github.com/cairnmesh/cairn/relay/config"
	"github.com/cairnmesh/cairn/relay/radiolink"
)

// radios are the relay's LoRa radios ([[radio]] tables): each a modem
// driver and a radiolink.Link, the store link radiolink.LinkName(i).
type radios struct {
	cfgs    []radio.Config // the tables they run with (Reload compares)
	drivers []*radio.RNode
	taps    []*signalTap // between drivers[i] and links[i], for the signal metrics
	links   []*radiolink.Link
}

// add appends a running radio.
func (rs *radios) add(cfg radio.Config, drv *radio.RNode, tap *signalTap, l *radiolink.Link) {
	rs.cfgs = append(rs.cfgs, cfg)
	rs.drivers = append(rs.drivers, drv)
	rs.taps = append(rs.taps, tap)
	rs.links = append(rs.links, l)
}

// stop stops the i-th radio's link, then turns its modem off.
func (rs radios) stop(i int) error {
	err := rs.links[i].Close()
	rs.taps[i].close()
	return errors.Join(err, rs.drivers[i].Close())
}

// radioLinkNames are the store links of cfg's radios.
func radioLinkNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Radios))
	for i := range names {
		names[i] = radiolink.LinkName(i)
	}
	return names
}

// startRadios opens every configured modem and starts its link. A modem
// that is absent is no error: its driver keeps trying.
func (r *Relay) startRadios(tune func(i int, o *radiolink.Options)) error {
	rs, err := r.cfg.ResolveRadios()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for i, res := range rs {
		drv, tap, l, err := r.startRadio(i, res, tune)
		if err != nil {
			return errors.Join(err, r.closeRadios())
		}
		r.radios.add(r.cfg.Radios[i], drv, tap, l)
	}
	return nil
}

// startRadio opens the i-th modem, configured by res, and starts its link.
func (r *Relay) startRadio(i int, res radio.Resolved, tune func(i int, o *radiolink.Options)) (*radio.RNode, *signalTap, *radiolink.Link, error) {
	name := radiolink.LinkName(i)
	log := r.log.With("component", "radio", "link", name)
	ro := res.RNodeOptions()
	ro.Logger = log
	drv, err := radio.OpenRNode(ro)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	tap := newSignalTap(drv)
	fail := func(err error) (*radio.RNode, *signalTap, *radiolink.Link, error) {
		tap.close()
		return nil, nil, nil, errors.Join(fmt.Errorf("%s: %w", name, err), drv.Close())
	}
	ledger, err := radio.NewLedger(res.DutyCyclePercent, 0, time.Duration(res.Band.MaxDwellMs)*time.Millisecond, nil)
	if err != nil {
		return fail(err)
	}
	o := radiolink.Options{
		Name:       name,
		Driver:     tap,
		Modulation: res.Modulation,
		Ledger:     ledger,
		Store:      r.store,
		Ingest: func(raw []byte, from string, done func(codec.ID, error)) {
			r.ingest(raw, from, name, done)
		},
		Tags:            r.servedTags,
		Uplinked:        r.uplink.Connected,
		OnNeighbourTags: r.uplink.ServeNear,
		MaxHops:         uint8(r.cfg.Store.MaxHops),
		Logger:          log,
	}
	if tune != nil {
		tune(i, &o)
	}
	l, err := radiolink.New(o)
	if err != nil {
		return fail(err)
	}
	l.Start()
	return drv, tap, l, nil
}

// closeRadios withdraws the radios from status, stops the links, then
// turns the modems off.
func (r *Relay) closeRadios() error {
	r.radioViews.Store(nil)
	var errs []error
	for _, l := range r.radios.links {
		errs = append(errs, l.Close())
	}
	for _, t := range r.radios.taps {
		t.close()
	}
	for _, d := range r.radios.drivers {
		errs = append(errs, d.Close())
	}
	r.radios = radios{}
	return errors.Join(errs...)
}

// servedTags are the tags with an inbox subscriber here now, for beacons.
func (r *Relay) servedTags() []codec.Tag {
	r.mu.Lock()
	defer r.mu.Unlock()
	tags := make([]codec.Tag, 0, len(r.inboxes))
	for t := range r.inboxes {
		tags = append(tags, t)
	}
	return tags
}

// Radios returns the relay's radio links, in [[radio]] order, for status
// and tests.
func (r *Relay) Radios() []*radiolink.Link {
	var links []*radiolink.Link
	if p := r.radioViews.Load(); p != nil {
		for _, v := range *p {
			links = append(links, v.link)
		}
	}
	return links
}
