package relay

import (
	"net"
	"strconv"

	"github.com/cairnmesh/cairn/relay/mdns"
	"github.com/cairnmesh/cairn/relay/uplink"
)

// Discovery (config discovery.enabled): the relay announces itself on the
// local network over mDNS/DNS-SD so that handhelds and other relays find
// it without configuration (docs/operations.md, "Discovery"):
//
//	cairn-<relay-id>._cairn._tcp.local  SRV → MQTT port (plain, else TLS, else WebSocket)
//	cairn-<relay-id>._mqtt._tcp.local   SRV → plain MQTT port, when it is on
//	TXT of both: v=1, did=<the relay's did:key>, prefix=<topic prefix>,
//	             mqtt=, mqtts=, ws=, http= <port of each listener that is on>,
//	             https= <the http port> when http.tls is on
//	cairn-<relay-id>.local              A, AAAA → the addresses of the asking interface (IPv4 and IPv6)
//
// relay-id is the uplink's 12-hex-digit id in the data directory, so the
// names stay the same across restarts. A responder that cannot start (no
// multicast interface, port taken without SO_REUSEADDR) is logged and the
// relay runs without it.

// startDiscovery starts the responder; called by Serve once listeners are
// serving.
func (r *Relay) startDiscovery() {
	if !r.cfg.Discovery.Enabled {
		return
	}
	id, err := uplink.RelayID(r.cfg.DataDir)
	if err != nil {
		r.log.Warn("discovery off: no relay id", "err", err)
		return
	}
	name := "cairn-" + id
	port := func(addr string) (uint16, bool) {
		if addr == "" {
			return 0, false
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseUint(p, 10, 16)
		return uint16(n), err == nil
	}
	addrs := r.Addrs()
	txt := []string{"v=1", "did=" + r.did, "prefix=" + r.cfg.MQTT.TopicPrefix}
	var main uint16
	for _, l := range []struct{ id, key string }{{"tcp", "mqtt"}, {"tls", "mqtts"}, {"ws", "ws"}} {
		if p, ok := port(addrs[l.id]); ok {
			txt = append(txt, l.key+"="+strconv.Itoa(int(p)))
			if main == 0 {
				main = p
			}
		}
	}
	if p, ok := port(r.HTTPAddr()); ok {
		txt = append(txt, "http="+strconv.Itoa(int(p)))
		if r.cfg.HTTP.TLS != "off" { // the same port, https (https.go)
			txt = append(txt, "https="+strconv.Itoa(int(p)))
		}
	}
	services := []mdns.Service{{Instance: name, Type: "_cairn._tcp", Port: main, TXT: txt}}
	if p, ok := port(addrs["tcp"]); ok {
		services = append(services, mdns.Service{Instance: name, Type: "_mqtt._tcp", Port: p, TXT: txt})
	}
	resp, err := mdns.Start(mdns.Options{Host: name, Services: services, Port: r.mdnsPort, Interfaces: r.mdnsIfs, Logger: r.log.With("component", "mdns")})
	if err != nil {
		r.log.Warn("discovery off", "err", err)
		return
	}
	r.mdns = resp
	r.log.Info("announcing", "name", name, "services", len(services))
}

// stopDiscovery says goodbye on the network and stops the responder.
func (r *Relay) stopDiscovery() {
	if r.mdns != nil {
		r.mdns.Close()
		r.mdns = nil
	}
}
