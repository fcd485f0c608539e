package mount

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMetaOps is the cost of one metadata system call through a mount
// (issue 3's create/unlink/untar rates): fchmod, utimensat, create+close
// and unlink of files in one directory, each waiting for its reply before
// the next, as metabench and tar do. Besides ns/op it reports round
// trips (COMPOUNDs) per call, and what the whole process — mount, client,
// the in-process server — spends per call: CPU time and context switches
// (getrusage). On a small VM the context switches, each a sleep and a
// wake-up of some thread, are what a round trip costs most (docs/bench.md).
// Run: make bench-meta (root and /dev/fuse, like the mount tests).
func BenchmarkMetaOps(b *testing.B) {
	for _, op := range []string{"fchmod", "utimens", "create-close", "unlink"} {
		b.Run(op, func(b *testing.B) {
			addr, _, cnt := serveMetricsT(b)
			mnt, _, _ := mountOptsT(b, addr, "meta", Options{})
			dir := filepath.Join(mnt, "d")
			if err := syscall.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			f := filepath.Join(dir, "f")
			fd, err := syscall.Open(f, syscall.O_CREAT|syscall.O_RDWR, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer syscall.Close(fd)
			name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("n%07d", i)) }
			create := func(i int) {
				nfd, err := syscall.Open(name(i), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o644)
				if err != nil {
					b.Fatalf("create: %v", err)
				}
				syscall.Close(nfd)
			}
			var run func(i int)
			switch op {
			case "fchmod":
				run = func(i int) {
					if err := syscall.Fchmod(fd, uint32(0o600+i%2)); err != nil {
						b.Fatal(err)
					}
				}
			case "utimens":
				run = func(i int) {
					ts := []syscall.Timespec{{Sec: int64(i)}, {Sec: int64(i)}}
					if err := syscall.UtimesNano(f, ts); err != nil {
						b.Fatal(err)
					}
				}
			case "create-close":
				run = create
			case "unlink":
				run = func(i int) {
					if err := syscall.Unlink(name(i)); err != nil {
						b.Fatalf("unlink: %v", err)
					}
				}
			}
			const unlinkFiles = 20000
			if op == "unlink" {
				// Names to unlink, made before the first b.Loop (which
				// starts the timer).
				for i := range unlinkFiles {
					create(i)
				}
				time.Sleep(100 * time.Millisecond) // let the releases (CLOSE) finish
			}
			rt0 := roundTrips(cnt)
			cpu0, cs0 := selfUsage()
			n := 0
			for b.Loop() {
				if op == "unlink" && n >= unlinkFiles {
					b.Fatalf("unlink: more iterations than the %d files made; use a smaller -benchtime", unlinkFiles)
				}
				run(n)
				n++
			}
			b.StopTimer()
			cpu1, cs1 := selfUsage()
			b.ReportMetric(float64(roundTrips(cnt)-rt0)/float64(n), "roundtrips/op")
			b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(n), "cpu-µs/op")
			b.ReportMetric(float64(cs1-cs0)/float64(n), "ctxsw/op")
		})
	}
}

// selfUsage is the process's CPU time and context switches so far.
func selfUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Nvcsw + ru.Nivcsw
}
