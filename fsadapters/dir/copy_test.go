package dir

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

func openNew(t *testing.T, fs *FS, name string) fsadapters.File {
	t.Helper()
	fh, _, _, err := fs.Create(t.Context(), &fsadapters.Root, fs.Root(), name,
		&fsadapters.CreateReq{Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Open(t.Context(), &fsadapters.Root, fh, fsadapters.OpenRead|fsadapters.OpenWrite)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCopyRange(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	src, dst := openNew(t, fs, "src"), openNew(t, fs, "dst")
	data := bytes.Repeat([]byte("0123456789"), 100000)
	if _, err := src.WriteAt(data, 0, false); err != nil {
		t.Fatal(err)
	}
	cp := src.(fsadapters.Copier)
	n, err := cp.CopyRange(dst, 10, 3, 1<<30)
	if err != nil || n != int64(len(data)-10) {
		t.Fatalf("CopyRange = %d, %v", n, err)
	}
	got := make([]byte, len(data)+10)
	m, _, _ := dst.ReadAt(got, 0)
	if m != 3+len(data)-10 || !bytes.Equal(got[3:m], data[10:]) {
		t.Fatalf("copy differs: %d bytes", m)
	}
	if n, err := cp.CopyRange(dst, int64(len(data)), 0, 10); n != 0 || err != nil {
		t.Fatalf("CopyRange at EOF = %d, %v", n, err)
	}
	if _, err := cp.CopyRange(src, 0, 5, 100); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("overlapping same-file copy: %v", err)
	}
	// A syscall refusal meaning "not between these files" asks for the
	// read/write fallback.
	old := copyFileRange
	t.Cleanup(func() { copyFileRange = old })
	copyFileRange = func(int, *int64, int, *int64, int, int) (int, error) { return 0, unix.EXDEV }
	if _, err := cp.CopyRange(dst, 0, 0, 10); !errors.Is(err, fsadapters.ErrCrossCopy) {
		t.Fatalf("EXDEV copy: %v", err)
	}
}

func TestCloneRange(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	src, dst := openNew(t, fs, "src"), openNew(t, fs, "dst")
	data := bytes.Repeat([]byte("z"), 8192)
	src.WriteAt(data, 0, true)
	err := src.(fsadapters.Cloner).CloneRange(dst, 0, 0, 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("filesystem cannot clone: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2*len(data))
	if n, _, _ := dst.ReadAt(got, 0); !bytes.Equal(got[:n], data) {
		t.Fatalf("clone differs: %d bytes", n)
	}
}
