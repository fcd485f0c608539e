#!/usr/bin/env bash
# demo.sh: start fs_serv on a small sample export and look at it through a
# client: mount_remote (FUSE, needs root and /dev/fuse) when bin/mount_remote
# exists, else libnfs's
# nfs-ls/nfs-cat (a real NFSv4 client), else just an RPC NULL ping.
# Env: DEMO_DIR [/tmp/fsbridge-demo], DEMO_PORT [a free port],
#      MOUNT_REMOTE_ARGS (extra flags for mount_remote).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=${DEMO_DIR:-/tmp/fsbridge-demo}
EXP=$D/export
MNT=$D/mnt
MR=$REPO/bin/mount_remote
MOUNTED=
cleanup() {
	# mount_remote serves in the background once mounted; unmounting ends it.
	if [ -n "$MOUNTED" ] && mountpoint -q "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null
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
	echo "demo: mounting 127.0.0.1:$PORT at $MNT with $MR"
	# mount_remote returns once the mount is ready (or with the error) and
	# keeps serving it in the background until it is unmounted.
	# shellcheck disable=SC2086
	if (set -x; "$MR" ${MOUNT_REMOTE_ARGS:-} "127.0.0.1:$PORT" "$MNT"); then
		MOUNTED=1
		(set -x; grep " $MNT " /proc/mounts; ls -la "$MNT"; cat "$MNT/hello.txt" "$MNT/link-to-hello"
		 ls -la "$MNT/docs"; cat "$MNT/docs/notes.md"; cmp "$MNT/random.bin" "$EXP/random.bin"
		 echo "written through the mount" >"$MNT/new.txt"; cat "$EXP/new.txt"; df -h "$MNT") || rc=1
		echo "demo: unmounting"
		(set -x; fusermount3 -u "$MNT") || rc=1
		MOUNTED=
		for _ in $(seq 1 25); do pgrep -f "mount_remote.*127.0.0.1:$PORT" >/dev/null || break; sleep 0.2; done
	else
		echo "demo: FAILED: mount_remote could not mount $MNT"
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
