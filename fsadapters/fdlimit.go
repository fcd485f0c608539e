package fsadapters

import "golang.org/x/sys/unix"

// FDQuarter is a quarter of the process's descriptor limit, clamped to
// [lo, hi] (hi when the limit is unknown or unlimited). Caches and watches
// that hold a descriptor per entry take their default bound from it, so
// that each leaves room for open files, connections and the others.
func FDQuarter(lo, hi int) int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return hi
	}
	return int(min(max(rl.Cur/4, uint64(lo)), uint64(hi)))
}
