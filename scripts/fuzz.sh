#!/usr/bin/env bash
# Runs every Fuzz target in the module, one at a time, for FUZZTIME each
# (go test accepts only one target per -fuzz run). Corpus entries that find a
# failure land in the package's testdata/fuzz/FuzzX/, ready to commit.
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

ran=0
for pkg in $("$GO" list ./...); do
	# -list prints matching names, then an "ok" line for the package. Taken
	# in two steps so that a package that does not build stops the run.
	listed=$("$GO" test -list '^Fuzz' "$pkg")
	for target in $(grep '^Fuzz' <<<"$listed" || true); do
		echo "== $pkg $target ($FUZZTIME)"
		"$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
		ran=$((ran + 1))
	done
done
echo "fuzz: ran $ran target(s) for $FUZZTIME each"
