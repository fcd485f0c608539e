# lib.sh: helpers shared by scripts/*.sh (sourced, not run).
# Provides REPO, SHARED, KC (kernel-client tools), NC (nfs-conformance tools),
# free_port, start_server, stop_server.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
KC=$SHARED/tools/kernel-client
NC=$SHARED/tools/nfs-conformance
FS_SERV=${FS_SERV:-$REPO/bin/fs_serv}
PATH=$PATH:/usr/local/go/bin

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# free_port: print a currently unused TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# rpc_ping PORT: one NFSv4 NULL call. Uses the shared tool when present,
# else a bare TCP connect (weaker, but keeps the scripts usable standalone).
rpc_ping() {
	if [ -x "$NC/rpc-ping" ]; then
		RPC_PING_TIMEOUT=2 "$NC/rpc-ping" 127.0.0.1 "$1" >/dev/null 2>&1
	else
		timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
	fi
}

# start_server PORT LOGFILE ARGS...: run fs_serv on 127.0.0.1:PORT in the
# background (SERVER_PID), wait until it answers an RPC NULL (15 s max).
# FS_SERV_EXTRA_ARGS are added before ARGS (e.g. debug flags).
SERVER_PID=
start_server() {
	local port=$1 logf=$2
	shift 2
	[ -x "$FS_SERV" ] || { log "no $FS_SERV (run make build; cmd/fs_serv may not exist yet)"; return 1; }
	# shellcheck disable=SC2086
	"$FS_SERV" -p "$port" --listen 127.0.0.1 ${FS_SERV_EXTRA_ARGS:-} "$@" >"$logf" 2>&1 </dev/null &
	SERVER_PID=$!
	local i
	for i in $(seq 1 75); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "fs_serv exited early; log tail:"
			tail -n 20 "$logf" >&2
			SERVER_PID=
			return 1
		fi
		rpc_ping "$port" && { log "fs_serv pid $SERVER_PID answers on 127.0.0.1:$port ($*)"; return 0; }
		sleep 0.2
	done
	log "fs_serv did not answer an RPC NULL on 127.0.0.1:$port within 15 s; log tail:"
	tail -n 20 "$logf" >&2
	stop_server
	return 1
}

# stop_server: SIGTERM the server we started (by PID only), SIGKILL after 10 s.
stop_server() {
	[ -n "${SERVER_PID:-}" ] || return 0
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		local i
		for i in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
}

# vm_ready: succeeds when the kernel-client VM can be used; else prints why.
vm_ready() {
	local d=${NFSVM_DIR:-/tmp/nfsvm}
	[ -x "$KC/run-in-vm" ] || { echo "no kernel-client tools at $KC (set SHARED)"; return 1; }
	command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed (make deps)"; return 1; }
	[ -f "$d/initramfs.img" ] && [ -f "$d/vmlinuz" ] && [ -f "$d/accel" ] ||
		{ echo "VM not built in $d ($KC/build-vm failed or was not run; make deps)"; return 1; }
	return 0
}
