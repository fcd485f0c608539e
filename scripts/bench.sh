#!/usr/bin/env bash
# bench.sh: issue 3's speed benchmark. Runs shared/tools/bench/workloads on
#   mount_remote  fs_serv (this tree) exporting a temp dir on 127.0.0.1,
#                 mounted by mount_remote with its default options
#   gofuse        go-fuse loopback, kernel FUSE passthrough OFF (the FUSE
#                 ceiling a network client can reach; see the bench README)
#   sshfs         sshfs through a private sshd on 127.0.0.1
# in one run, into one results.jsonl; prints `report`'s table, the issue's
# ratio checks (PASS/MISS) and mount_remote's peak RSS (VmHWM).
# Needs root (mount(2), drop_caches) and `make deps-bench`.
#
# Environment (all optional):
#   QUICK=1            short sanity run: SEQ_MB=256 META_N=2000 RR_SECS=5
#                      RR_DIRECT_SECS=3 DBENCH_SECS=10 QUIET_WAIT=10
#                      (explicit settings of those still win)
#   REPEAT=1           rounds; peers are interleaved within a round
#   PEERS="mount_remote gofuse sshfs"
#   RESULTS=DIR        where results.jsonl, logs and report.md go
#                      (default $BENCH_DIR/results/fsbridge-DATE-TIME)
#   MR_OPTS=           -o options for mount_remote (default: none)
#   MOUNT_REMOTE=, FS_SERV=   binaries to use instead of building bin/*
#   FS_SERV_ARGS=      extra fs_serv flags (e.g. -d)
#   SSHFS_PROFILE=default     sshfs peer profile (default | tuned | tuned-mc2)
#   BENCH_TOOLS=DIR    the bench scripts (default $SHARED/tools/bench)
#   WL_GODEBUG=asyncpreemptoff=1  GODEBUG for the workloads' Go helpers
#                      (metabench), all peers alike: Go's async preemption
#                      signal (SIGURG) interrupts a blocked open(2); FUSE then
#                      sends FUSE_INTERRUPT and mount_remote answers EINTR,
#                      which metabench's raw syscall.Open does not retry (a
#                      mount/ bug, see docs/bench.md). Set it empty to see it.
#   every `workloads` knob passes through (WORKLOADS, SEQ_MB, META_N, ...)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
T=${BENCH_TOOLS:-$SHARED/tools/bench}
export PATH=$PATH:/usr/local/go/bin
export BENCH_DIR=${BENCH_DIR:-/tmp/bench}
GO=${GO:-go}

