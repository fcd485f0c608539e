package metrics

import (
	"bytes"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"syscall"
	"time"
)

// Process returns a collector of the process's own figures, under the
// names Prometheus client libraries use: go_goroutines,
// process_resident_memory_bytes, process_open_fds, process_max_fds,
// process_cpu_seconds_total, process_start_time_seconds. The /proc ones
// are left out where /proc is not mounted.
func Process() Collector {
	start := time.Now()
	return CollectorFunc(func(w *Writer) {
		w.Family("go_goroutines", TypeGauge, "Number of goroutines that currently exist.")
		w.Int("go_goroutines", int64(runtime.NumGoroutine()))
		if rss, ok := residentBytes(); ok {
			w.Family("process_resident_memory_bytes", TypeGauge, "Resident memory size in bytes.")
			w.Uint("process_resident_memory_bytes", rss)
		}
		if n, ok := openFDs(); ok {
			w.Family("process_open_fds", TypeGauge, "Number of open file descriptors.")
			w.Int("process_open_fds", int64(n))
		}
		var rl syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
			w.Family("process_max_fds", TypeGauge, "Maximum number of open file descriptors (soft limit).")
			w.Uint("process_max_fds", rl.Cur)
		}
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			w.Family("process_cpu_seconds_total", TypeCounter, "Total user and system CPU time spent in seconds.")
			w.Float("process_cpu_seconds_total", cpu.Seconds())
		}
		w.Family("process_start_time_seconds", TypeGauge, "Start time of the process since the Unix epoch in seconds (when metrics were set up).")
		w.Float("process_start_time_seconds", float64(start.UnixNano())/1e9)
		heapFigures(w)
	})
}

// heapSamples are the Go heap figures exported (runtime/metrics reads them
// without stopping the world), so that an operator can tell live data from
// memory the runtime holds or has given back.
var heapSamples = []struct{ runtime, name, help string }{
	{"/memory/classes/heap/objects:bytes", "go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects (live, or dead and not yet swept)."},
	{"/memory/classes/heap/free:bytes", "go_memstats_heap_idle_free_bytes", "Bytes of free heap memory the runtime still holds from the OS."},
	{"/memory/classes/heap/released:bytes", "go_memstats_heap_released_bytes", "Bytes of heap memory returned to the OS."},
	{"/gc/heap/goal:bytes", "go_gc_heap_goal_bytes", "Heap size at which the next GC cycle starts."},
}

func heapFigures(w *Writer) {
	ss := make([]rtmetrics.Sample, len(heapSamples))
	for i, h := range heapSamples {
		ss[i].Name = h.runtime
	}
	rtmetrics.Read(ss)
	for i, h := range heapSamples {
		if ss[i].Value.Kind() == rtmetrics.KindUint64 {
			w.Family(h.name, TypeGauge, h.help)
			w.Uint(h.name, ss[i].Value.Uint64())
		}
	}
}

// residentBytes reads the resident set size from /proc/self/statm (its
// second field, in pages; proc(5)).
func residentBytes() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}

// openFDs counts the entries of /proc/self/fd, less the one reading it.
func openFDs() (int, bool) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(256)
		n += len(names)
		if err != nil || len(names) == 0 {
			break
		}
	}
	return max(n-1, 0), true
}
