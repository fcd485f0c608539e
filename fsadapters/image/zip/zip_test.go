package zip

import (
	stdzip "archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
	"github.com/fsbridge/fsbridge/fsadapters/image/pathtree"
)

// keepTB makes imagetest's TempDir calls land in a directory that outlives
// one test, so the reference tree and images are built once per binary.
type keepTB struct {
	testing.TB
	dir string
}

func (k keepTB) TempDir() string {
	d, err := os.MkdirTemp(k.dir, "t")
	if err != nil {
		k.Fatal(err)
	}
	return d
}

var (
	shareDir string
	shareMu  sync.Mutex
	refTree  string
	refWalk  map[string]*imagetest.Entry
	images   = map[string]string{}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "zip-test-")
	if err != nil {
		panic(err)
	}
	shareDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func refTreeOf(t *testing.T) (string, map[string]*imagetest.Entry) {
	t.Helper()
	imagetest.Need(t, "zip")
	shareMu.Lock()
	defer shareMu.Unlock()
	if refTree == "" {
		refTree = imagetest.MakeTree(keepTB{t, shareDir})
		w, err := imagetest.Walk(refTree)
		if err != nil {
			t.Fatal(err)
		}
		refWalk = w
	}
	return refTree, refWalk
}

func build(t *testing.T, variant string) string {
	t.Helper()
	tr, _ := refTreeOf(t)
	shareMu.Lock()
	defer shareMu.Unlock()
	if img := images[variant]; img != "" {
		return img
	}
	img := imagetest.BuildImage(keepTB{t, shareDir}, tr, variant)
	images[variant] = img
	return img
}

