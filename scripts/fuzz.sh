#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] [PKGS...]: run every Fuzz target found in PKGS
# (default ./proto/...) for FUZZTIME each (default 30s). Targets are found
# with `go test -list`; a crash fails the script (the failing input is saved
# by go under the package's testdata/fuzz/ so it becomes a regression test).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH=$PATH:/usr/local/go/bin
FUZZTIME=${1:-30s}
shift || true
PKGS=("$@")
[ ${#PKGS[@]} -gt 0 ] || PKGS=(./proto/...)
# -parallel: the box has 2 shared cores
PAR=${FUZZ_PARALLEL:-2}
n=0
failed=()
for pkg in $(go list "${PKGS[@]}"); do
	if ! listing=$(go test -list '^Fuzz' "$pkg" 2>&1); then
		echo "$listing" | tail -n 20
		failed+=("$pkg (go test -list failed: does not build?)")
		continue
	fi
	targets=$(echo "$listing" | grep '^Fuzz' || true)
	for t in $targets; do
		n=$((n + 1))
		echo "=== fuzz $pkg $t ($FUZZTIME)"
		if ! go test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel "$PAR" "$pkg"; then
			failed+=("$pkg $t")
		fi
	done
done
echo "==================== fuzz: $n target(s), ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "FAIL $f"; done
[ $n -gt 0 ] || echo "fuzz: no Fuzz targets found in ${PKGS[*]}"
[ ${#failed[@]} -eq 0 ]
