# Cairn build and test entry points. `make help` lists the targets.
#
# VERSION is stamped into the binary (main.version) from git describe; a tree
# that is not a git checkout builds as "dev". Override with make VERSION=….

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
# Evaluated once and exported, so every binary of one make run (sub-makes
# included) carries the same stamp even if the tree changes meanwhile.
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
export VERSION
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
BENCHCOUNT ?= 1
GROWTH_SIZES  ?= 1000,10000,100000,1000000
GROWTH_ROUNDS ?= 3
DIST      := dist

# Release targets: name suffix → GOOS/GOARCH/GOARM. The ARM variants are the
# Raspberry Pi families: armv6 (Pi Zero/1), armv7 (Pi 2), arm64 (Pi 3 and later).
RELEASES := amd64 arm64 armv7 armv6
goarch_amd64 := amd64
goarch_arm64 := arm64
goarch_armv7 := arm
goarch_armv6 := arm
goarm_armv7  := 7
goarm_armv6  := 6

.PHONY: help run build test deps lint vet fmt-check bench bench-growth bench-go fuzz release release-check clean firmware firmware-test deb deb-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: web ## build ./bin/cairn for this machine, version stamped
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cairn ./cmd/cairn

run: build ## build, then run the relay (MQTT on :1883, data in ./data)
	./bin/cairn relay

test: deps web lint firmware-test ## install test deps if missing, lint, firmware tests, race tests, release check, deb check
	$(GO) test -race ./...
	$(MAKE) --no-print-directory release-check
	$(MAKE) --no-print-directory deb-check

deps: ## install mosquitto and qemu-user-static when missing (root + apt only)
	scripts/deps.sh

.PHONY: web
web: ## web client assets in web/dist (wasm, hashed, gzipped) that go build embeds (docs/web.md)
	GO=$(GO) $(GO) run ./web/build

lint: vet fmt-check ## go vet and gofmt

vet:
	$(GO) vet ./...
	# The Pi Zero and Pi 2 are 32-bit: catch int overflows there before the
	# release build does.
	GOOS=linux GOARCH=arm GOARM=6 $(GO) vet ./...

fmt-check:
	@unformatted="$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$unformatted"; exit 1; \
	fi; \
	echo "gofmt: ok"

firmware: ## modem firmware: .elf/.bin/.hex per board in firmware/build/, flash and RAM use checked
	$(MAKE) --no-print-directory -C firmware boards

firmware-test: ## firmware core unit tests on the host, and the cross build within its budget
	$(MAKE) --no-print-directory -C firmware test

bench: build ## Cairn, Mosquitto, NATS and mochi alone side by side on loopback, ~4.5 min (docs/performance.md)
	GO=$(GO) scripts/bench.sh

bench-growth: build ## relay cost with 1k–1M envelopes stored, ~5 min: docs/perf/growth.csv and .svg (docs/performance.md)
	$(GO) run ./bench/growth -cairn bin/cairn -sizes "$(GROWTH_SIZES)" -rounds $(GROWTH_ROUNDS) -out docs/perf/growth

bench-go: ## run every Go benchmark (BENCHTIME, BENCHCOUNT)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./...

fuzz: ## run each Fuzz target for FUZZTIME (default 30s)
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

RELEASE_BINS := $(addprefix $(DIST)/cairn-linux-,$(RELEASES))

release: web $(RELEASE_BINS) ## static binaries for linux amd64, arm64, armv7, armv6

