#!/usr/bin/env bash
# Runs bench/sidebyside: Cairn (bin/cairn, built by make), Mosquitto 2,
# NATS server (MQTT over JetStream) and the embedded broker alone
# (bench/mochi, built by sidebyside) on loopback, the same workloads against
# each in alternating rounds. Prefers the nats-server that `go install`
# put in $GOBIN or $GOPATH/bin (pinned below) over a distribution one;
# when none is found, runs scripts/deps.sh, and failing that installs the
# pinned version with go install. Environment: BENCH_ROUNDS (3),
# BENCH_DURATION (5s), BENCH_OUT (docs/perf/sidebyside: .md and .json).
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_VERSION=v2.15.2
GO=${GO:-go}
gobin=$($GO env GOBIN)
[ -n "$gobin" ] || gobin="$($GO env GOPATH)/bin"

find_nats() {
	if [ -x "$gobin/nats-server" ]; then echo "$gobin/nats-server"; return; fi
	command -v nats-server 2>/dev/null || true
}

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
	scripts/deps.sh
fi
nats=$(find_nats)
if [ -z "$nats" ]; then
	scripts/deps.sh
	nats=$(find_nats)
fi
if [ -z "$nats" ]; then
	echo "bench: installing nats-server $NATS_VERSION with go install"
	$GO install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
	nats="$gobin/nats-server"
fi

exec $GO run ./bench/sidebyside \
	-cairn bin/cairn -nats "$nats" \
	-rounds "${BENCH_ROUNDS:-3}" -duration "${BENCH_DURATION:-5s}" \
	-out "${BENCH_OUT:-docs/perf/sidebyside}"
