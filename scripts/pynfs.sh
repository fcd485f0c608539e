#!/usr/bin/env bash
# pynfs.sh [PORT|start] [SUITES] [-- extra pynfs-run args]
#   PORT   run pynfs against a server already listening on 127.0.0.1:PORT
#   start  (default) start bin/fs_serv on a free port with a fresh temp export
# SUITES defaults to "4.0 4.1"; results go to $PYNFS_OUT (/tmp/fsbridge-pynfs).
# Prints each suite's summary line (pass=N fail=N warn=N omit=N total=N).
# Exits 1 if a suite could not run (pynfs-run exit != 0); test failures alone
# do not fail the script (compare with ../shared/tools/nfs-conformance/baseline-ganesha.md).
#
# pynfs is GPL and is never copied into this repo: it lives in $PYNFS_DIR
# (/tmp/pynfs). If missing, it is unpacked from a fetched bare mirror
# ($PYNFS_MIRROR, default the first /work/.mirror/*pynfs*/repo) and built with
# /usr/bin/python3 (needs python3-ply: make deps).
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
	local mirror=${PYNFS_MIRROR:-}
	if [ -z "$mirror" ]; then
		for m in /work/.mirror/*pynfs*/repo /work/.mirror/*pynfs*; do
			[ -f "$m/HEAD" ] && { mirror=$m; break; }
		done
	fi
	if [ ! -f "$PYNFS_DIR/nfs4.0/testserver.py" ]; then
		if [ -z "$mirror" ]; then
			cat >&2 <<-MSG
			pynfs.sh: pynfs is not at $PYNFS_DIR and no mirror was found.
			  Get it (GPL; keep it OUTSIDE this repo), then build it:
			    git clone git://git.linux-nfs.org/projects/cdmackay/pynfs.git $PYNFS_DIR
			      (GitHub mirrors: kofemann/pynfs, linux-nfs/pynfs)
			    apt-get install python3-ply
			    cd $PYNFS_DIR && PATH=/usr/bin:\$PATH /usr/bin/python3 setup.py build
			  or set PYNFS_MIRROR to a bare git copy of pynfs.
			MSG
			return 1
		fi
		log "unpacking pynfs from $mirror into $PYNFS_DIR"
		mkdir -p "$PYNFS_DIR"
		git --git-dir="$mirror" archive HEAD | tar -x -C "$PYNFS_DIR" || return 1
	fi
	/usr/bin/python3 -c 'import ply' 2>/dev/null || { log "python3-ply missing (make deps)"; return 1; }
	log "building pynfs in $PYNFS_DIR"
	# setup.py re-invokes "python3" from PATH for each subdir: put Debian's first
	(cd "$PYNFS_DIR" && PATH=/usr/bin:$PATH /usr/bin/python3 setup.py build >"$PYNFS_DIR/.build.log" 2>&1) ||
		{ log "pynfs build failed; see $PYNFS_DIR/.build.log"; return 1; }
	[ -f "$PYNFS_DIR/nfs4.1/xdrdef/nfs4_const.py" ] || { log "pynfs build produced no xdrdef; see $PYNFS_DIR/.build.log"; return 1; }
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
