package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/cairnmesh/cairn/radio/radiotest"
)

const simUsage = "usage: cairn sim air CONFIG   (format: radio/radiotest SimConfig, docs/radio.md)"

// runSim runs the simulated air of a config with a fake RNode per node,
// prints each node's port, and its counters every ten seconds until
// SIGINT or SIGTERM. Relays point [[radio]].port at those ports.
func runSim(args []string) error {
	if len(args) != 2 || args[0] != "air" {
		return errors.New(simUsage)
	}
	data, err := os.ReadFile(args[1])
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	cfg, err := radiotest.ParseSimConfig(data)
	if err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	sim, err := radiotest.StartSim(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	ids := make([]uint16, 0, len(sim.Nodes))
	for id := range sim.Nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fmt.Printf("air on udp %s\n", sim.Air.Addr())
	for _, id := range ids {
		fmt.Printf("node %d: port %s\n", id, sim.Nodes[id].Path())
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			return nil
		case <-tick.C:
			s := sim.Air.Stats()
			fmt.Printf("air: %d transmissions, %d delivered, %d lost, %d collided, %d bad\n",
				s.Transmissions, s.Delivered, s.Lost, s.Collided, s.BadDatagrams)
			for _, id := range ids {
				fmt.Printf("  node %d: %v on air\n", id, sim.Air.Airtime(id))
			}
		}
	}
}
