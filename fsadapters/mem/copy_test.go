package mem

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

func readAll(t *testing.T, f fsadapters.File) []byte {
	t.Helper()
	buf := make([]byte, 1<<20)
	n, _, err := f.ReadAt(buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestCopyRange(t *testing.T) {
	fs := New()
	_, src := mkfile(t, fs, "src")
	_, dst := mkfile(t, fs, "dst")
	// Data, a hole of two chunks, data; unaligned offsets on both sides.
	a := bytes.Repeat([]byte("A"), chunkSize+100)
	b := bytes.Repeat([]byte("B"), 300)
	src.WriteAt(a, 0, false)
	src.WriteAt(b, 4*chunkSize, false)
	want := readAll(t, src)
	dst.WriteAt(bytes.Repeat([]byte("x"), 3*chunkSize), 0, false) // overwritten, the hole too

	n, err := src.(fsadapters.Copier).CopyRange(dst, 0, 7, 1<<30)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("CopyRange = %d, %v; want %d", n, err, len(want))
	}
	got := readAll(t, dst)
	if !bytes.Equal(got[:7], []byte("xxxxxxx")) || !bytes.Equal(got[7:], want) {
		t.Fatalf("copy differs (len %d, want %d)", len(got), 7+len(want))
	}
	// At or past the source's end: nothing copied.
	if n, err := src.(fsadapters.Copier).CopyRange(dst, int64(len(want)), 0, 10); n != 0 || err != nil {
		t.Fatalf("CopyRange at EOF = %d, %v", n, err)
	}
	// One file, overlapping ranges: EINVAL; disjoint ranges work.
	if _, err := src.(fsadapters.Copier).CopyRange(src, 0, 10, 100); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("overlapping same-file copy: %v", err)
	}
	if n, err := src.(fsadapters.Copier).CopyRange(src, 0, 5*chunkSize, 10); n != 10 || err != nil {
		t.Fatalf("same-file copy = %d, %v", n, err)
	}
	// Another instance's file is not ours to copy into.
	_, other := mkfile(t, New(), "o")
	if _, err := src.(fsadapters.Copier).CopyRange(other, 0, 0, 10); !errors.Is(err, fsadapters.ErrCrossCopy) {
		t.Fatalf("cross-instance copy: %v", err)
	}
}

func TestCloneRange(t *testing.T) {
	fs := New()
	_, src := mkfile(t, fs, "src")
	_, dst := mkfile(t, fs, "dst")
	src.WriteAt([]byte("hello world"), 0, false)
	if err := src.(fsadapters.Cloner).CloneRange(dst, 6, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, dst); string(got) != "world" {
		t.Fatalf("clone to end: %q", got)
	}
	if err := src.(fsadapters.Cloner).CloneRange(dst, 6, 0, 20); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("clone past EOF: %v", err)
	}
}