say() { echo "[bench $(date +%T)] $*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

[[ -x $T/workloads ]] || die "no bench tools at $T (set SHARED or BENCH_TOOLS)"
[[ $(id -u) == 0 ]] || die "run as root (FUSE mounts with mount(2), drop_caches)"
for c in jq fio dbench fincore sshfs /usr/sbin/sshd fusermount3; do
	command -v "$c" >/dev/null || die "$c missing: run make deps-bench"
done

if [[ ${QUICK:-0} == 1 ]]; then
	export SEQ_MB=${SEQ_MB:-256} META_N=${META_N:-2000} RR_SECS=${RR_SECS:-5}
	export RR_DIRECT_SECS=${RR_DIRECT_SECS:-3} DBENCH_SECS=${DBENCH_SECS:-10}
	export QUIET_WAIT=${QUIET_WAIT:-10}
fi
REPEAT=${REPEAT:-1}
PEERS=${PEERS:-mount_remote gofuse sshfs}
export SSHFS_PROFILE=${SSHFS_PROFILE:-default}
WL_GODEBUG=${WL_GODEBUG-asyncpreemptoff=1}
RES=$(readlink -m "${RESULTS:-$BENCH_DIR/results/fsbridge-$(date +%Y%m%d-%H%M%S)}")
mkdir -p "$RES"
OUTJ=$RES/results.jsonl
RSSF=$RES/rss.txt
mkdir -p "$BENCH_DIR"
WORK=$(mktemp -d "$BENCH_DIR/fsbridge.XXXXXX")

# ------------------------------------------------------------ cleanup (trap)
MR_PID="" SRV_PID="" MR_MNT="" PEER_CUR=""
cleanup() {
	local rc=$?
	set +e
	[[ -n ${WL_PID:-} ]] && kill "$WL_PID" 2>/dev/null
	if [[ -n $MR_MNT ]] && mountpoint -q "$MR_MNT"; then
		fusermount3 -u "$MR_MNT" 2>/dev/null || umount "$MR_MNT" 2>/dev/null || umount -l "$MR_MNT"
	fi
	stop "$MR_PID"
	stop "$SRV_PID"
	MR_PID="" SRV_PID="" MR_MNT=""
	if [[ -n $PEER_CUR ]]; then
		# shellcheck disable=SC2086
		"$T/peer-down" $PEER_CUR
		PEER_CUR=""
	fi
	rm -rf "$WORK"
	return $rc
}
# stop PID: TERM one process we started, KILL after 10 s.
stop() {
	local p=$1 i
	[[ -n $p ]] || return 0
	kill "$p" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$p" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$p" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ build
if [[ -z ${MOUNT_REMOTE:-} || -z ${FS_SERV:-} ]]; then
	say "building bin/fs_serv bin/mount_remote"
	mkdir -p "$REPO/bin"
	(cd "$REPO" && "$GO" build -o bin/ ./cmd/fs_serv ./cmd/mount_remote)
fi
MOUNT_REMOTE=${MOUNT_REMOTE:-$REPO/bin/mount_remote}
FS_SERV=${FS_SERV:-$REPO/bin/fs_serv}

free_port() {
	local p
	for p in $(seq 20490 20590); do
		ss -ltnH "sport = :$p" | grep -q . || {
			echo "$p"
			return 0
		}
	done
	die "no free TCP port in 20490-20590"
}

# ------------------------------------------------------------ mount_remote peer
# mr_up: fs_serv on a fresh export dir + mount_remote -f (our own child, so
# its PID is known for VmHWM and profiling).
mr_up() {
	local port i
	port=$(free_port)
	mkdir -p "$WORK/export" "$WORK/mnt"
	MR_MNT=$WORK/mnt
	# No client records kept across runs (--state-dir none): a record left
	# by the previous round would start a grace period in which every OPEN
	# of the next mount gets NFS4ERR_GRACE.
	local sd=()
	"$FS_SERV" -h 2>&1 | grep -q -- -state-dir && sd=(--state-dir none)
	# shellcheck disable=SC2086
	setsid "$FS_SERV" -p "$port" --listen 127.0.0.1 "${sd[@]}" ${FS_SERV_ARGS:-} "$WORK/export" \
		>"$RES/fs_serv.$runid.log" 2>&1 </dev/null &
	SRV_PID=$!
	for i in $(seq 100); do
		ss -ltnH "sport = :$port" | grep -q LISTEN && break
		kill -0 "$SRV_PID" 2>/dev/null || die "fs_serv exited: $(tail -3 "$RES/fs_serv.$runid.log")"
		sleep 0.1
	done
	local o=()
	[[ -n ${MR_OPTS:-} ]] && o=(-o "$MR_OPTS")
	setsid "$MOUNT_REMOTE" -f "${o[@]}" "127.0.0.1:$port" "$MR_MNT" \
		>"$RES/mount_remote.$runid.log" 2>&1 </dev/null &
	MR_PID=$!
	for i in $(seq 200); do
		mountpoint -q "$MR_MNT" && break
		kill -0 "$MR_PID" 2>/dev/null || die "mount_remote exited: $(tail -3 "$RES/mount_remote.$runid.log")"
		sleep 0.1
	done
	mountpoint -q "$MR_MNT" || die "mount_remote did not mount $MR_MNT"
	say "mount_remote 127.0.0.1:$port -> $MR_MNT (mount_remote pid $MR_PID, fs_serv pid $SRV_PID)"
	echo "$MR_PID" >"$RES/mount_remote.pid" # for a profiler attaching from outside
}

# vm_kib PID FIELD: VmHWM / VmRSS in KiB from /proc/PID/status.
vm_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || true; }

mr_down() {
	local hwm shwm
	hwm=$(vm_kib "$MR_PID" VmHWM)
	shwm=$(vm_kib "$SRV_PID" VmHWM)
	echo "$runid mount_remote_VmHWM_KiB=${hwm:-?} fs_serv_VmHWM_KiB=${shwm:-?}" >>"$RSSF"
	say "peak RSS: mount_remote ${hwm:-?} KiB, fs_serv ${shwm:-?} KiB"
	local n v
	for n in client:$hwm server:$shwm; do
		v=${n#*:}
		if [[ -n $v ]]; then
			printf '{"label":"mount_remote","run":"%s","name":"rss_peak_%s","value":%s,"unit":"MiB"}\n' \
				"$runid" "${n%%:*}" "$(awk -v k="$v" 'BEGIN{printf "%.1f", k/1024}')" >>"$OUTJ"
		fi
	done
	fusermount3 -u "$MR_MNT" 2>/dev/null || umount "$MR_MNT" 2>/dev/null || umount -l "$MR_MNT"
	# mount_remote exits by itself once unmounted (after ending its
	# session): give it 5 s before signalling it.
	local i
	for i in $(seq 50); do
		kill -0 "$MR_PID" 2>/dev/null || break
		sleep 0.1
	done
	stop "$MR_PID"
	stop "$SRV_PID"
	MR_PID="" SRV_PID="" MR_MNT=""
	rm -rf "$WORK/export" "$WORK/mnt"
}

# wl LABEL DIR: workloads on DIR. In the background + wait, so that a
# TERM/INT runs the cleanup trap at once (it unmounts, which ends workloads).
WL_PID=""
wl() {
	GODEBUG=$WL_GODEBUG BENCH_LABEL=$1 BENCH_RUNID=$runid "$T/workloads" "$2" "$OUTJ" \
		>"$RES/$1.$runid.tsv" &
	WL_PID=$!
	wait "$WL_PID"
	WL_PID=""
	tail -1 "$RES/$1.$runid.tsv" | tee -a "$RES/summary.txt"
}

# ------------------------------------------------------------ run
for r in $(seq "$REPEAT"); do
	for p in $PEERS; do
		runid=r$r-$(date +%H%M%S)
		say "=== round $r/$REPEAT: $p ==="
		case $p in
		mount_remote)
			mr_up
			wl mount_remote "$MR_MNT"
			mr_down
			;;
		gofuse | sshfs)
			d=$BENCH_DIR/mnt/fsbridge-$p.$$
			PEER_CUR="$p $d"
			GOFUSE_PASSTHROUGH=0 "$T/peer-up" "$p" "$d"
			wl "$p" "$d"
			"$T/peer-down" "$p" "$d"
			PEER_CUR=""
			;;
		*) die "unknown peer $p (mount_remote, gofuse, sshfs)" ;;
		esac
	done
