#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] [PKG...]: run every Go fuzz target of the repo (or of
# the given package directories) one after another for FUZZTIME each, and
# write a summary table (execs, new interesting inputs, result per target).
#
#   FUZZTIME      time per target (default 10m; the first argument wins)
#   FUZZPAR       -parallel, fuzzing worker processes (default 1: 2 shared cores)
#   FUZZ_MATCH    only targets whose "pkg Name" matches this ERE (default all)
#   FUZZ_SUMMARY  summary file (default /tmp/fuzz-summary.txt)
#   FUZZ_LOGDIR   full go test output per target (default /tmp/fuzz-logs)
#   FUZZ_KEEP=1   afterwards copy new corpus entries that go kept in
#                 $GOCACHE/fuzz into the package's testdata/fuzz/<Name>/
#                 (at most FUZZ_KEEP_N=20 per target, smallest first, each
#                 at most FUZZ_KEEP_BYTES=2048 bytes)
#
# Targets are found by grepping *_test.go for `func FuzzX(f *testing.F)`, so
# new ones are included. Today that is proto/{xdr,rpc,nfs4}, client/nfs4client,
# serve/nfs4srv and the image readers under fsadapters/image (FuzzOpenCorrupt
# of each format, FuzzReadPartitions).
#
# A finding fails the script; go saves the failing input under the
# package's testdata/fuzz/<Name>/, where it becomes a regression test of
# plain `go test`.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH=$PATH:/usr/local/go/bin
FUZZTIME=${1:-${FUZZTIME:-10m}}
shift || true
PAR=${FUZZPAR:-1}
MATCH=${FUZZ_MATCH:-}
SUMMARY=${FUZZ_SUMMARY:-/tmp/fuzz-summary.txt}
LOGDIR=${FUZZ_LOGDIR:-/tmp/fuzz-logs}
KEEP_N=${FUZZ_KEEP_N:-20}
KEEP_BYTES=${FUZZ_KEEP_BYTES:-2048}
mkdir -p "$LOGDIR"

dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(.)
# "pkgdir Name" per target, sorted.
targets=$(grep -rE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' "${dirs[@]}" |
	sed -E 's#^(\./)?([^:]*)/[^/:]*:func (Fuzz[A-Za-z0-9_]*)\(.*#./\2 \3#' | sort -u)
if [ -n "$MATCH" ]; then
	targets=$(echo "$targets" | grep -E -- "$MATCH" || true)
fi
if [ -z "$targets" ]; then
	echo "fuzz: no Fuzz targets found in ${dirs[*]}${MATCH:+ matching $MATCH}"
	exit 1
fi
n=$(echo "$targets" | wc -l)
gocache=$(go env GOCACHE)
modpath=$(go list -m)

{
	echo "# fuzz $(date -u '+%Y-%m-%d %H:%M:%SZ') FUZZTIME=$FUZZTIME FUZZPAR=$PAR ($(git rev-parse --short HEAD 2>/dev/null))"
	printf '%-6s %-32s %-24s %12s %8s %8s\n' result package target execs new corpus
} >"$SUMMARY"

failed=0
i=0
while read -r pkg name; do
	i=$((i + 1))
	log="$LOGDIR/$(echo "${pkg#./}" | tr / _)_$name.log"
	echo "=== [$i/$n] $pkg $name ($FUZZTIME, -parallel $PAR)"
	go test -v -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -parallel "$PAR" "$pkg" >"$log" 2>&1
	rc=$?
	# Last progress line: "fuzz: elapsed: 30s, execs: 123 (4/sec), new interesting: 5 (total: 40)"
	last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -n 1)
	execs=$(echo "$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
	new=$(echo "$last" | sed -nE 's/.*new interesting: ([0-9]+).*/\1/p')
	total=$(echo "$last" | sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p')
	if [ $rc -eq 0 ] && grep -q -- "^--- SKIP: $name" "$log"; then
		result=skip # the target says why in its log
	elif [ $rc -eq 0 ]; then
		result=ok
	elif grep -q 'Failing input written to' "$log"; then
		result=FOUND
	elif grep -A1 -- "^--- FAIL: $name" "$log" | grep -q 'context deadline exceeded' &&
		! grep -qE 'panic:|Failing input' "$log"; then
		# Go's coordinator sometimes fails a run that reached -fuzztime
		# while a worker on a busy machine was slow to stop; no input
		# failed, so the time run counts.
		result=ok-late
		rc=0
	else
		result=ERROR # build failure, timeout, crash of the harness
	fi
	[ $rc -eq 0 ] || failed=$((failed + 1))
	printf '%-6s %-32s %-24s %12s %8s %8s\n' "$result" "${pkg#./}" "$name" "${execs:--}" "${new:--}" "${total:--}" >>"$SUMMARY"
	echo "    $result ${last:-(no progress line)}"
	if [ $rc -ne 0 ]; then
		grep -E -A20 -- '^--- FAIL|Failing input|panic:|\[build failed\]|cannot|undefined' "$log" | head -n 40
		echo "    full output: $log"
	fi

	if [ "${FUZZ_KEEP:-0}" = 1 ]; then
		imp="$modpath/${pkg#./}"
		[ "$pkg" = . ] && imp=$modpath
		src="$gocache/fuzz/$imp/$name"
		dst="${pkg#./}/testdata/fuzz/$name"
		kept=0
		if [ -d "$src" ]; then
			mkdir -p "$dst"
			while read -r size f; do
				[ "$kept" -lt "$KEEP_N" ] || break
				[ "$size" -le "$KEEP_BYTES" ] || break
				b=$(basename "$f")
				[ -e "$dst/$b" ] && continue
				cp "$f" "$dst/$b" && kept=$((kept + 1))
			done < <(find "$src" -type f -printf '%s %p\n' | sort -n)
		fi
		echo "    FUZZ_KEEP: copied $kept corpus entries into $dst"
	fi
done <<<"$targets"

echo "==================== fuzz: $n target(s), $failed failed; summary in $SUMMARY"
cat "$SUMMARY"
[ $failed -eq 0 ]
