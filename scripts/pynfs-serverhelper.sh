#!/usr/bin/env bash
# pynfs-serverhelper.sh EXPORT CMD ARGS...: pynfs's --serverhelper for a local
# fs_serv (`--serverhelper scripts/pynfs-serverhelper.sh --serverhelperarg
# EXPORT`). pynfs asks for changes made on the server itself, by a process
# that is not an NFS client (DELEG16–20: unlink, rename, link, chmod of a
# delegated file, which the server must recall); paths are the export's
# (/tmp/x → EXPORT/tmp/x). "reboot" is not supported (exit 1).
set -euo pipefail
export_dir=$1
cmd=$2
shift 2
args=()
for a in "$@"; do
	case $a in
	/*) args+=("$export_dir$a") ;;
	*) args+=("$a") ;;
	esac
done
case $cmd in
unlink) rm -f -- "${args[@]}" ;;
rename) mv -f -- "${args[@]}" ;;
link) ln -- "${args[@]}" ;;
chmod) chmod -- "${args[@]}" ;;
*)
	echo "pynfs-serverhelper: $cmd is not supported" >&2
	exit 1
	;;
esac
