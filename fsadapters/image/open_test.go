package image

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
)

const fakeMagic = "FAKEIMG!"

func fakeProbe(r io.ReaderAt, size int64) bool {
	b := make([]byte, 8)
	_, err := r.ReadAt(b, 0)
	return err == nil && string(b) == fakeMagic
}

func init() {
	// A test-only format: "FAKEIMG!" then an 8-byte seed for newFake.
	Register(Format{Name: "fakeimg", Probe: fakeProbe, Open: func(r io.ReaderAt, size int64, opt Options) (Reader, error) {
		if !fakeProbe(r, size) {
			return nil, errors.New("bad magic")
		}
		seed := make([]byte, 8)
		if _, err := r.ReadAt(seed, 8); err != nil {
			return nil, err
		}
		return newFake(string(bytes.TrimRight(seed, "\x00")), 3), nil
	}})
}

func writeImage(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeAt(img []byte, off int, seed string) {
	copy(img[off:], fakeMagic)
	copy(img[off+8:], seed)
}

func TestRegistry(t *testing.T) {
	if f, ok := Lookup("fakeimg"); !ok || f.Name != "fakeimg" {
		t.Fatal("fakeimg not registered")
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) succeeded")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("duplicate Register did not panic")
			}
		}()
		Register(Format{Name: "fakeimg", Probe: fakeProbe, Open: func(io.ReaderAt, int64, Options) (Reader, error) { return nil, nil }})
	}()
	Register(Format{Name: "aaa-panicky", Probe: func(io.ReaderAt, int64) bool { panic("probe bug") },
		Open: func(io.ReaderAt, int64, Options) (Reader, error) { return nil, errors.New("no") }})
	fs := Formats()
	for i := 1; i < len(fs); i++ {
		if fs[i-1].Name >= fs[i].Name {
			t.Errorf("Formats not sorted: %s, %s", fs[i-1].Name, fs[i].Name)
		}
	}
	_, err := Detect(bytes.NewReader(make([]byte, 4096)), 4096)
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "(known: aaa-panicky, fakeimg)") {
		t.Errorf("Detect error = %v", err)
	}
	img := make([]byte, 4096)
	fakeAt(img, 0, "x")
	if f, err := Detect(bytes.NewReader(img), 4096); err != nil || f.Name != "fakeimg" {
		t.Errorf("Detect = %v, %v", f.Name, err)
	}
}

