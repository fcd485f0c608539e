#!/usr/bin/env bash
# pynfs.sh [PORT|start] [SUITES] [-- extra pynfs-run args]
#   PORT   run pynfs against a server already listening on 127.0.0.1:PORT
#   start  (default) start bin/fs_serv on a free port with a fresh temp export
# SUITES defaults to "4.0 4.1"; results go to $PYNFS_OUT (/tmp/fsbridge-pynfs).
# Prints each suite's summary line (pass=N fail=N warn=N omit=N total=N).
# Exits 1 if a suite could not run (pynfs-run exit != 0); test failures alone
# do not fail the script (compare with ../shared/tools/nfs-conformance/baseline-ganesha.md).
#
# PYNFS_SEC=krb5|krb5i|krb5p runs the suites over RPCSEC_GSS: a throwaway
# realm (scripts/krb5-realm.sh; make deps installs the KDC and
# python3-gssapi), fs_serv with its keytab and sec=PYNFS_SEC:sys, pynfs with
# --security=PYNFS_SEC as root@FSBRIDGE.TEST against localhost (the service
# principal is nfs/localhost).
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
REALM_DIR=
HOST=127.0.0.1
trap 'stop_server; [ -n "$EXP" ] && rm -rf "$EXP"; [ -n "$REALM_DIR" ] && { "$REPO/scripts/krb5-realm.sh" stop "$REALM_DIR"; rm -rf "$REALM_DIR"; }' EXIT
trap 'exit 130' INT TERM HUP
if [ -n "${PYNFS_SEC:-}" ]; then
	case $PYNFS_SEC in krb5 | krb5i | krb5p) ;; *)
		log "PYNFS_SEC=$PYNFS_SEC: want krb5, krb5i or krb5p"
		exit 2
		;;
	esac
	[ "$MODE" = start ] || { log "PYNFS_SEC needs MODE start (the server must use the realm's keytab)"; exit 2; }
	REALM_DIR=$(mktemp -d /tmp/fsbridge-realm.XXXXXX)
	realm_env=$("$REPO/scripts/krb5-realm.sh" "$REALM_DIR") || { log "no Kerberos realm (make deps)"; exit 1; }
	eval "$realm_env"
	# pynfs's rpcsec code imports gss_type as a top-level module, which its
	# build does not provide: a one-line alias module of our own.
	mkdir -p "$REALM_DIR/pyshim"
	echo 'from rpc.rpcsec.gss_type import *' >"$REALM_DIR/pyshim/gss_type.py"
	export PYTHONPATH=$REALM_DIR/pyshim${PYTHONPATH:+:$PYTHONPATH}
	export PYNFS_ARGS="--security=$PYNFS_SEC ${PYNFS_ARGS:-}"
	FS_SERV_EXTRA_ARGS="${FS_SERV_EXTRA_ARGS:-} --keytab $REALM_DIR/nfs.keytab -o sec=krb5i:krb5:krb5p:sys"
	HOST=localhost
fi
if [ "$MODE" = start ]; then
	PORT=$(free_port)
	EXP=$(mktemp -d /tmp/fsbridge-export.XXXXXX)
	# mktemp makes it 0700: pynfs's second client (another uid under
	# AUTH_SYS) must be able to look up what the first one created.
	chmod 0755 "$EXP"
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
	log "=== pynfs $s against $HOST:$PORT ${PYNFS_SEC:+(${PYNFS_SEC}) }(full log: $out/pynfs.log)"
	t0=$(date +%s)
	"$NC/pynfs-run" "$HOST:$PORT/" "$s" "$out" "$@" | tee "$out.stdout"
	r=${PIPESTATUS[0]}
	line=$(tail -n 1 "$out.stdout")
	SUMMARY+=("pynfs $s: $line  (rc=$r, $(($(date +%s) - t0)) s)")
	[ "$r" = 0 ] || rc=1
done
echo "==================== pynfs summary (results in $OUTROOT)"
printf '%s\n' "${SUMMARY[@]}"
exit $rc
