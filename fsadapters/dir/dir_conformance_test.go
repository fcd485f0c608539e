package dir

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/fstest"
)

func TestConformance(t *testing.T) {
	fstest.Run(t, func(t *testing.T) fsadapters.FS { return newTestFS(t, t.TempDir()) })
}

// tmpfs differs from ext4 in readdir offsets, handle types and xattrs.
func TestConformanceTmpfs(t *testing.T) {
	var s unix.Statfs_t
	if unix.Statfs("/dev/shm", &s) != nil || s.Type != unix.TMPFS_MAGIC {
		t.Skip("no tmpfs at /dev/shm")
	}
	fstest.Run(t, func(t *testing.T) fsadapters.FS {
		d, err := os.MkdirTemp("/dev/shm", "dirconf")
		if err != nil {
			t.Skip(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return newTestFS(t, d)
	})
}
