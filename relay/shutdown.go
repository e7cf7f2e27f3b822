package relay

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// addListener adds l to the broker so that closing it cannot deadlock.
//
// When a listener closes, mochi disconnects its clients through
// Clients.GetByListener, which takes the clients' read lock and then takes
// it again inside (Clients.Len). If a client ends at that moment, its
// Clients.Delete waits for the write lock between the two, and Go's
// RWMutex then blocks the second read lock behind the waiting writer: both
// wait forever and the relay never stops. Seen in CI as a hung Close. The
// wrapper hands the listener a way to close its clients that takes the read
// lock once.
func (r *Relay) addListener(l listeners.Listener) error {
	return r.broker.AddListener(closeSafely{Listener: capListener(l, r.mqttConns, r.busyReplies), broker: r.broker})
}

type closeSafely struct {
	listeners.Listener
	broker *mqtt.Server
}

func (l closeSafely) Close(listeners.CloseFn) {
	l.Listener.Close(func(id string) {
		for _, cl := range l.broker.Clients.GetAll() { // one read lock, released on return
			if cl.Net.Listener == id && !cl.Closed() {
				l.broker.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
	})
}
