#!/usr/bin/env bash
# Installs what the tests need when it is missing: a Mosquitto broker and
# clients (integration tests run one side by side with the relay), qemu-user
# (the release check runs the ARM binaries), a C compiler (go test -race) and
# lintian (make deb checks the packages).
# Uses apt-get, so only as root on Debian or Ubuntu; elsewhere it says what is
# missing and carries on, and the tests that need it say so when they fail.
set -euo pipefail

# nats-server (MQTT mode with JetStream) for the uplink tests, pinned, built
# with go install into $(go env GOPATH)/bin when missing there. Needs only Go.
NATS_VERSION=v2.15.2
if command -v go >/dev/null 2>&1; then
	gobin="$(go env GOPATH)/bin"
	if [ ! -x "$gobin/nats-server" ] || ! "$gobin/nats-server" --version 2>/dev/null | grep -q "${NATS_VERSION#v}"; then
		echo "deps: go install github.com/nats-io/nats-server/v2@$NATS_VERSION"
		GOFLAGS=-mod=mod go install "github.com/nats-io/nats-server/v2@$NATS_VERSION"
	fi
else
	echo "deps: no go; cannot install nats-server $NATS_VERSION" >&2
fi

# The web client's browser tests (web/e2e_test.go): playwright-core from
# web/e2e/package-lock.json, driving Debian's chromium (no browser download).
# Run at exit, so that it follows the apt installs of node, npm and chromium.
web_npm() {
	local dir
	dir="$(dirname "$0")/../web/e2e"
	if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules/playwright-core" ] && command -v npm >/dev/null 2>&1; then
		echo "deps: npm ci in web/e2e"
		(cd "$dir" && npm ci --no-audit --no-fund) || echo "deps: npm ci in web/e2e failed" >&2
	fi
}
trap web_npm EXIT

# command → Debian package. mosquitto lives in /usr/sbin, which a non-root
# PATH may lack, so look there too.
declare -A pkg_of=(
	[mosquitto]=mosquitto
	[mosquitto_pub]=mosquitto-clients
	[mosquitto_sub]=mosquitto-clients
	[qemu-aarch64-static]=qemu-user-static
	[qemu-arm-static]=qemu-user-static
	[cc]=gcc
	[arm-none-eabi-gcc]=gcc-arm-none-eabi
	[lintian]=lintian
	[chromium]=chromium
	[node]=nodejs
	[npm]=npm
)

# file → Debian package, for what has no command of its own.
declare -A pkg_of_file=(
	[/usr/lib/arm-none-eabi/newlib/libc_nano.a]=libnewlib-arm-none-eabi
)

missing=()
for cmd in "${!pkg_of[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
		pkg=${pkg_of[$cmd]}
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done

for f in "${!pkg_of_file[@]}"; do
	if [ ! -e "$f" ]; then
		pkg=${pkg_of_file[$f]}
		[[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: mosquitto, mosquitto-clients, qemu-user-static, gcc, gcc-arm-none-eabi, libnewlib-arm-none-eabi, lintian, chromium, nodejs and npm are present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing ${missing[*]}; not root with apt-get, so not installing." >&2
	echo "deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 0
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
