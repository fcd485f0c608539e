package mount

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// SEEK_DATA/SEEK_HOLE through the mount give the answers lseek gives on
// the server's own file.
func TestSeekDataHole(t *testing.T) {
	addr, export, _ := serveMetricsT(t)
	const mib = 1 << 20
	p := filepath.Join(export, "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 4096), 0)
	f.WriteAt([]byte("data in the middle"), mib)
	f.Truncate(3 * mib)
	f.Close()
	mnt, _, _ := mountOptsT(t, addr, "seek", Options{NoDeleg: true})

	local, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	remote, err := os.Open(filepath.Join(mnt, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	seek := func(f *os.File, off int64, whence int) (int64, error) {
		return f.Seek(off, whence)
	}
	holes := 0
	for _, off := range []int64{0, 100, 4096, 8192, mib - 1, mib, mib + 10, mib + 4096, 2 * mib, 3*mib - 1, 3 * mib, 4 * mib} {
		for _, whence := range []int{unixSeekData, unixSeekHole} {
			want, werr := seek(local, off, whence)
			got, gerr := seek(remote, off, whence)
			if want != got || !errors.Is(gerr, errnoOf(werr)) {
				t.Errorf("lseek(%d, %d): mount %d %v, server file %d %v", off, whence, got, gerr, want, werr)
			}
			if whence == unixSeekHole && werr == nil && want < 3*mib {
				holes++
			}
		}
	}
	if holes == 0 {
		t.Skip("the export's filesystem reports no holes; nothing was compared that matters")
	}
}

// errnoOf is the errno inside err, or nil.
func errnoOf(err error) error {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return nil
}