func openFile(t testing.TB, img string, opt image.Options) *Reader {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	if opt.TempDir == "" {
		opt.TempDir = t.TempDir()
	}
	r, err := Open(f, st.Size(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// zipQuirks are the real limits of zip as Info-ZIP writes it.
var zipQuirks = imagetest.Quirks{
	// zip reads device nodes and FIFOs as files, so BuildImage leaves them
	// out (imagetest.PlainCopy); zip has no way to store them.
	Missing: []string{imagetest.DeviceNode, imagetest.FIFO},
	// zip has no hard links: each name is a separate member.
	NoHardLinks: true,
	// The extended timestamp field holds whole seconds.
	MtimeGranule: time.Second,
}

func TestReferenceTree(t *testing.T) {
	for _, v := range []string{"zip", "zip-stored"} {
		t.Run(v, func(t *testing.T) {
			_, ref := refTreeOf(t)
			img := build(t, v)
			f, _ := os.Open(img)
			defer f.Close()
			st, _ := f.Stat()
			if !Probe(f, st.Size()) {
				t.Fatalf("Probe(%s) = false", v)
			}
			r := openFile(t, img, image.Options{})
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			// `zip -r img .` stores no entry for the root directory itself,
			// so its mtime is synthesized (the newest in the archive); the
			// imagetest Quirks have no field for that, so compare the root
			// without its mtime here.
			ref = maps.Clone(ref)
			root := *ref[""]
			root.Mtime = got[""].Mtime
			ref[""] = &root
			for _, d := range imagetest.Compare(ref, got, zipQuirks) {
				t.Error(d)
			}
			if in := r.Info(); !in.NoHardLinks || in.TimeDelta != time.Second || !in.HasDataChecksums {
				t.Errorf("Info = %+v", in)
			}
		})
	}
}

func lookupPath(t testing.TB, r image.Reader, p string) image.Ino {
	t.Helper()
	ino := r.Root()
	for _, c := range strings.Split(p, "/") {
		var err error
		if ino, err = r.Lookup(ino, c); err != nil {
			t.Fatalf("Lookup %q in %q: %v", c, p, err)
		}
	}
	return ino
}

func checkRandomReads(t *testing.T, ra io.ReaderAt, want []byte, seed uint64) {
	t.Helper()
	check := func(rng *rand.Rand) error {
		for i := 0; i < 64; i++ {
			off := rng.Int64N(int64(len(want)) + 10)
			n := rng.IntN(300000) + 1
			buf := make([]byte, n)
			got, err := ra.ReadAt(buf, off)
			if off >= int64(len(want)) {
				if got != 0 || err != io.EOF {
					return fmt.Errorf("ReadAt(%d past end) = %d, %v", off, got, err)
				}
				continue
			}
			end := min(off+int64(n), int64(len(want)))
			if int64(got) != end-off {
				return fmt.Errorf("ReadAt(%d, %d) = %d bytes, %v; want %d", off, n, got, err, end-off)
			}
			if off+int64(n) > end && err != io.EOF {
				return fmt.Errorf("short read at end without io.EOF: %v", err)
			}
			if off+int64(n) < end && err != nil {
				return fmt.Errorf("full read returned %v", err)
			}
			if !bytes.Equal(buf[:got], want[off:end]) {
				return fmt.Errorf("ReadAt(%d, %d): wrong bytes", off, n)
			}
		}
		return nil
	}
	if err := check(rand.New(rand.NewPCG(seed, 7))); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs <- check(rand.New(rand.NewPCG(seed, uint64(g))))
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestRandomAccess(t *testing.T) {
	tr, _ := refTreeOf(t)
	want, err := os.ReadFile(filepath.Join(tr, imagetest.BigFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		variant string
		cache   int64
	}{{"zip-stored", 0}, {"zip", 0 /* default: 20 MiB > budget/4 → temp file */}, {"zip", 128 << 20 /* in memory */}} {
		t.Run(fmt.Sprintf("%s-cache%d", c.variant, c.cache), func(t *testing.T) {
			r := openFile(t, build(t, c.variant), image.Options{CacheBytes: c.cache})
			ino := lookupPath(t, r, imagetest.BigFile)
			ra, err := r.Open(ino)
			if err != nil {
				t.Fatal(err)
			}
			if c.variant == "zip" {
				if nodeOf(r, ino).Data.m.f.Method != stdzip.Deflate {
					t.Fatal("big file not deflated; the test would not exercise the cache")
				}
			}
			checkRandomReads(t, ra, want, 1)
			if c.variant == "zip" {
				e := r.cache.m[nodeOf(r, ino).Data.m]
				if e == nil || (c.cache == 0) != (e.file != nil) {
					t.Errorf("cache entry %+v: wrong placement for budget %d", e, c.cache)
				}
			}
		})
	}
}

// TestCacheEviction reads many deflated members from 8 goroutines with a
// cache far smaller than their total, so entries are evicted while other
// goroutines read them (run with -race).
func TestCacheEviction(t *testing.T) {
	tr, _ := refTreeOf(t)
	r := openFile(t, build(t, "zip"), image.Options{CacheBytes: 1 << 20})
	var paths []string
	for _, n := range []int{65536, 100000, 131073, 1 << 20, 3000000} {
		paths = append(paths, fmt.Sprintf("data/size-%d.bin", n))
	}
	paths = append(paths, "data/text-300k.txt")
	wants := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(tr, p))
		if err != nil {
			t.Fatal(err)
		}
		wants[p] = b
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 3))
			for i := 0; i < 60; i++ {
				p := paths[rng.IntN(len(paths))]
				ra, err := r.Open(lookupPath(t, r, p))
				if err != nil {
					t.Error(err)
					return
				}
				w := wants[p]
				off := rng.Int64N(int64(len(w)))
				buf := make([]byte, 5000)
				n, err := ra.ReadAt(buf, off)
				if (err != nil && err != io.EOF) || !bytes.Equal(buf[:n], w[off:off+int64(n)]) {
					t.Errorf("%s at %d: %d, %v", p, off, n, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	if r.cache.files.Len() > maxTempFiles || r.cache.used > r.cache.budget+3000000 {
		t.Errorf("cache over budget: %d files, %d bytes", r.cache.files.Len(), r.cache.used)
	}
}

func TestStableIno(t *testing.T) {
	img := build(t, "zip")
	a, err := imagetest.WalkReader(openFile(t, img, image.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := imagetest.WalkReader(openFile(t, img, image.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]string{}
	for p, e := range a {
		if b[p] == nil || b[p].Ino != e.Ino {
			t.Errorf("%q: Ino changed across opens", p)
		}
		if o, dup := seen[e.Ino]; dup {
			t.Errorf("%q and %q share Ino %d", o, p, e.Ino)
		}
		seen[e.Ino] = p
	}
	if len(a) != len(b) || len(a) < 200 {
		t.Errorf("%d vs %d entries", len(a), len(b))
	}
}

func TestForgedIno(t *testing.T) {
	r := openFile(t, build(t, "zip-stored"), image.Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	inos := []image.Ino{0, 1, r.Root() - 1, r.Root() + 1, 1 << 63, ^image.Ino(0)}
	for _, ino := range r.Inos() {
		inos = append(inos, ino-1, ino+1)
	}
	for i := 0; i < 2000; i++ {
		inos = append(inos, image.Ino(rng.Uint64()), image.Ino(rng.Uint64N(1<<26)))
	}
	for _, ino := range inos {
		if _, err := r.Node(ino); err == nil {
			continue
		}
		if _, err := r.Stat(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Stat(%d) = %v, want ErrStale", ino, err)
		}
		if _, err := r.ReadDir(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("ReadDir(%d) = %v", ino, err)
		}
		if _, err := r.Open(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Open(%d) = %v", ino, err)
		}
		if _, err := r.Readlink(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Readlink(%d) = %v", ino, err)
		}
		if _, err := r.Parent(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Parent(%d) = %v", ino, err)
		}
	}
}

// smallZip zips a small tree with Info-ZIP; extra args select options.
func smallZip(t testing.TB, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < 12; i++ {
		os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%d/sub", i%3)), 0o750)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("d%d/sub/f%02d.txt", i%3, i)), bytes.Repeat([]byte(fmt.Sprintf("file %d\n", i)), i*200+1), 0o640)
	}
	os.Symlink("d0/sub", filepath.Join(dir, "ln"))
	os.Chown(filepath.Join(dir, "d1/sub/f01.txt"), 4242, 4343)
	os.Lchown(filepath.Join(dir, "ln"), 77, 88)
	img := filepath.Join(t.TempDir(), "s.zip")
	imagetest.Run(t, dir, "zip", append(append([]string{"-q", "-r", "-y"}, args...), img, ".")...)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openBytes(t testing.TB, b []byte, opt image.Options) (*Reader, error) {
	if opt.TempDir == "" {
		opt.TempDir = t.TempDir()
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return Open(bytes.NewReader(b), int64(len(b)), opt)
}

func TestMetadata(t *testing.T) {
	imagetest.Need(t, "zip")
	for _, args := range [][]string{nil, {"-D"} /* no directory entries: all implied */, {"-fz"} /* Zip64 */} {
		t.Run(strings.Join(args, ""), func(t *testing.T) {
			r, err := openBytes(t, smallZip(t, args...), image.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1+3*2+12+1 {
				t.Errorf("%d entries", len(got))
			}
			f := got["d1/sub/f01.txt"]
			if f == nil || f.UID != 4242 || f.GID != 4343 || f.Perm != 0o640 || f.Size != 7*201 {
				t.Errorf("f01: %+v", f)
			}
			if l := got["ln"]; l == nil || l.Link != "d0/sub" || l.UID != 77 || l.Type != os.ModeSymlink {
				t.Errorf("symlink: %+v", l)
			}
			d := got["d0/sub"]
			if len(args) == 0 && (d.Perm != 0o750 || d.Nlink != 2) {
				t.Errorf("dir: %+v", d)
			}
			if len(args) == 1 && args[0] == "-D" && (d.Perm != 0o755 || d.Ino&pathtree.SyntheticBit == 0) {
				t.Errorf("implied dir: %+v", d)
			}
			if got[""].Nlink != 2+3 {
				t.Errorf("root nlink %d", got[""].Nlink)
			}
		})
	}
}

// writeZip builds an archive with archive/zip (no Unix attributes).
func writeZip(t testing.TB, names ...string) []byte {
	var b bytes.Buffer
	w := stdzip.NewWriter(&b)
	for _, n := range names {
		fw, err := w.CreateHeader(&stdzip.FileHeader{Name: n, Method: stdzip.Deflate, Modified: time.Unix(1700000000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(n, "/") {
			fw.Write([]byte(strings.Repeat(n, 100)))
		}
	}
	w.Close()
	return b.Bytes()
}

func TestNames(t *testing.T) {
	r, err := openBytes(t, writeZip(t, "../evil", "/abs/x", "./a/b", "a/../../evil2", "a/b", "dir/"), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := imagetest.WalkReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for p := range got {
		ps = append(ps, p)
	}
	if len(got) != 6 || got["abs/x"] == nil || got["a/b"] == nil || got["dir"] == nil {
		t.Fatalf("entries %v", ps)
	}
	// Non-Unix creator: default modes; the later duplicate of a/b wins.
	if e := got["a/b"]; e.Perm != 0o644 || e.Size != 300 || got["dir"].Perm != 0o755 {
		t.Errorf("a/b %+v dir %+v", e, got["dir"])
	}
	if !got["a/b"].Mtime.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("mtime %v", got["a/b"].Mtime)
	}
}

// TestCRC flips a byte of deflated data: reading must fail with a
// CorruptError, never return wrong bytes.
func TestCRC(t *testing.T) {
	var b bytes.Buffer
	w := stdzip.NewWriter(&b)
	fw, _ := w.Create("f")
	// Stored-ish deflate of random data: every byte of the stream matters.
	payload := make([]byte, 50000)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range payload {
		payload[i] = byte(rng.Uint32() % 16)
	}
	fw.Write(payload)
	w.Close()
	clean := b.Bytes()
	zr, _ := stdzip.NewReader(bytes.NewReader(clean), int64(len(clean)))
	start, _ := zr.File[0].DataOffset()
	end := start + int64(zr.File[0].CompressedSize64)
	detected := 0
	for trial := 0; trial < 40; trial++ {
		img := bytes.Clone(clean)
		img[start+rng.Int64N(end-start)] ^= byte(rng.IntN(255) + 1)
		r, err := openBytes(t, img, image.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ra, _ := r.Open(lookupPath(t, r, "f"))
		buf := make([]byte, len(payload))
		n, err := ra.ReadAt(buf, 0)
		if err == nil || err == io.EOF {
			if n == len(payload) && !bytes.Equal(buf, payload) {
				t.Fatalf("trial %d: wrong data served silently", trial)
			}
			continue
		}
		if !image.IsCorrupt(err) {
			t.Fatalf("trial %d: error %v is not a CorruptError", trial, err)
		}
		detected++
		// A second read reports the same failure (cached), not data.
		if _, err2 := ra.ReadAt(buf[:10], 100); !image.IsCorrupt(err2) {
			t.Fatalf("second read: %v", err2)
		}
		r.Close()
	}
	if detected < 30 {
		t.Errorf("only %d of 40 data corruptions detected", detected)
	}
}

func walkAll(t testing.TB, b []byte, what string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Sprintf("panic: %v", p)
			}
		}()
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{Log: slog.New(slog.DiscardHandler), TempDir: os.TempDir(), CacheBytes: 1 << 20})
		if err == nil {
			boundedWalk(r)
			r.Close()
		}
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatalf("%s: %s", what, msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: hang", what)
	}
}

func TestCorruptFlips(t *testing.T) {
	imagetest.Need(t, "zip")
	clean := smallZip(t)
	zr, err := stdzip.NewReader(bytes.NewReader(clean), int64(len(clean)))
	if err != nil {
		t.Fatal(err)
	}
	start, _ := cdStart(bytes.NewReader(clean), int64(len(clean)))
	_ = zr
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 200; trial++ {
		b := bytes.Clone(clean)
		for k := rng.IntN(8) + 1; k > 0; k-- {
			i := rng.IntN(len(b))
			if trial%2 == 0 { // half the trials hit the central directory
				i = int(start) + rng.IntN(len(b)-int(start))
			}
			b[i] = byte(rng.Uint32())
		}
		walkAll(t, b, fmt.Sprintf("trial %d", trial))
	}
	for _, n := range []int{len(clean) / 2, len(clean) * 9 / 10, len(clean) - 4096, len(clean) - 10, 30} {
		if n > 0 {
			walkAll(t, clean[:n], fmt.Sprintf("truncated to %d", n))
		}
	}
}

func TestProbe(t *testing.T) {
	b := writeZip(t, "a")
	if !Probe(bytes.NewReader(b), int64(len(b))) {
		t.Error("zip not detected")
	}
	// EOCD only (data prepended, as in a self-extractor).
	pre := append(bytes.Repeat([]byte{0xaa}, 1000), b...)
	if !Probe(bytes.NewReader(pre), int64(len(pre))) {
		t.Error("prefixed zip not detected")
	}
	r, err := openBytes(t, pre, image.Options{})
	if err != nil {
		t.Fatalf("prefixed zip: %v", err)
	}
	if _, err := r.Lookup(r.Root(), "a"); err != nil {
		t.Error(err)
	}
	for _, b := range [][]byte{make([]byte, 70000), []byte("ustar"), nil} {
		if Probe(bytes.NewReader(b), int64(len(b))) {
			t.Errorf("false positive")
		}
	}
}

func FuzzOpenCorrupt(f *testing.F) {
	f.Add(writeZip(f, "a/b", "c/", "d"))
	if _, err := exec.LookPath("zip"); err == nil {
		f.Add(smallZip(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{Log: slog.New(slog.DiscardHandler), TempDir: os.TempDir(), CacheBytes: 1 << 20})
		if err != nil {
			return
		}
		defer r.Close()
		boundedWalk(r)
	})
}

// boundedWalk visits every entry like imagetest.WalkReader but reads at
// most 1 MiB of each file: a damaged size field can legitimately describe
// a file of terabytes (a sparse tar member is mostly holes), and reading
// all of it would be slow, not wrong.
func boundedWalk(r image.Reader) {
	seen := map[image.Ino]bool{}
	var walk func(ino image.Ino, depth int)
	walk = func(ino image.Ino, depth int) {
		if seen[ino] || depth > 64 {
			return
		}
		seen[ino] = true
		a, err := r.Stat(ino)
		if err != nil {
			return
		}
		switch a.Type {
		case fsadapters.TypeDir:
			ents, _ := r.ReadDir(ino)
			for _, e := range ents {
				r.Lookup(ino, e.Name)
				walk(e.Ino, depth+1)
			}
			r.Parent(ino)
		case fsadapters.TypeSymlink:
			r.Readlink(ino)
		case fsadapters.TypeRegular:
			ra, err := r.Open(ino)
			if err != nil {
				return
			}
			buf := make([]byte, 128<<10)
			for off := int64(0); off < 1<<20; off += int64(len(buf)) {
				if _, err := ra.ReadAt(buf, off); err != nil {
					break
				}
			}
			ra.ReadAt(buf, int64(a.Size)-100)
		}
	}
	walk(r.Root(), 0)
}

// TestZip64Unsaturated: a Zip64 end record whose classic end record is not
// saturated (the directory offset patched to its real value). The Zip64
// records sit between the directory and the classic record, so the
// directory must be located through them.
func TestZip64Unsaturated(t *testing.T) {
	imagetest.Need(t, "zip")
	b := smallZip(t, "-fz")
	e := bytes.LastIndex(b, []byte("PK\x05\x06"))
	z := bytes.LastIndex(b, []byte("PK\x06\x06"))
	if e < 0 || z < 0 {
		t.Fatal("no zip64 records")
	}
	copy(b[e+16:e+20], b[z+48:z+52]) // directory offset (low 32 bits)
	r, err := openBytes(t, b, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := imagetest.WalkReader(r)
	if err != nil || len(got) != 20 {
		t.Fatalf("%d entries, %v", len(got), err)
	}
}

// TestManyEntries: indexing, listing and looking up every entry of a
// directory scales linearly (10x the entries may not cost 40x the time;
// wall-clock limits are flaky on a shared machine under -race).
func TestManyEntries(t *testing.T) {
	small, big := manyEntries(t, 2000), manyEntries(t, 20000)
	if big > 40*small+time.Second {
		t.Errorf("2 000 entries: %v, 20 000 entries: %v (quadratic?)", small, big)
	}
}

func manyEntries(t *testing.T, n int) time.Duration {
	var buf bytes.Buffer
	w := stdzip.NewWriter(&buf)
	for i := 0; i < n; i++ { // stored: deflating 20 000 members is slow under -race
		fw, _ := w.CreateHeader(&stdzip.FileHeader{Name: fmt.Sprintf("big/f%05d", i), Method: stdzip.Store})
		fw.Write([]byte("x"))
	}
	w.Close()
	b := buf.Bytes()
	start := time.Now()
	r, err := openBytes(t, b, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := lookupPath(t, r, "big")
	ents, err := r.ReadDir(dir)
	if err != nil || len(ents) != n {
		t.Fatalf("%d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		if ino, err := r.Lookup(dir, e.Name); err != nil || ino != e.Ino {
			t.Fatal(e.Name, err)
		}
	}
	return time.Since(start)
}

func nodeOf(r *Reader, ino image.Ino) *pathtree.Node[dataRef] {
	n, _ := r.Node(ino)
	return n
}
