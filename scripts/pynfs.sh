#!/usr/bin/env bash
# pynfs.sh [PORT|start] [SUITES] [-- extra pynfs-run args]
#   PORT   run pynfs against a server already listening on 127.0.0.1:PORT
#   start  (default) start bin/fs_serv on a free port with a fresh temp export
# SUITES defaults to "4.0 4.1"; results go to $PYNFS_OUT (/tmp/fsbridge-pynfs).
# Prints each suite's summary line (pass=N fail=N warn=N omit=N total=N).
# Exits 1 if a suite could not run (pynfs-run exit != 0); test failures alone
# do not fail the script (compare with ../shared/tools/nfs-conformance/baseline-ganesha.md).
#
# pynfs is GPL and is never copied into this repo, nor built by it: it lives
# in $PYNFS_DIR (/tmp/pynfs), obtained and built as
# ../shared/tools/nfs-conformance/README.md says.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=${1:-start}
SUITES=${2:-4.0 4.1}
shift $(($# > 2 ? 2 : $#))
[ "${1:-}" = -- ] && shift
PYNFS_DIR=${PYNFS_DIR:-/tmp/pynfs}
export PYNFS_DIR
OUTROOT=${PYNFS_OUT:-/tmp/fsbridge-pynfs}

ensure_pynfs() {
	if [ -f "$PYNFS_DIR/nfs4.0/testserver.py" ] && [ -f "$PYNFS_DIR/nfs4.1/xdrdef/nfs4_const.py" ]; then
		return 0
	fi
	# pynfs is GPL and neither kept nor built by this repo: get and build it
	# as the shared tool's README says.
	log "no built pynfs at $PYNFS_DIR (PYNFS_DIR): see $NC/README.md, 'Getting pynfs'"
	return 1
}

ensure_pynfs || exit 1
[ -x "$NC/pynfs-run" ] || { log "no $NC/pynfs-run (set SHARED)"; exit 1; }

EXP=
trap 'stop_server; [ -n "$EXP" ] && rm -rf "$EXP"' EXIT
trap 'exit 130' INT TERM HUP
if [ "$MODE" = start ]; then
	PORT=$(free_port)
	EXP=$(mktemp -d /tmp/fsbridge-export.XXXXXX)
	mkdir -p "$OUTROOT"
	start_server "$PORT" "$OUTROOT/fs_serv.log" "$EXP" || exit 1
elif [[ $MODE =~ ^[0-9]+$ ]]; then
	PORT=$MODE
	rpc_ping "$PORT" || { log "nothing answers an NFSv4 RPC NULL on 127.0.0.1:$PORT"; exit 1; }
else
	echo "usage: $0 [PORT|start] [SUITES] [-- pynfs-run args]" >&2
	exit 2
fi

mkdir -p "$OUTROOT"
rc=0
SUMMARY=()
for s in $SUITES; do
	out=$OUTROOT/v${s/./}
	rm -rf "$out"
	log "=== pynfs $s against 127.0.0.1:$PORT (full log: $out/pynfs.log)"
	t0=$(date +%s)
	"$NC/pynfs-run" "127.0.0.1:$PORT/" "$s" "$out" "$@" | tee "$out.stdout"
	r=${PIPESTATUS[0]}
	line=$(tail -n 1 "$out.stdout")
	SUMMARY+=("pynfs $s: $line  (rc=$r, $(($(date +%s) - t0)) s)")
	[ "$r" = 0 ] || rc=1
done
echo "==================== pynfs summary (results in $OUTROOT)"
printf '%s\n' "${SUMMARY[@]}"
exit $rc