# Phony, so always rebuilt (the go build cache makes that cheap) and the stamp
# always matches VERSION. A static pattern rule, because make skips implicit
# rule search for phony targets.
.PHONY: $(RELEASE_BINS)
$(RELEASE_BINS): $(DIST)/cairn-linux-%:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(goarch_$*) GOARM=$(goarm_$*) \
		$(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $@ ./cmd/cairn
	@echo "$@ $$(stat -c %s $@) bytes"

release-check: release ## check dist binaries are static and print the stamped version under qemu
	CAIRN_RELEASE_DIR="$(CURDIR)/$(DIST)" CAIRN_RELEASE_VERSION="$(VERSION)" \
		$(GO) test -count=1 -run '^TestRelease' -v ./cmd/cairn

# Debian packages (configs/nfpm.yaml), one per Pi family. armhf is the armv7
# binary (Pi 2 and later on 32-bit Raspberry Pi OS); arm64 is Pi 3 and later
# on 64-bit Raspberry Pi OS. Built one after another: they share the staging
# directory that configs/nfpm.yaml reads.
NFPM_VERSION := v2.45.2
NFPM         := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
DEB_ARCHES   ?= amd64 arm64 armhf
DEB_STAGE    := $(DIST)/deb-stage
debbin_amd64 := amd64
debbin_arm64 := arm64
debbin_armhf := armv7
# A Debian version must start with a digit, and a "-" would make the package
# non-native: v1.2.3-4-gabc → 1.2.3+4+gabc; anything else → 0~git….
DEB_VERSION := $(shell echo '$(VERSION)' | sed -E -e 's/^v([0-9])/\1/' -e 't tag' -e 's/^/0~git/' -e ':tag' -e 's/-/+/g')
DEB_AMD64   := $(DIST)/cairn_$(DEB_VERSION)_amd64.deb

deb: $(addprefix $(DIST)/cairn-linux-,$(foreach a,$(DEB_ARCHES),$(debbin_$(a)))) ## .deb for amd64, arm64 and armhf in dist/ (nfpm); lintian must find no errors
	@mkdir -p $(DEB_STAGE)
	sed 's|^data_dir = "./data"$$|data_dir = "/var/lib/cairn"|' configs/cairn.toml > $(DEB_STAGE)/cairn.toml
	grep -q '^data_dir = "/var/lib/cairn"$$' $(DEB_STAGE)/cairn.toml
	when="$$(date -R -d @"$$(git log -1 --format=%ct 2>/dev/null || date +%s)")"; \
	printf 'cairn (%s) unstable; urgency=medium\n\n  * Built from git %s; the changes are in the git history.\n\n -- Cairn maintainers <maintainers@cairnmesh.org>  %s\n' \
		'$(DEB_VERSION)' '$(VERSION)' "$$when" | gzip -9n > $(DEB_STAGE)/changelog.gz
	gzip -9n < docs/man/cairn.1 > $(DEB_STAGE)/cairn.1.gz
	gzip -9n < docs/man/cairn.toml.5 > $(DEB_STAGE)/cairn.toml.5.gz
	for a in $(DEB_ARCHES); do \
		case $$a in armhf) bin=armv7;; *) bin=$$a;; esac; \
		cp $(DIST)/cairn-linux-$$bin $(DEB_STAGE)/cairn; \
		DEB_ARCH=$$a DEB_VERSION='$(DEB_VERSION)' $(NFPM) package --config configs/nfpm.yaml \
			--packager deb --target $(DIST)/cairn_$(DEB_VERSION)_$$a.deb; \
		if command -v lintian >/dev/null; then \
			lintian --fail-on error $(DIST)/cairn_$(DEB_VERSION)_$$a.deb; \
			echo "lintian: no errors in $(DIST)/cairn_$(DEB_VERSION)_$$a.deb"; \
		else echo "lintian not installed: not checked"; fi; \
	done

deb-check: ## install the amd64 .deb with dpkg -i, check it, remove and purge it (root and dpkg only; ~10 s)
	@if [ "$$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then \
		echo "deb-check: needs root and dpkg; skipped"; exit 0; fi; \
	$(MAKE) --no-print-directory deb DEB_ARCHES=amd64 && \
	CAIRN_DEB="$(CURDIR)/$(DEB_AMD64)" $(GO) test -count=1 -run '^TestDeb' -v ./cmd/cairn

clean: ## remove bin/, dist/ and firmware/build/ (never data/)
	rm -rf bin $(DIST)
	$(MAKE) --no-print-directory -C firmware clean
