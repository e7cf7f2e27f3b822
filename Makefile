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

.PHONY: help run build test deps lint vet fmt-check bench bench-go fuzz release release-check clean firmware firmware-test

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build ./bin/cairn for this machine, version stamped
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cairn ./cmd/cairn

run: build ## build, then run the relay (MQTT on :1883, data in ./data)
	./bin/cairn relay

test: deps lint firmware-test ## install test deps if missing, lint, firmware tests, race tests, release check
	$(GO) test -race ./...
	$(MAKE) --no-print-directory release-check

deps: ## install mosquitto and qemu-user-static when missing (root + apt only)
	scripts/deps.sh

lint: vet fmt-check ## go vet and gofmt

vet:
	$(GO) vet ./...

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

bench: build ## Cairn, Mosquitto and NATS side by side on loopback, ~4 min (docs/performance.md)
	GO=$(GO) scripts/bench.sh

bench-go: ## run every Go benchmark (BENCHTIME, BENCHCOUNT)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) ./...

fuzz: ## run each Fuzz target for FUZZTIME (default 30s)
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

RELEASE_BINS := $(addprefix $(DIST)/cairn-linux-,$(RELEASES))

release: $(RELEASE_BINS) ## static binaries for linux amd64, arm64, armv7, armv6

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

clean: ## remove bin/, dist/ and firmware/build/ (never data/)
	rm -rf bin $(DIST)
	$(MAKE) --no-print-directory -C firmware clean
