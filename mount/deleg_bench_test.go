package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/metrics"
)

// BenchmarkHotFile measures what delegations buy (issue 5): a program that
// keeps stat'ing, or opening, reading and closing, one small file, through
// a mount with delegations (default) and one without (-o nodeleg), with the
// mount's default timeouts. Besides ns/op it reports the round trips per
// operation the server counted (COMPOUNDs: SEQUENCE ops, one per 4.1+
// COMPOUND). Run: go test -run '^$' -bench HotFile -benchtime 3s ./mount/
// (root and /dev/fuse, like the mount tests).
func BenchmarkHotFile(b *testing.B) {
	for _, deleg := range []bool{true, false} {
		for _, op := range []string{"stat", "open-read-close"} {
			b.Run(fmt.Sprintf("deleg=%v/%s", deleg, op), func(b *testing.B) {
				addr, export, cnt := serveMetricsT(b)
				data := []byte("a small hot file, read again and again\n")
				if err := os.WriteFile(filepath.Join(export, "hot"), data, 0o644); err != nil {
					b.Fatal(err)
				}
				mnt, _, _ := mountOptsT(b, addr, "hot", Options{NoDeleg: !deleg})
				p := filepath.Join(mnt, "hot")
				buf := make([]byte, 4096)
				run := func() {
					switch op {
					case "stat":
						var st syscall.Stat_t
						if err := syscall.Stat(p, &st); err != nil || st.Size != int64(len(data)) {
							b.Fatalf("stat: %v size %d", err, st.Size)
						}
					default:
						fd, err := syscall.Open(p, syscall.O_RDONLY, 0)
						if err != nil {
							b.Fatal(err)
						}
						n, err := syscall.Read(fd, buf)
						syscall.Close(fd)
						if err != nil || n != len(data) {
							b.Fatalf("read: %d %v", n, err)
						}
					}
				}
				for range 3 {
					run() // the first open brings the delegation
				}
				rt0 := roundTrips(cnt)
				b.ResetTimer()
				for b.Loop() {
					run()
				}
				b.StopTimer()
				b.ReportMetric(float64(roundTrips(cnt)-rt0)/float64(b.N), "roundtrips/op")
			})
		}
	}
}

// roundTrips is the number of COMPOUNDs the server has answered in 4.1+.
func roundTrips(m *metrics.NFS) uint64 { return m.OpCount(nfs4.OpSequence) }