done

# ------------------------------------------------------------ report
{
	echo "## fsbridge bench $(date -u +%FT%TZ) (REPEAT=$REPEAT QUICK=${QUICK:-0} SEQ_MB=${SEQ_MB:-1024} META_N=${META_N:-10000} sshfs=$SSHFS_PROFILE)"
	echo
	REPORT_STATS=${REPORT_STATS:-$((REPEAT > 1 ? 1 : 0))} "$T/report" "$OUTJ" $PEERS
	echo
	# median VALUE of figure NAME for LABEL (over runs); empty if none.
	med() {
		jq -rs --arg l "$1" --arg n "$2" '[.[] | select(.label == $l and .name == $n and (.value | type == "number")) | .value]
			| sort | if length == 0 then "" elif length % 2 == 1 then .[length / 2 | floor]
			else (.[length / 2 - 1] + .[length / 2]) / 2 end' "$OUTJ"
	}
	# check DESC NAME PEER OP FACTOR: mount_remote's NAME vs PEER's.
	#   OP ge: mr >= FACTOR x peer (rates); le: mr <= FACTOR x peer (times)
	check() {
		local desc=$1 name=$2 peer=$3 op=$4 k=$5 a b
		a=$(med mount_remote "$name")
		b=$(med "$peer" "$name")
		if [[ -z $a || -z $b ]]; then
			echo "- SKIP $desc: no $name for mount_remote or $peer"
			return
		fi
		awk -v a="$a" -v b="$b" -v k="$k" -v op="$op" -v d="$desc" 'BEGIN{
			r = (b > 0) ? a / b : 0
			ok = (op == "ge") ? (r >= k) : (r <= k)
			printf "- %s %s: %.3g vs %.3g = %.2fx (target %s %sx)\n", ok ? "PASS" : "MISS", d, a, b, r, op == "ge" ? ">=" : "<=", k }'
	}
	stat_name=meta_stat_cold_ops
	[[ -n $(med mount_remote meta_stat_cold_ops) ]] || stat_name=meta_stat_nodrop_ops
	echo "Issue 3 targets (medians; mount_remote / peer):"
	echo
	check "seq read (cold) >= 0.9x gofuse" seq_read_cold gofuse ge 0.9
	check "seq read (cold) >= 4x sshfs" seq_read_cold sshfs ge 4
	check "seq write (fsync) >= 0.8x gofuse" seq_write_fsync gofuse ge 0.8
	check "untar time <= 1.5x gofuse" untar_s gofuse le 1.5
	check "create >= 0.7x gofuse" meta_create_ops gofuse ge 0.7
	check "stat (cold) >= 0.7x gofuse" "$stat_name" gofuse ge 0.7
	check "unlink >= 0.7x gofuse" meta_unlink_ops gofuse ge 0.7
	hwm=$(jq -rs '[.[] | select(.label == "mount_remote" and .name == "rss_peak_client") | .value] | max // empty' "$OUTJ")
	if [[ -n $hwm ]]; then
		awk -v m="$hwm" 'BEGIN{printf "- %s mount_remote peak RSS (VmHWM, max over runs): %.1f MiB (target < 128 MiB)\n", m < 128 ? "PASS" : "MISS", m}'
	fi
	busy=$(jq -rs '[.[] | select(.name | test("host_busy")) | .value] | map(tostring) | join(" ")' "$OUTJ")
	echo
	echo "Host busy % before/after each workloads run (other processes share this box): $busy"
	echo "Results: $OUTJ"
} | tee "$RES/report.md"
