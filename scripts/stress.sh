#!/usr/bin/env bash
# stress.sh: the full hostile-client run (issue 6) against a fresh fs_serv.
# For about 2 minutes cmd/hostile attacks fs_serv on a loopback port (2 GiB
# record marks, 1 000 half-sent requests held open, random bytes, garbled
# COMPOUNDs, opcount 1e9, 10 000 pipelined COMPOUNDs whose replies are never
# read) while a well-behaved client checks that NULL and GETATTR answer
# within 1 s and fs_serv's RSS stays under 256 MiB. Exits non-zero on FAIL.
#
# Environment:
#   FS_SERV              server binary                  [bin/fs_serv, built]
#   HOSTILE_ARGS         extra flags for cmd/hostile    (e.g. --duration 5m)
#   FS_SERV_EXTRA_ARGS   extra flags for fs_serv        (e.g. --max-conns-per-addr 64)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mkdir -p bin
if [ -z "${FS_SERV:-}" ]; then
	"$GO" build -o bin/fs_serv ./cmd/fs_serv
	FS_SERV=bin/fs_serv
fi
"$GO" build -o bin/hostile ./cmd/hostile
# shellcheck disable=SC2086 # word splitting of the *_ARGS is intended
exec bin/hostile --fs-serv "$FS_SERV" ${HOSTILE_ARGS:-} -- ${FS_SERV_EXTRA_ARGS:-}
