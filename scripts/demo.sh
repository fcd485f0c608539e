#!/usr/bin/env bash
# demo.sh: start fs_serv on a small sample export and look at it through a
# client: mount_remote (FUSE) when bin/mount_remote exists, else libnfs's
# nfs-ls/nfs-cat (a real NFSv4 client), else just an RPC NULL ping.
# Env: DEMO_DIR [/tmp/fsbridge-demo], DEMO_PORT [a free port],
#      MOUNT_REMOTE_ARGS (extra flags for mount_remote).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=${DEMO_DIR:-/tmp/fsbridge-demo}
EXP=$D/export
MNT=$D/mnt
MR=$REPO/bin/mount_remote
MR_PID=
cleanup() {
	if [ -n "$MR_PID" ]; then
		mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null; }
		kill -0 "$MR_PID" 2>/dev/null && kill -TERM "$MR_PID" 2>/dev/null
		wait "$MR_PID" 2>/dev/null
	fi
	stop_server
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

rm -rf "$EXP" && mkdir -p "$EXP/docs" "$MNT"
echo "hello from fsbridge" >"$EXP/hello.txt"
printf '# notes\nserved by fs_serv over NFSv4\n' >"$EXP/docs/notes.md"
head -c 1048576 /dev/urandom >"$EXP/random.bin"
ln -sf hello.txt "$EXP/link-to-hello"
echo "demo: sample export $EXP:"
ls -la "$EXP"

PORT=${DEMO_PORT:-$(free_port)}
start_server "$PORT" "$D/fs_serv.log" "$EXP" || { echo "demo: FAILED: fs_serv did not start"; exit 1; }
echo "demo: fs_serv serves $EXP on 127.0.0.1:$PORT (log $D/fs_serv.log)"

rc=0
if [ -x "$MR" ]; then
	echo "demo: mounting with $MR at $MNT"
	# shellcheck disable=SC2086
	"$MR" ${MOUNT_REMOTE_ARGS:-} "127.0.0.1:$PORT" "$MNT" >"$D/mount_remote.log" 2>&1 </dev/null &
	MR_PID=$!
	for _ in $(seq 1 50); do mountpoint -q "$MNT" && break; sleep 0.2; done
	if mountpoint -q "$MNT"; then
		(set -x; ls -la "$MNT"; cat "$MNT/hello.txt"; ls -la "$MNT/docs"; cmp "$MNT/random.bin" "$EXP/random.bin") || rc=1
		echo "demo: unmounting"
		fusermount3 -u "$MNT" || rc=1
		wait "$MR_PID" 2>/dev/null
		MR_PID=
	else
		echo "demo: FAILED: $MNT did not get mounted; mount_remote log:"
		tail -n 20 "$D/mount_remote.log"
		rc=1
	fi
elif command -v nfs-ls >/dev/null; then
	echo "demo: bin/mount_remote does not exist yet; using libnfs (nfs-ls / nfs-cat, NFSv4.0) instead"
	u="?version=4&nfsport=$PORT"
	(set -x; nfs-ls "nfs://127.0.0.1/$u"; nfs-cat "nfs://127.0.0.1//hello.txt$u") || rc=1
else
	echo "demo: neither bin/mount_remote nor libnfs-utils (make deps) is available;"
	echo "demo: showing that the server answers an ONC RPC NULL call instead:"
	if [ -x "$NC/rpc-ping" ]; then
		(set -x; "$NC/rpc-ping" 127.0.0.1 "$PORT") || rc=1
	else
		echo "demo: no $NC/rpc-ping either (set SHARED)"; rc=1
	fi
fi
echo "demo: stopping fs_serv"
stop_server
[ $rc -eq 0 ] && echo "demo: done" || echo "demo: FAILED"
exit $rc
