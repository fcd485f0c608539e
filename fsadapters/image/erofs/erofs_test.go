package erofs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

// The reference tree and images are built once per test binary (MakeTree
// takes about a second, mkfs.erofs as long) by a testing.TB stand-in whose
// TempDir outlives single tests.
type onceTB struct {
	testing.TB
	dir  string
	n    int
	skip string
}

type tbStop struct{}

func (o *onceTB) Helper() {}
func (o *onceTB) TempDir() string {
	o.n++
	d := filepath.Join(o.dir, fmt.Sprint(o.n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(err)
	}
	return d
}
func (o *onceTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (o *onceTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (o *onceTB) Skip(args ...any)                  { o.skip = fmt.Sprint(args...); panic(tbStop{}) }
func (o *onceTB) Skipf(format string, args ...any) {
	o.skip = fmt.Sprintf(format, args...)
	panic(tbStop{})
}

var (
	fixOnce sync.Once
	fix     struct {
		dir    string // the temporary directory fixture owns
		tree   string
		ref    map[string]*imagetest.Entry
		images map[string]string
		skip   string
		err    string
	}
)

func fixture(t *testing.T) {
	t.Helper()
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", "erofs-test-")
		if err != nil {
			fix.err = err.Error()
			return
		}
		fix.dir = dir
		tb := &onceTB{dir: dir}
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(tbStop); ok {
					fix.skip = tb.skip
				} else {
					fix.err = fmt.Sprint(r)
				}
			}
		}()
		imagetest.Need(tb, "mkfs.erofs")
		fix.tree = imagetest.MakeTree(tb)
		if fix.ref, err = imagetest.Walk(fix.tree); err != nil {
			panic(err)
		}
		fix.images = map[string]string{}
		for _, v := range []string{"erofs", "erofs-lz4"} {
			fix.images[v] = imagetest.BuildImage(tb, fix.tree, v)
		}
	})
	if fix.skip != "" {
		t.Skip(fix.skip)
	}
	if fix.err != "" {
		t.Fatal(fix.err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.dir != "" && filepath.Base(fix.dir) != "" && len(fix.dir) > len(os.TempDir())+1 {
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

func openImage(t *testing.T, variant string) (*Reader, []byte) {
	t.Helper()
	fixture(t)
	data, err := os.ReadFile(fix.images[variant])
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(bytes.NewReader(data), int64(len(data)), image.Options{Name: variant})
	if err != nil {
		t.Fatalf("Open(%s): %v", variant, err)
	}
	return r, data
}

func TestReferenceTree(t *testing.T) {
	for _, v := range []string{"erofs", "erofs-lz4"} {
		t.Run(v, func(t *testing.T) {
			fixture(t)
			data, err := os.ReadFile(fix.images[v])
			if err != nil {
				t.Fatal(err)
			}
			if !Probe(bytes.NewReader(data), int64(len(data))) {
				t.Fatal("Probe = false")
			}
			r, err := Open(bytes.NewReader(data), int64(len(data)), image.Options{Name: v})
			if err != nil {
				t.Fatal(err)
			}
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			// No quirks: mkfs.erofs --preserve-mtime stores everything the
			// tree has (extended inodes carry ns mtimes and 32-bit owners).
			for _, d := range imagetest.Compare(fix.ref, got, imagetest.Quirks{}) {
				t.Error(d)
			}
			if p, err := r.Parent(r.Root()); err != nil || p != r.Root() {
				t.Errorf("Parent(root) = %d, %v", p, err)
			}
			sub, err := r.Lookup(r.Root(), "docs")
			if err != nil {
				t.Fatal(err)
			}
			subsub, err := r.Lookup(sub, "sub")
			if err != nil {
				t.Fatal(err)
			}
			if p, err := r.Parent(subsub); err != nil || p != sub {
				t.Errorf("Parent(docs/sub) = %d, %v; want %d", p, err, sub)
			}
			if _, err := r.Lookup(sub, "nope"); err == nil {
				t.Error("Lookup of a missing name succeeded")
			}
			info := r.Info()
			if info.Format != "erofs" || info.Files == 0 || info.TotalBytes != uint64(len(data)) {
				t.Errorf("Info = %+v", info)
			}
		})
	}
}

// lookupPath resolves a slash path from the root.
func lookupPath(t *testing.T, r *Reader, p string) image.Ino {
	t.Helper()
	ino := r.Root()
	for _, c := range splitPath(p) {
		var err error
		if ino, err = r.Lookup(ino, c); err != nil {
			t.Fatalf("Lookup %q in %s: %v", c, p, err)
		}
	}
	return ino
}

func splitPath(p string) []string {
	var out []string
	for _, c := range bytes.Split([]byte(p), []byte("/")) {
		if len(c) > 0 {
			out = append(out, string(c))
		}
	}
	return out
}

func TestRandomAccess(t *testing.T) {
	for _, v := range []string{"erofs", "erofs-lz4"} {
		// BigFile is incompressible (stored lclusters in erofs-lz4); the
		// text file exercises lz4 extents.
		for _, f := range []string{imagetest.BigFile, "data/text-300k.txt"} {
			t.Run(v+"/"+filepath.Base(f), func(t *testing.T) { testRandomAccess(t, v, f) })
		}
	}
}

func testRandomAccess(t *testing.T, variant, file string) {
	r, _ := openImage(t, variant)
	// A small cache so that eviction happens during the test.
	r.zcache = newZcache(256 << 10)
	want, err := os.ReadFile(filepath.Join(fix.tree, file))
	if err != nil {
		t.Fatal(err)
	}
	ra, err := r.Open(lookupPath(t, r, file))
	if err != nil {
		t.Fatal(err)
	}
	check := func(seed uint64) error {
		rng := rand.New(rand.NewPCG(seed, 7))
		for i := 0; i < 64; i++ {
			off := rng.Int64N(int64(len(want)) + 100)
			n := rng.IntN(300 << 10)
			buf := make([]byte, n)
			got, err := ra.ReadAt(buf, off)
			end := min(off+int64(n), int64(len(want)))
			wantN := int(max(end-off, 0))
			if got != wantN {
				return fmt.Errorf("ReadAt(%d, %d) = %d, %v; want %d", off, n, got, err, wantN)
			}
			if wantN < n && err != io.EOF {
				return fmt.Errorf("ReadAt(%d, %d) short without io.EOF: %v", off, n, err)
			}
			if wantN == n && err != nil {
				return fmt.Errorf("ReadAt(%d, %d): %v", off, n, err)
			}
			if wantN > 0 && !bytes.Equal(buf[:got], want[off:end]) {
				return fmt.Errorf("ReadAt(%d, %d): wrong bytes", off, n)
			}
		}
		return nil
	}
	if err := check(1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs <- check(uint64(g + 10))
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if r.zcache.data.Used() > r.zcache.data.MaxCost() {
		t.Errorf("cache holds %d bytes, limit %d", r.zcache.data.Used(), r.zcache.data.MaxCost())
	}
	// The sparse file reads back with its zeros.
	sparse, err := os.ReadFile(filepath.Join(fix.tree, imagetest.SparseFile))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := r.Open(lookupPath(t, r, imagetest.SparseFile))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	if n, err := sa.ReadAt(buf, 6<<20-4096); n != len(buf) || err != nil || !bytes.Equal(buf, sparse[6<<20-4096:6<<20+4096]) {
		t.Errorf("sparse read: %d, %v", n, err)
	}
}

func walkInos(t *testing.T, r *Reader) map[string]image.Ino {
	t.Helper()
	out := map[string]image.Ino{}
	var walk func(p string, ino image.Ino)
	walk = func(p string, ino image.Ino) {
		out[p] = ino
		a, err := r.Stat(ino)
		if err != nil {
			t.Fatal(err)
		}
		if a.Type != fsadapters.TypeDir {
			return
		}
		ents, err := r.ReadDir(ino)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			walk(p+"/"+e.Name, e.Ino)
		}
	}
	walk("", r.Root())
	return out
}

func TestStableInos(t *testing.T) {
	r1, _ := openImage(t, "erofs")
	r2, _ := openImage(t, "erofs")
	a, b := walkInos(t, r1), walkInos(t, r2)
	if len(a) < 200 || len(a) != len(b) {
		t.Fatalf("walks: %d and %d entries", len(a), len(b))
	}
	seen := map[image.Ino]string{}
	for p, ino := range a {
		if b[p] != ino {
			t.Errorf("%s: Ino %d then %d", p, ino, b[p])
		}
		if ino == 0 {
			t.Errorf("%s: Ino 0", p)
		}
		if q, dup := seen[ino]; dup && !(filepath.Base(p) == "hard-a.txt" || filepath.Base(q) == "hard-a.txt") {
			t.Errorf("%s and %s share Ino %d", p, q, ino)
		}
		seen[ino] = p
	}
	if a["/"+imagetest.HardA] != a["/"+imagetest.HardB] {
		t.Error("hard links have different Inos")
	}
}

// exercise calls every method on ino; it must not panic.
func exercise(r *Reader, ino image.Ino) {
	r.Stat(ino)
	r.ReadDir(ino)
	r.Lookup(ino, "docs")
	r.Parent(ino)
	r.Readlink(ino)
	if ra, err := r.Open(ino); err == nil {
		buf := make([]byte, 4096)
		ra.ReadAt(buf, 0)
		ra.ReadAt(buf, 1<<20)
	}
}

func TestForgedInos(t *testing.T) {
	for _, v := range []string{"erofs", "erofs-lz4"} {
		t.Run(v, func(t *testing.T) { testForgedInos(t, v) })
	}
}

func testForgedInos(t *testing.T, variant string) {
	r, data := openImage(t, variant)
	valid := walkInos(t, r)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ino := range valid {
		for _, d := range []int64{-2, -1, 1, 2} {
			exercise(r, image.Ino(int64(ino)+d))
		}
	}
	for i := 0; i < 5000; i++ {
		exercise(r, image.Ino(rng.Uint64N(uint64(len(data))/32+100)))
	}
	for _, ino := range []image.Ino{0, 1<<64 - 1, 1 << 63, image.Ino(len(data))} {
		if _, err := r.Stat(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Errorf("Stat(%d) = %v, want ErrStale", ino, err)
		}
	}
	// A slot in the middle of the 64-byte root inode is not an inode.
	if _, err := r.Stat(r.Root() + 1); err == nil {
		t.Errorf("Stat(root+1) succeeded")
	}
}

// walkAll opens data and walks every entry, reading each file at its
// start, middle and end (a full read of 26 MB per trial would make the
// corruption tests slow under -race). Errors are fine, panics are not.
func walkAll(data []byte) error { return walkAt(bytes.NewReader(data), int64(len(data))) }

// patched is an image with a few bytes changed, without copying it.
type patched struct {
	base    []byte
	patches map[int64]byte
}

func (p *patched) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(p.base)) {
		return 0, io.EOF
	}
	n := copy(b, p.base[off:])
	for at, v := range p.patches {
		if at >= off && at < off+int64(n) {
			b[at-off] = v
		}
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func walkAt(img io.ReaderAt, size int64) error {
	r, err := Open(img, size, image.Options{})
	if err != nil {
		return err
	}
	seen := map[image.Ino]bool{}
	buf := make([]byte, 96<<10)
	var walk func(ino image.Ino, depth int) error
	walk = func(ino image.Ino, depth int) error {
		if seen[ino] || depth > 64 {
			return nil
		}
		seen[ino] = true
		a, err := r.Stat(ino)
		if err != nil {
			return err
		}
		switch a.Type {
		case fsadapters.TypeDir:
			r.Parent(ino)
			ents, err := r.ReadDir(ino)
			if err != nil {
				return err
			}
			for _, e := range ents {
				r.Lookup(ino, e.Name)
				walk(e.Ino, depth+1)
			}
		case fsadapters.TypeSymlink:
			_, err = r.Readlink(ino)
		case fsadapters.TypeRegular:
			ra, err := r.Open(ino)
			if err != nil {
				return err
			}
			for _, off := range []int64{0, int64(a.Size / 2), int64(a.Size) - int64(len(buf)/2)} {
				ra.ReadAt(buf, max(off, 0))
			}
		}
		return err
	}
	return walk(r.Root(), 0)
}

func runWithTimeout(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		f()
	}()
	select {
	case p := <-done:
		if p != nil {
			t.Fatalf("%s: panic: %v", what, p)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: timeout", what)
	}
}

func TestCorruption(t *testing.T) {
	for _, v := range []string{"erofs", "erofs-lz4"} {
		t.Run(v, func(t *testing.T) { testCorruption(t, v) })
	}
}

func testCorruption(t *testing.T, variant string) {
	_, data := openImage(t, variant)
	// Metadata lives before the first data block of the big file in
	// mkfs.erofs 1.5 images; flip bytes in the first 64 KiB mostly.
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		img := &patched{base: data, patches: map[int64]byte{}}
		limit := min(len(data), 64<<10)
		if trial%4 == 3 {
			limit = min(len(data), 4<<20)
		}
		for k := 1 + rng.IntN(8); k > 0; k-- {
			at := rng.IntN(limit)
			img.patches[int64(at)] = data[at] ^ byte(1+rng.IntN(255))
		}
		runWithTimeout(t, fmt.Sprintf("flip trial %d", trial), func() { walkAt(img, int64(len(data))) })
	}
	for _, n := range []int{len(data) / 2, len(data) * 9 / 10, len(data) - 4096, 2048, 1100} {
		img := data[:n]
		runWithTimeout(t, fmt.Sprintf("truncate to %d", n), func() { walkAll(img) })
	}
	// The superblock checksum catches a flip in the superblock block.
	for _, off := range []int{1024 + 16, 1024 + 40, 1024 + 64, 1024 + 200, 4095} {
		img := bytes.Clone(data)
		img[off] ^= 0x40
		if _, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{}); !image.IsCorrupt(err) {
			t.Errorf("flip at %d: Open = %v, want a checksum CorruptError", off, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	_, data := openImage(t, "erofs")
	img := bytes.Clone(data)
	img[1024+80] |= 0x80 // 48bit
	img[1024+8] &^= compatSBChecksum
	_, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("48bit")) {
		t.Errorf("Open with the 48bit feature: %v", err)
	}
	if _, err := Open(bytes.NewReader(img[:1100]), 1100, image.Options{}); err == nil {
		t.Error("Open of a truncated superblock succeeded")
	}
	if Probe(bytes.NewReader(make([]byte, 4096)), 4096) {
		t.Error("Probe of zeros = true")
	}
}

func FuzzOpenCorrupt(f *testing.F) {
	dir := f.TempDir()
	tree := filepath.Join(dir, "t")
	os.MkdirAll(filepath.Join(tree, "d"), 0o755)
	os.WriteFile(filepath.Join(tree, "a"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "d", "b"), bytes.Repeat([]byte("0123456789abcdef"), 600), 0o644)
	os.Symlink("a", filepath.Join(tree, "l"))
	os.WriteFile(filepath.Join(tree, "d", "c"), bytes.Repeat([]byte("compressible text, "), 2000), 0o644)
	for i, args := range [][]string{{}, {"-zlz4"}, {"-zlz4", "-Elegacy-compress"}} {
		img := filepath.Join(dir, fmt.Sprintf("s%d.img", i))
		if err := runCmd("mkfs.erofs", append(append([]string{"--quiet"}, args...), img, tree)...); err == nil {
			if data, err := os.ReadFile(img); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		walkAll(data)
	})
}

// TestLayouts builds images with mkfs.erofs options the imagetest variants
// do not use, so that every layout this reader decodes is checked against
// the reference tree: chunk-based files, big pclusters, legacy (full)
// compression indexes, plain lz4, and compact inodes (-T: every mtime is the
// build time, which compact inodes take from the superblock).
func TestLayouts(t *testing.T) {
	fixture(t)
	cases := []struct {
		name string
		args []string
	}{
		{"chunked", []string{"--preserve-mtime", "--chunksize=65536"}},
		{"lz4-bigpcluster", []string{"--preserve-mtime", "-zlz4", "-C65536"}},
		{"lz4-legacy", []string{"--preserve-mtime", "-zlz4", "-Elegacy-compress"}},
		{"compact-inodes", []string{"-T", "1700000000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			imagetest.Run(t, "", "mkfs.erofs", append(append([]string{"--quiet"}, c.args...), img, fix.tree)...)
			data, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(bytes.NewReader(data), int64(len(data)), image.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			ref := fix.ref
			if c.name == "compact-inodes" {
				want := time.Unix(1700000000, 0)
				ref = map[string]*imagetest.Entry{}
				for p, e := range fix.ref {
					c := *e
					c.Mtime = want
					ref[p] = &c
				}
			}
			for _, d := range imagetest.Compare(ref, got, imagetest.Quirks{}) {
				t.Error(d)
			}
			layouts := map[int]int{}
			for _, ino := range walkInos(t, r) {
				nid, _ := r.nidFromIno(ino)
				in, err := r.inode(nid)
				if err != nil {
					t.Fatal(err)
				}
				layouts[in.layout]++
				if in.typ == fsadapters.TypeRegular && r.prepare(in) == nil && in.z != nil && in.z.advise&zAdviseBigPcluster1 != 0 {
					layouts[-1]++ // big pclusters
				}
				if c.name == "compact-inodes" && in.isize != 32 {
					t.Errorf("nid %d: %d-byte inode", nid, in.isize)
				}
			}
			t.Logf("data layouts: %v", layouts)
			wantLayout := map[string]int{"chunked": layoutChunkBased, "lz4-bigpcluster": layoutCompressedCompact,
				"lz4-legacy": layoutCompressedFull, "compact-inodes": layoutFlatInline}[c.name]
			if c.name == "lz4-bigpcluster" && layouts[-1] == 0 {
				t.Error("no file uses big pclusters")
			}
			if layouts[wantLayout] == 0 {
				t.Errorf("no inode with layout %d: the test does not cover it", wantLayout)
			}
		})
	}
}
