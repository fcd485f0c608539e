package squashfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

var variants = []string{"squashfs-gzip", "squashfs-xz", "squashfs-zstd", "squashfs-lz4"}

// quirks are the differences squashfs really has from the reference tree:
// an inode stores its mtime in whole seconds (a u32), nothing finer.
var quirks = imagetest.Quirks{MtimeGranule: time.Second}

// fixture is the reference tree, its walk and its images, built once per
// test binary and kept in memory (the tree's TempDir goes with the first
// test that asked for it).
type fixture struct {
	ref    map[string]*imagetest.Entry
	big    []byte
	sparse []byte
	images map[string][]byte // variant → image bytes; "noexport" has no export table
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func getFixture(t *testing.T) *fixture {
	t.Helper()
	imagetest.Need(t, "mksquashfs")
	fixOnce.Do(func() {
		tree := imagetest.MakeTree(t)
		f := &fixture{images: map[string][]byte{}}
		if f.ref, fixErr = imagetest.Walk(tree); fixErr != nil {
			return
		}
		if f.big, fixErr = os.ReadFile(filepath.Join(tree, imagetest.BigFile)); fixErr != nil {
			return
		}
		if f.sparse, fixErr = os.ReadFile(filepath.Join(tree, imagetest.SparseFile)); fixErr != nil {
			return
		}
		for _, v := range variants {
			if f.images[v], fixErr = os.ReadFile(imagetest.BuildImage(t, tree, v)); fixErr != nil {
				return
			}
		}
		img := filepath.Join(t.TempDir(), "noexport.sqfs")
		imagetest.Run(t, "", "mksquashfs", tree, img, "-noappend", "-quiet", "-no-progress", "-no-exports", "-comp", "gzip")
		if f.images["noexport"], fixErr = os.ReadFile(img); fixErr != nil {
			return
		}
		fix = f
	})
	if fix == nil {
		t.Fatalf("building the fixture: %v", fixErr)
	}
	return fix
}

func openBytes(t testing.TB, img []byte, opt image.Options) *Reader {
	t.Helper()
	r, err := Open(bytes.NewReader(img), int64(len(img)), opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// inoOf resolves a "/"-separated path with Lookup.
func inoOf(t testing.TB, r *Reader, p string) Ino {
	t.Helper()
	ino := r.Root()
	for _, name := range strings.Split(p, "/") {
		var err error
		if ino, err = r.Lookup(ino, name); err != nil {
			t.Fatalf("Lookup %q in %q: %v", name, p, err)
		}
	}
	return ino
}

func TestReferenceTree(t *testing.T) {
	f := getFixture(t)
	for _, v := range append(variants, "noexport") {
		t.Run(v, func(t *testing.T) {
			img := f.images[v]
			if !Probe(bytes.NewReader(img), int64(len(img))) {
				t.Fatal("Probe = false")
			}
			r := openBytes(t, img, image.Options{})
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range imagetest.Compare(f.ref, got, quirks) {
				t.Error(d)
			}
			// mksquashfs writes an extended inode (which has nlink) for
			// hard-linked files; basic file inodes mean nlink 1.
			if a, b := got[imagetest.HardA], got[imagetest.HardB]; a.Nlink != 2 || b.Nlink != 2 || a.Ino != b.Ino {
				t.Errorf("hard links: nlink %d/%d ino %d/%d", a.Nlink, b.Nlink, a.Ino, b.Ino)
			}
			if e := got[imagetest.DeviceNode]; e.Rdev != 1<<32|3 {
				t.Errorf("rdev %#x", e.Rdev)
			}
			info := r.Info()
			if info.Format != "squashfs" || info.TimeDelta != time.Second || info.Files == 0 || info.UsedBytes > info.TotalBytes {
				t.Errorf("Info %+v", info)
			}
			// Parent of every directory, on a fresh reader (nothing learnt
			// from directory reads: export table, or the walk from the root).
			fresh := openBytes(t, img, image.Options{})
			for p, e := range got {
				if e.Type != os.ModeDir || p == "" {
					continue
				}
				ino := Ino(e.Ino)
				want := r.Root()
				if dp := path.Dir(p); dp != "." {
					want = inoOf(t, r, dp)
				}
				if par, err := fresh.Parent(ino); err != nil || par != want {
					t.Errorf("Parent(%q) = %d, %v; want %d", p, par, err, want)
				}
			}
			if par, err := fresh.Parent(r.Root()); err != nil || par != r.Root() {
				t.Errorf("Parent(root) = %d, %v", par, err)
			}
			// Errors for the wrong kind of object.
			if _, err := r.ReadDir(inoOf(t, r, imagetest.EmptyFile)); !errors.Is(err, unix.ENOTDIR) {
				t.Errorf("ReadDir(file): %v", err)
			}
			if _, err := r.Lookup(r.Root(), "no-such"); !errors.Is(err, unix.ENOENT) {
				t.Errorf("Lookup(no-such): %v", err)
			}
			if _, err := r.Readlink(r.Root()); !errors.Is(err, unix.EINVAL) {
				t.Errorf("Readlink(dir): %v", err)
			}
			if _, err := r.Open(r.Root()); !errors.Is(err, unix.EISDIR) {
				t.Errorf("Open(dir): %v", err)
			}
		})
	}
}

func TestRandomAccess(t *testing.T) {
	f := getFixture(t)
	for _, v := range variants {
		t.Run(v, func(t *testing.T) {
			// A small cache forces evictions while goroutines race.
			r := openBytes(t, f.images[v], image.Options{CacheBytes: 1 << 20})
			ra, err := r.Open(inoOf(t, r, imagetest.BigFile))
			if err != nil {
				t.Fatal(err)
			}
			check := func(rng *rand.Rand) error {
				for i := 0; i < 64; i++ {
					off := rng.Int64N(int64(len(f.big)) + 1000)
					buf := make([]byte, rng.IntN(300<<10)+1)
					n, err := ra.ReadAt(buf, off)
					want := f.big[min(off, int64(len(f.big))):min(off+int64(len(buf)), int64(len(f.big)))]
					if n != len(want) || !bytes.Equal(buf[:n], want) {
						return fmt.Errorf("ReadAt(%d, %d) = %d bytes, want %d (or content differs)", off, len(buf), n, len(want))
					}
					if (n < len(buf)) != (err == io.EOF) || (err != nil && err != io.EOF) {
						return fmt.Errorf("ReadAt(%d, %d): n %d err %v", off, len(buf), n, err)
					}
				}
				return nil
			}
			if err := check(rand.New(rand.NewPCG(1, 1))); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := 0; g < 8; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- check(rand.New(rand.NewPCG(uint64(g), 7)))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			// The sparse file reads back with its holes.
			sp, err := r.Open(inoOf(t, r, imagetest.SparseFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range []int64{0, 4000, 1 << 20, 6<<20 - 10, 8<<20 - 100} {
				buf := make([]byte, 5000)
				n, _ := sp.ReadAt(buf, off)
				if !bytes.Equal(buf[:n], f.sparse[off:min(off+5000, int64(len(f.sparse)))]) {
					t.Errorf("sparse ReadAt %d differs", off)
				}
			}
		})
	}
}

func TestStableIno(t *testing.T) {
	f := getFixture(t)
	img := f.images["squashfs-zstd"]
	a, err := imagetest.WalkReader(openBytes(t, img, image.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := imagetest.WalkReader(openBytes(t, img, image.Options{CacheBytes: 1 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d vs %d entries", len(a), len(b))
	}
	seen := map[uint64]string{}
	for p, e := range a {
		if b[p] == nil || b[p].Ino != e.Ino {
			t.Errorf("%q: Ino %d, then %v", p, e.Ino, b[p])
		}
		if q, dup := seen[e.Ino]; dup && !(e.Nlink > 1) {
			t.Errorf("%q and %q share Ino %d", p, q, e.Ino)
		}
		seen[e.Ino] = p
		if e.Ino == 0 {
			t.Errorf("%q: Ino 0", p)
		}
	}
}

// exercise calls every method on ino, recovering nothing: a panic fails.
func exercise(r *Reader, ino Ino) (statErr error) {
	_, statErr = r.Stat(ino)
	r.ReadDir(ino)
	r.Lookup(ino, "x")
	r.Parent(ino)
	r.Readlink(ino)
	if ra, err := r.Open(ino); err == nil {
		buf := make([]byte, 4096)
		ra.ReadAt(buf, 0)
		ra.ReadAt(buf, 1<<20)
	}
	return statErr
}

func TestForgedIno(t *testing.T) {
	f := getFixture(t)
	for _, v := range []string{"squashfs-gzip", "noexport"} {
		t.Run(v, func(t *testing.T) {
			r := openBytes(t, f.images[v], image.Options{})
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			valid := map[Ino]bool{}
			for _, e := range got {
				valid[Ino(e.Ino)] = true
			}
			for ino := range valid {
				for _, d := range []int64{1, -1, 2, 1 << 16, -1 << 16, 8192} {
					forged := Ino(int64(ino) + d)
					if valid[forged] {
						continue
					}
					err := exercise(r, forged)
					// With an export table every inode number maps back to
					// exactly one reference: a forged Ino cannot pass.
					if v != "noexport" && err == nil {
						t.Errorf("Stat(%d) (real %d%+d) succeeded", forged, ino, d)
					}
				}
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < 2000; i++ {
				forged := Ino(rng.Uint64() >> rng.IntN(64))
				if i%2 == 0 {
					forged = Ino(rng.Uint64N(1 << 24))
				}
				if !valid[forged] {
					exercise(r, forged)
				}
			}
			for _, forged := range []Ino{0, ^Ino(0), 1 << 16, 8193} {
				if _, err := r.Stat(forged); err == nil {
					t.Errorf("Stat(%d) succeeded", forged)
				}
			}
		})
	}
}

// TestHugeDirectory checks that listing and looking up every entry of a
// 10 000-entry directory is not quadratic.
func TestHugeDirectory(t *testing.T) {
	imagetest.Need(t, "mksquashfs")
	dir := filepath.Join(t.TempDir(), "tree", "many")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%05d.dat", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "many.sqfs")
	imagetest.Run(t, "", "mksquashfs", filepath.Dir(dir), img, "-noappend", "-quiet", "-no-progress", "-comp", "zstd")
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	r := openBytes(t, data, image.Options{})
	many := inoOf(t, r, "many")
	start := time.Now()
	ents, err := r.ReadDir(many)
	if err != nil || len(ents) != 10000 {
		t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
	}
	for i, e := range ents {
		if want := fmt.Sprintf("file-%05d.dat", i); e.Name != want {
			t.Fatalf("entry %d = %q, want %q", i, e.Name, want)
		}
		got, err := r.Lookup(many, e.Name)
		if err != nil || got != e.Ino {
			t.Fatalf("Lookup(%q) = %d, %v; want %d", e.Name, got, err, e.Ino)
		}
		if _, err := r.Stat(got); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("10 000 lookups took %v", el)
	}
}

// smallImage builds a small image (a few files, a fragment, a hard link,
// a symlink, a device) for the corruption tests.
func smallImage(t testing.TB, comp string, extra ...string) []byte {
	return buildSmall(t, 300000, comp, extra...)
}

// buildSmall is smallImage with a.big.bin of bigSize bytes.
func buildSmall(t testing.TB, bigSize int, comp string, extra ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed (make deps installs it)")
	}
	tree := filepath.Join(t.TempDir(), "small")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(tree, "a/b/c"), 0o755))
	must(os.MkdirAll(filepath.Join(tree, "d"), 0o700))
	rng := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte(rng.IntN(16)) // compressible but not trivially
	}
	must(os.WriteFile(filepath.Join(tree, "a/big.bin"), big, 0o644))
	for i := 0; i < 40; i++ {
		must(os.WriteFile(filepath.Join(tree, fmt.Sprintf("a/b/f%02d", i)), []byte(strings.Repeat("x", i*37)), 0o644))
	}
	must(os.WriteFile(filepath.Join(tree, "a/b/c/h1"), []byte("hard\n"), 0o600))
	must(os.Link(filepath.Join(tree, "a/b/c/h1"), filepath.Join(tree, "d/h2")))
	must(os.Symlink("../a/big.bin", filepath.Join(tree, "d/link")))
	must(unix.Mkfifo(filepath.Join(tree, "d/fifo"), 0o644))
	img := filepath.Join(t.TempDir(), "small.sqfs")
	args := append([]string{tree, img, "-noappend", "-quiet", "-no-progress", "-comp", comp, "-b", "4096"}, extra...)
	if out, err := exec.Command("mksquashfs", args...).CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	data, err := os.ReadFile(img)
	must(err)
	return data
}

// walkAll opens img and visits everything it can, ignoring errors; it
// bounds the visit so a directory cycle in a damaged image cannot loop.
func walkAll(img []byte) error {
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{CacheBytes: 1 << 20})
	if err != nil {
		return err
	}
	seen := map[Ino]bool{}
	queue := []Ino{r.Root()}
	buf := make([]byte, 64<<10)
	for len(queue) > 0 && len(seen) < 20000 {
		ino := queue[0]
		queue = queue[1:]
		if seen[ino] {
			continue
		}
		seen[ino] = true
		a, err := r.Stat(ino)
		if err != nil {
			continue
		}
		switch a.Type {
		case fsadapters.TypeDir:
			r.Parent(ino)
			ents, _ := r.ReadDir(ino)
			for _, e := range ents {
				r.Lookup(ino, e.Name)
				queue = append(queue, e.Ino)
			}
		case fsadapters.TypeSymlink:
			r.Readlink(ino)
		case fsadapters.TypeRegular:
			ra, err := r.Open(ino)
			if err != nil {
				continue
			}
			for off := int64(0); off < int64(a.Size) && off < 64<<20; off += int64(len(buf)) {
				if _, err := ra.ReadAt(buf, off); err != nil {
					break
				}
			}
		}
	}
	return nil
}

// withTimeout fails the test if fn does not return within d.
func withTimeout(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: no result after %v (hang)", what, d)
	}
}

func TestCorruption(t *testing.T) {
	for _, comp := range []string{"gzip", "zstd", "xz", "lz4"} {
		t.Run(comp, func(t *testing.T) {
			img := smallImage(t, comp)
			if err := walkAll(img); err != nil {
				t.Fatalf("intact image: %v", err)
			}
			sb := parseSuperblock(img)
			rng := rand.New(rand.NewPCG(7, uint64(len(comp))))
			for trial := 0; trial < 200; trial++ {
				bad := bytes.Clone(img)
				for k := rng.IntN(8) + 1; k > 0; k-- {
					var off int
					switch rng.IntN(4) {
					case 0: // superblock
						off = rng.IntN(sbSize)
					default: // metadata tables after the data
						off = int(sb.inodeTable) + rng.IntN(len(bad)-int(sb.inodeTable))
					}
					bad[off] ^= byte(rng.IntN(255) + 1)
				}
				withTimeout(t, 10*time.Second, fmt.Sprintf("trial %d", trial), func() { walkAll(bad) })
			}
			for _, n := range []int{len(img) / 2, len(img) * 9 / 10, len(img) - 4096, len(img) - 1} {
				withTimeout(t, 10*time.Second, fmt.Sprintf("truncated to %d", n), func() {
					if err := walkAll(img[:n]); err == nil && int64(n) < int64(sb.bytesUsed) {
						t.Errorf("truncated to %d of %d: Open succeeded (bytes_used %d)", n, len(img), sb.bytesUsed)
					}
				})
			}
		})
	}
}

func TestUnsupportedCompression(t *testing.T) {
	img := smallImage(t, "gzip")
	for id, want := range map[uint16]string{2: "lzma", 3: "lzo", 9: "unknown"} {
		bad := bytes.Clone(img)
		bad[20], bad[21] = byte(id), 0
		_, err := Open(bytes.NewReader(bad), int64(len(bad)), image.Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compression %d: %v", id, err)
		}
	}
	bcj := smallImage(t, "xz", "-Xbcj", "x86")
	if _, err := Open(bytes.NewReader(bcj), int64(len(bcj)), image.Options{}); err == nil || !strings.Contains(err.Error(), "BCJ") {
		t.Errorf("xz -Xbcj x86: %v", err)
	}
	if Probe(bytes.NewReader(img[:50]), 50) {
		t.Error("Probe of a 50-byte prefix")
	}
	bad := bytes.Clone(img)
	bad[12] = 1 // block size no longer a power of two
	if _, err := Open(bytes.NewReader(bad), int64(len(bad)), image.Options{}); !image.IsCorrupt(err) {
		t.Errorf("bad block size: %v", err)
	}
}

func FuzzOpenCorrupt(f *testing.F) {
	for _, comp := range []string{"gzip", "zstd"} {
		// A tiny image keeps the fuzzer fast (large inputs slow it down).
		f.Add(buildSmall(f, 9000, comp))
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		walkAll(img)
	})
}

// TestConcurrentWalk walks one reader from 4 goroutines at once with a
// cache small enough to evict (run with -race).
func TestConcurrentWalk(t *testing.T) {
	f := getFixture(t)
	r := openBytes(t, f.images["squashfs-zstd"], image.Options{CacheBytes: 1 << 20})
	defer r.Close()
	var wg sync.WaitGroup
	res := make([]map[string]*imagetest.Entry, 4)
	errs := make([]error, 4)
	for g := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[g], errs[g] = imagetest.WalkReader(r)
		}()
	}
	wg.Wait()
	for g := range res {
		if errs[g] != nil {
			t.Fatal(errs[g])
		}
		if d := imagetest.Compare(f.ref, res[g], quirks); len(d) > 0 {
			t.Errorf("goroutine %d: %v", g, d)
		}
	}
}

// TestXzDictLimit: a block declaring a dictionary beyond what squashfs
// uses is refused before the xz package allocates it.
func TestXzDictLimit(t *testing.T) {
	payload := bytes.Repeat([]byte("squashfs "), 1000)
	for _, tc := range []struct {
		dict int
		ok   bool
	}{{1 << 17, true}, {1 << 20, true}, {64 << 20, false}} {
		var buf bytes.Buffer
		w, err := xz.WriterConfig{DictCap: tc.dict}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(payload)
		w.Close()
		out, err := (&xzDec{dictCap: 1 << 16}).decompress(buf.Bytes(), 1<<20)
		if tc.ok != (err == nil) || (tc.ok && !bytes.Equal(out, payload)) {
			t.Errorf("dict %d: %d bytes, %v", tc.dict, len(out), err)
		}
	}
	if _, err := (&xzDec{}).decompress([]byte("short"), 100); err == nil {
		t.Error("short stream accepted")
	}
}