func TestOpenFileRaw(t *testing.T) {
	img := make([]byte, 256<<10)
	fakeAt(img, 0, "raw")
	p := writeImage(t, img)
	fs1, err := OpenFile(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs1.Close()
	if fs1.Info().Format != "fake" || fs1.Name() != p {
		t.Errorf("Info %+v name %q", fs1.Info(), fs1.Name())
	}
	fh, _ := lookupPath(t, fs1, "dir/inner.txt")
	fs2, err := OpenFile(p, OpenOptions{}) // "restart"
	if err != nil {
		t.Fatal(err)
	}
	if a, err := fs2.GetAttr(ctx, fh); err != nil || a.Type != fsadapters.TypeRegular {
		t.Errorf("handle after reopen: %v", err)
	}
	fs2.Close()
	if !fs2.Reader().(*fakeReader).closed.Load() {
		t.Error("Close did not close the reader")
	}
	// Same reader content, other image bytes: another fingerprint.
	img[len(img)-100] = 1 // in the last 64 KiB, which the fingerprint covers
	fs3, err := OpenFile(writeImage(t, img), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs3.Close()
	if _, err := fs3.GetAttr(ctx, fh); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("handle on another image file: %v, want ErrStale", err)
	}
}

func TestOpenFileErrors(t *testing.T) {
	zero := writeImage(t, make([]byte, 64<<10))
	if _, err := OpenFile(zero, OpenOptions{}); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "known:") {
		t.Errorf("zeros: %v", err)
	}
	if _, err := OpenFile(zero, OpenOptions{Type: "fakeimg"}); err == nil || !strings.Contains(err.Error(), "cannot open as fakeimg") {
		t.Errorf("forced type on a non-image: %v", err)
	}
	if _, err := OpenFile(zero, OpenOptions{Type: "nope"}); err == nil || !strings.Contains(err.Error(), `unknown image format "nope"`) {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := OpenFile(t.TempDir(), OpenOptions{}); !errors.Is(err, ErrNotImageFile) {
		t.Errorf("directory: %v", err)
	}
	if _, err := OpenFile("/dev/null", OpenOptions{}); !errors.Is(err, ErrNotImageFile) {
		t.Errorf("char device: %v", err)
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing"), OpenOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestOpenFilePartitions(t *testing.T) {
	const sectors = 8192
	mk := func(fake1, fake2 bool) []byte {
		img := make([]byte, sectors*512)
		putMBR(img, 0, []mbrSlot{{0x80, 0x83, 2048, 2048}, {0, 0x83, 4096, 4096}})
		if fake1 {
			fakeAt(img, 2048*512, "p1")
		}
		if fake2 {
			fakeAt(img, 4096*512, "p2")
		}
		return img
	}
	// One partition with a known format: used.
	p := writeImage(t, mk(false, true))
	fs, err := OpenFile(p, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fs.Name(), "(partition 2)") {
		t.Errorf("name %q", fs.Name())
	}
	fs.Close()
	// Two: an error that lists them.
	p = writeImage(t, mk(true, true))
	_, err = OpenFile(p, OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "image has 2 partitions; choose one with --partition N:") ||
		strings.Count(err.Error(), "fakeimg") != 2 {
		t.Errorf("two partitions: %v", err)
	}
	for _, n := range []int{1, 2} {
		fs, err := OpenFile(p, OpenOptions{Partition: n})
		if err != nil {
			t.Fatalf("--partition %d: %v", n, err)
		}
		// Different partitions are different filesystems.
		if f := fs.Reader().(*fakeReader); !strings.HasSuffix(string(f.nodes[2].data), "p"+string(rune('0'+n))) {
			t.Errorf("--partition %d served %q", n, f.nodes[2].data)
		}
		fs.Close()
	}
	if _, err := OpenFile(p, OpenOptions{Partition: 3}); err == nil || !strings.Contains(err.Error(), "no partition 3") {
		t.Errorf("--partition 3: %v", err)
	}
	// None known: an error naming the partitions.
	p = writeImage(t, mk(false, false))
	if _, err := OpenFile(p, OpenOptions{}); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "2 partitions") {
		t.Errorf("no known partition: %v", err)
	}
	// A filesystem at offset 0 wins over the partition table (ISO hybrid).
	img := mk(true, true)
	fakeAt(img, 0, "whole")
	fs, err = OpenFile(writeImage(t, img), OpenOptions{})
	if err != nil || fs.Name() != fs.name || strings.Contains(fs.Name(), "partition") {
		t.Errorf("hybrid: %v %q", err, fs.Name())
	} else {
		fs.Close()
	}
	out, err := DescribeFile(p)
	if err != nil || !strings.Contains(out, "0x83 Linux") || strings.Count(out, "\n") != 4 {
		t.Errorf("DescribeFile:\n%s%v", out, err)
	}
}

// TestOpenBlockDevice serves a fake image through a read-only loop
// device (size from BLKGETSIZE64), when losetup works here.
func TestOpenBlockDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("losetup needs root")
	}
	losetup, err := exec.LookPath("losetup")
	if err != nil {
		t.Skip("no losetup")
	}
	img := make([]byte, 1<<20+512)
	fakeAt(img, 0, "blk")
	p := writeImage(t, img)
	out, err := exec.Command(losetup, "-f", "--show", "-r", p).Output()
	if err != nil {
		t.Skipf("losetup: %v (no loop devices here)", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", dev).Run() })
	fs, err := OpenFile(dev, OpenOptions{})
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", dev, err)
	}
	defer fs.Close()
	if fs.Info().Format != "fake" {
		t.Errorf("format %q", fs.Info().Format)
	}
	f, size, err := openImage(dev)
	if err != nil || size != int64(len(img)) {
		t.Errorf("block device size %d, %v; want %d", size, err, len(img))
	}
	if f != nil {
		f.Close()
	}
}
