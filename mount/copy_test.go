package mount

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/metrics"
	"github.com/fsbridge/fsbridge/serve/nfs4srv"
)

// serveMetricsT is serveT with op counters, so a test can see which
// operations the mount sent.
func serveMetricsT(t testing.TB) (addr, export string, m *metrics.NFS) {
	t.Helper()
	m = metrics.NewNFS()
	addr, export = startServerT(t, nfs4srv.Config{Metrics: m}, nil)
	return addr, export, m
}

// copyAll copy_file_range's all of src (from 0) to dst (at 0).
func copyAll(t *testing.T, src, dst *os.File) int64 {
	t.Helper()
	var total int64
	for {
		roff, woff := total, total
		n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, 1<<30, 0)
		if err != nil {
			t.Fatalf("copy_file_range after %d bytes: %v", total, err)
		}
		if n == 0 {
			return total
		}
		total += int64(n)
	}
}

// copy_file_range of a 20 MiB file within the mount is a server-side
// COPY: no READ or WRITE carries the data, and the copy is exact. The
// source is still open with its last writes just sent, so the copy must
// see them.
func TestCopyFileRange(t *testing.T) {
	addr, export, m := serveMetricsT(t)
	mnt := mountAtT(t, addr, "copy-test")
	data := make([]byte, 20<<20)
	rand.Read(data)
	src, err := os.OpenFile(filepath.Join(mnt, "src"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write(data[:len(data)-4096]); err != nil {
		t.Fatal(err)
	}
	dst, err := os.Create(filepath.Join(mnt, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := src.Stat(); err != nil { // waits for the writes so far
		t.Fatal(err)
	}
	// The last write may still be on its way (write-behind): one WRITE,
	// which the copy must wait for.
	reads, writes, copies := m.OpCount(nfs4.OpRead), m.OpCount(nfs4.OpWrite), m.OpCount(nfs4.OpCopy)
	if _, err := src.Write(data[len(data)-4096:]); err != nil {
		t.Fatal(err)
	}
	if n := copyAll(t, src, dst); n != int64(len(data)) {
		t.Fatalf("copied %d bytes, want %d", n, len(data))
	}
	if d := m.OpCount(nfs4.OpRead) - reads; d != 0 {
		t.Errorf("%d READs during the copy", d)
	}
	if d := m.OpCount(nfs4.OpWrite) - writes; d != 1 {
		t.Errorf("%d WRITEs during the copy, want the last write(2)'s only", d)
	}
	if m.OpCount(nfs4.OpCopy) == copies {
		t.Error("no COPY reached the server")
	}
	if got := readFile(t, filepath.Join(export, "dst")); !bytes.Equal(got, data) {
		t.Fatalf("server's copy differs (%d bytes)", len(got))
	}
	if fi, err := dst.Stat(); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("fstat of the destination: %v, %v", fi, err)
	}
	if got := readFile(t, filepath.Join(mnt, "dst")); !bytes.Equal(got, data) {
		t.Fatalf("copy read through the mount differs (%d bytes)", len(got))
	}

	// cp --reflink=auto: FICLONE fails, then cp uses copy_file_range.
	if cp, err := exec.LookPath("cp"); err == nil {
		writes := m.OpCount(nfs4.OpWrite)
		if out, err := exec.Command(cp, "--reflink=auto", filepath.Join(mnt, "dst"), filepath.Join(mnt, "dst2")).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		if d := m.OpCount(nfs4.OpWrite) - writes; d != 0 {
			t.Errorf("cp sent %d WRITEs", d)
		}
		if got := readFile(t, filepath.Join(export, "dst2")); !bytes.Equal(got, data) {
			t.Fatalf("cp's copy differs (%d bytes)", len(got))
		}
	}

	// A range into the middle of an existing file, and a copy starting at
	// the source's end (nothing to do).
	roff, woff := int64(100), int64(1000)
	if n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, 50, 0); err != nil || n != 50 {
		t.Fatalf("range copy: %d, %v", n, err)
	}
	roff = int64(len(data))
	if n, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), &woff, 50, 0); err != nil || n != 0 {
		t.Fatalf("copy at EOF: %d, %v", n, err)
	}
	want := append(append(bytes.Clone(data[:1000]), data[100:150]...), data[1050:]...)
	if got := readFile(t, filepath.Join(mnt, "dst")); !bytes.Equal(got, want) {
		t.Fatal("range copy differs")
	}
}

// fallocate through the mount: mode 0 preallocates and extends, punching
// a hole zeros the range and leaves a hole in the server's file, keep-size
// never grows the file, and modes NFS cannot express are EOPNOTSUPP.
func TestFallocate(t *testing.T) {
	addr, export, _ := serveMetricsT(t)
	mnt := mountAtT(t, addr, "fallocate-test")
	f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 20
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("fallocate -l: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(mnt, "f")); fi.Size() != size {
		t.Fatalf("size after fallocate = %d, want %d", fi.Size(), size)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, size), 0); err != nil {
		t.Fatal(err)
	}
	const holeOff, holeLen = 64 << 10, 256 << 10
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, holeOff, holeLen); err != nil {
		t.Fatalf("fallocate -p: %v", err)
	}
	got := readFile(t, filepath.Join(mnt, "f"))
	if len(got) != size || !bytes.Equal(got[holeOff:holeOff+holeLen], make([]byte, holeLen)) ||
		got[holeOff-1] != 0xff || got[holeOff+holeLen] != 0xff {
		t.Fatalf("after punching: %d bytes, hole contents wrong", len(got))
	}
	back, err := os.Open(filepath.Join(export, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if off, err := unix.Seek(int(back.Fd()), 0, unix.SEEK_HOLE); err != nil || off != holeOff {
		t.Errorf("SEEK_HOLE on the server's file = %d, %v; want %d", off, err, holeOff)
	}
	if off, err := unix.Seek(int(back.Fd()), holeOff, unix.SEEK_DATA); err != nil || off != holeOff+holeLen {
		t.Errorf("SEEK_DATA after the hole = %d, %v; want %d", off, err, holeOff+holeLen)
	}
	// Keep-size past EOF: the size stays.
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, size-10, 1<<20); err != nil {
		t.Fatalf("fallocate --keep-size: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(mnt, "f")); fi.Size() != size {
		t.Fatalf("size after keep-size fallocate = %d, want %d", fi.Size(), size)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_ZERO_RANGE, 0, 10); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("fallocate --zero-range: %v, want EOPNOTSUPP", err)
	}
}
