#!/usr/bin/env bash
# load.sh: issue 6's load test. cmd/loadtest starts a fresh fs_serv on a
# loopback port exporting a temporary directory and runs 64 NFSv4.1 clients
# (create / write UNSTABLE+COMMIT or FILE_SYNC / read back / stat / rename /
# partial overwrite / readdir / remove, each client checking its own files)
# for LOAD_DURATION, then prints count, errors and p50/p99/max latency per
# op and fs_serv's fds/threads/RSS (and goroutines, when fs_serv has
# --metrics) before and after. Exits non-zero on any error, data mismatch
# or fd/goroutine leak.
#
# Environment:
#   LOAD_DURATION        how long the clients run              [10m]
#   LOAD_ARGS            extra cmd/loadtest flags              (e.g. -clients 32 -minor 2 -seed 7)
#   LOAD_DIR             parent of the exported temporary dir  [$TMPDIR or /tmp]
#   FS_SERV              server binary                         [bin/fs_serv, built]
#   FS_SERV_EXTRA_ARGS   extra flags for fs_serv
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. scripts/lib.sh
GO=${GO:-go}
mkdir -p bin
if [ "$FS_SERV" = "$REPO/bin/fs_serv" ]; then
	"$GO" build -o bin/fs_serv ./cmd/fs_serv
fi
"$GO" build -o bin/loadtest ./cmd/loadtest

export_dir=$(mktemp -d "${LOAD_DIR:-${TMPDIR:-/tmp}}/fsbridge-load.XXXXXX")
trap 'rm -rf "$export_dir"' EXIT

serve_args=${FS_SERV_EXTRA_ARGS:-}
metrics=()
# Goroutine counts need fs_serv's metrics endpoint, when it has one.
# (fs_serv --help exits 2: read its text first, or pipefail hides the match)
help_text=$("$FS_SERV" --help 2>&1 || true)
if grep -q -- '-metrics' <<<"$help_text"; then
	mport=$(free_port)
	serve_args="$serve_args --metrics 127.0.0.1:$mport"
	metrics=(-metrics "127.0.0.1:$mport")
fi
log "loadtest for ${LOAD_DURATION:-10m} against $FS_SERV exporting $export_dir"
# shellcheck disable=SC2086 # word splitting of LOAD_ARGS is intended
bin/loadtest -fs-serv "$FS_SERV" -serve "$export_dir" -serve-args "$serve_args" \
	-duration "${LOAD_DURATION:-10m}" -progress 30s "${metrics[@]}" ${LOAD_ARGS:-}
