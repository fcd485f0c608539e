package tar

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	d, err := os.MkdirTemp("", "tar-test-")
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
	imagetest.Need(t, "tar")
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

// build returns an image of the reference tree: imagetest variants plus
// "tar.zst", "tar.xz", "tar.bz2" made here with GNU tar.
func build(t *testing.T, variant string) string {
	t.Helper()
	tr, _ := refTreeOf(t)
	shareMu.Lock()
	defer shareMu.Unlock()
	if img := images[variant]; img != "" {
		return img
	}
	var img string
	switch variant {
	case "tar.zst", "tar.xz", "tar.bz2":
		prog := map[string]string{"tar.zst": "zstd -1 -T1", "tar.xz": "xz -0 -T1", "tar.bz2": "bzip2 -1"}[variant]
		imagetest.Need(t, strings.Fields(prog)[0])
		img = filepath.Join(shareDir, "image."+variant)
		imagetest.Run(t, "", "tar", "--format=pax", "--sort=name", "-I", prog, "-cf", img, "-C", tr, ".")
	default:
		img = imagetest.BuildImage(keepTB{t, shareDir}, tr, variant)
	}
	images[variant] = img
	return img
}

func openFile(t testing.TB, img string, log *slog.Logger) *Reader {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	r, err := Open(f, st.Size(), image.Options{Name: img, Log: log, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReferenceTree(t *testing.T) {
	// xz and bzip2 of the 20 MiB random file take ~40 s each; they are
	// covered on a small tree by TestCompressedSmall.
	for _, v := range []string{"tar", "tar.gz", "tar.zst"} {
		t.Run(v, func(t *testing.T) {
			_, ref := refTreeOf(t)
			img := build(t, v)
			f, _ := os.Open(img)
			defer f.Close()
			st, _ := f.Stat()
			if !Probe(f, st.Size()) {
				t.Fatalf("Probe(%s) = false", v)
			}
			r := openFile(t, img, nil)
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			// No quirks: PAX tar stores everything the tree has (ns mtimes,
			// owners, devices, FIFOs, hard links, sparse files).
			for _, d := range imagetest.Compare(ref, got, imagetest.Quirks{}) {
				t.Error(d)
			}
			if v != "tar" && !strings.Contains(r.Info().SourceDescription, "decompressed") {
				t.Errorf("SourceDescription = %q", r.Info().SourceDescription)
			}
			if r.Info().TimeDelta != time.Nanosecond {
				t.Errorf("TimeDelta = %v", r.Info().TimeDelta)
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
	rng := rand.New(rand.NewPCG(seed, 7))
	check := func(rng *rand.Rand) error {
		for i := 0; i < 64; i++ {
			off := rng.Int64N(int64(len(want)) + 10)
			n := rng.IntN(300000) + 1
			buf := make([]byte, n)
			got, err := ra.ReadAt(buf, off)
			end := min(off+int64(n), int64(len(want)))
			if off >= int64(len(want)) {
				if got != 0 || err != io.EOF {
					return fmt.Errorf("ReadAt(%d past end) = %d, %v", off, got, err)
				}
				continue
			}
			if int64(got) != end-off {
				return fmt.Errorf("ReadAt(%d, %d) = %d bytes, %v; want %d", off, n, got, err, end-off)
			}
			if end == int64(len(want)) && off+int64(n) > end && err != io.EOF {
				return fmt.Errorf("short read at end without io.EOF: %v", err)
			}
			if end < off+int64(n) == false && err != nil {
				return fmt.Errorf("full read returned %v", err)
			}
			if !bytes.Equal(buf[:got], want[off:end]) {
				return fmt.Errorf("ReadAt(%d, %d): wrong bytes", off, n)
			}
		}
		return nil
	}
	if err := check(rng); err != nil {
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
	for _, v := range []string{"tar", "tar.gz"} {
		t.Run(v, func(t *testing.T) {
			tr, _ := refTreeOf(t)
			r := openFile(t, build(t, v), nil)
			for _, p := range []string{imagetest.BigFile, imagetest.SparseFile} {
				want, err := os.ReadFile(filepath.Join(tr, p))
				if err != nil {
					t.Fatal(err)
				}
				ra, err := r.Open(lookupPath(t, r, p))
				if err != nil {
					t.Fatal(err)
				}
				checkRandomReads(t, ra, want, 1)
			}
		})
	}
}

func TestStableIno(t *testing.T) {
	img := build(t, "tar")
	a, err := imagetest.WalkReader(openFile(t, img, nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := imagetest.WalkReader(openFile(t, img, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d vs %d entries", len(a), len(b))
	}
	seen := map[uint64]string{}
	for p, e := range a {
		if b[p] == nil || b[p].Ino != e.Ino {
			t.Errorf("%q: Ino changed across opens", p)
		}
		if o, dup := seen[e.Ino]; dup && !(strings.Contains(o+p, "hard-")) {
			t.Errorf("%q and %q share Ino %d", o, p, e.Ino)
		}
		seen[e.Ino] = p
	}
	if a[imagetest.HardA].Ino != a[imagetest.HardB].Ino || a[imagetest.HardA].Nlink != 2 {
		t.Errorf("hard link: %+v %+v", a[imagetest.HardA], a[imagetest.HardB])
	}
}

func TestForgedIno(t *testing.T) {
	r := openFile(t, build(t, "tar"), nil)
	rng := rand.New(rand.NewPCG(3, 4))
	inos := []image.Ino{0, 1, 2, r.Root() - 1, r.Root() + 1, 1 << 63, ^image.Ino(0)}
	for i := 0; i < 2000; i++ {
		inos = append(inos, image.Ino(rng.Uint64()), image.Ino(rng.Uint64N(1<<17)))
	}
	valid := map[image.Ino]bool{}
	for _, ino := range r.Inos() {
		valid[ino] = true
	}
	for _, ino := range inos {
		if valid[ino] {
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
		if _, err := r.Lookup(ino, "x"); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Lookup(%d) = %v", ino, err)
		}
		if _, err := r.Parent(ino); !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Parent(%d) = %v", ino, err)
		}
	}
}

// sparseTree is a small tree with the reference sparse layout (4 KiB of
// data at 0 and at 6 MiB of an 8 MiB file) plus a long name.
func sparseTree(t *testing.T) (dir string, want []byte) {
	t.Helper()
	dir = t.TempDir()
	want = make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(5, 6))
	f, err := os.Create(filepath.Join(dir, "sparse.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []int{0, 6 << 20} {
		for i := o; i < o+4096; i++ {
			want[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(want[o:o+4096], int64(o)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return dir, want
}

func TestSparse(t *testing.T) {
	imagetest.Need(t, "tar")
	dir, want := sparseTree(t)
	for _, c := range []struct{ name, format, version string }{
		{"pax-default", "pax", ""}, {"pax-0.0", "pax", "0.0"}, {"pax-0.1", "pax", "0.1"},
		{"pax-1.0", "pax", "1.0"}, {"oldgnu", "gnu", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "s.tar")
			args := []string{"--sparse", "--format=" + c.format}
			if c.version != "" {
				args = append(args, "--sparse-version="+c.version)
			}
			imagetest.Run(t, "", "tar", append(args, "-cf", img, "-C", dir, "sparse.bin")...)
			r := openFile(t, img, nil)
			ino := lookupPath(t, r, "sparse.bin")
			n, _ := r.Node(ino)
			if n.Data.sparse == nil {
				t.Fatalf("sparse map not indexed")
			}
			if n.Data.phys > 64<<10 {
				t.Errorf("stored %d bytes, want only the data fragments", n.Data.phys)
			}
			ra, _ := r.Open(ino)
			// Reads inside holes, inside data, across boundaries.
			for _, rg := range [][2]int64{{0, 10}, {4000, 200}, {4096, 100}, {1 << 20, 4096}, {6<<20 - 50, 100},
				{6<<20 + 4000, 200}, {8<<20 - 10, 10}, {0, 8 << 20}} {
				buf := make([]byte, rg[1])
				got, err := ra.ReadAt(buf, rg[0])
				if got != int(rg[1]) || (err != nil && err != io.EOF) || !bytes.Equal(buf, want[rg[0]:rg[0]+rg[1]]) {
					t.Errorf("ReadAt(%d, %d) = %d, %v (bytes equal: %v)", rg[0], rg[1], got, err, bytes.Equal(buf, want[rg[0]:rg[0]+rg[1]]))
				}
			}
			checkRandomReads(t, ra, want, 9)
		})
	}
}

func TestGNULongNameAndLinks(t *testing.T) {
	imagetest.Need(t, "tar")
	dir := t.TempDir()
	long := strings.Repeat("d", 150) + "/" + strings.Repeat("f", 180) + ".txt"
	os.MkdirAll(filepath.Join(dir, filepath.Dir(long)), 0o755)
	os.WriteFile(filepath.Join(dir, long), []byte("long\n"), 0o640)
	os.Link(filepath.Join(dir, long), filepath.Join(dir, "hard"))
	os.Symlink(long, filepath.Join(dir, strings.Repeat("s", 120)))
	for _, format := range []string{"gnu", "pax", "ustar"} {
		t.Run(format, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "l.tar")
			cmd := []string{"--format=" + format, "-cf", img, "-C", dir, "."}
			if format == "ustar" { // ustar cannot hold 180-char names
				cmd = []string{"--format=ustar", "-cf", img, "-C", dir, "./hard"}
			}
			imagetest.Run(t, "", "tar", cmd...)
			r := openFile(t, img, nil)
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			if format == "ustar" {
				if e := got["hard"]; e == nil || e.Perm != 0o640 || e.Size != 5 {
					t.Fatalf("ustar: %+v", e)
				}
				return
			}
			l, h := got[long], got["hard"]
			if l == nil || h == nil || l.Ino != h.Ino || l.Nlink != 2 || h.SHA256 != l.SHA256 || l.Perm != 0o640 {
				t.Fatalf("long/hard: %+v %+v", l, h)
			}
			if s := got[strings.Repeat("s", 120)]; s == nil || s.Link != long {
				t.Fatalf("long symlink: %+v", s)
			}
		})
	}
}

// writeTar builds a tar in memory with archive/tar.
func writeTar(t testing.TB, hdrs []*tar.Header) []byte {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			w.Write(bytes.Repeat([]byte{byte(len(h.Name))}, int(h.Size)))
		}
	}
	w.Close()
	return b.Bytes()
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func openBytes(t testing.TB, b []byte) (*Reader, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{Log: slog.New(slog.NewTextHandler(lb, nil)), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r, lb
}

func TestNamesAndDuplicates(t *testing.T) {
	reg := func(name string, size int64, mt int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: time.Unix(mt, 0), Format: tar.FormatPAX}
	}
	b := writeTar(t, []*tar.Header{
		reg("./a/b/c.txt", 3, 100),
		reg("/abs/x", 2, 50),
		reg("../evil", 1, 0),
		reg("a/../../evil2", 1, 0),
		reg("a/b/c.txt", 7, 0), // duplicate: the later one wins
		{Typeflag: tar.TypeDir, Name: "a/b/", Mode: 0o711, ModTime: time.Unix(7, 0)},
		{Typeflag: tar.TypeLink, Name: "a/hl", Linkname: "./a/b/c.txt"},
		{Typeflag: tar.TypeLink, Name: "a/bad", Linkname: "nope"},
		{Typeflag: tar.TypeChar, Name: "dev/c", Devmajor: 4, Devminor: 300000, Mode: 0o620, Uid: 1 << 22, Gid: 3, Format: tar.FormatPAX},
	})
	r, lb := openBytes(t, b)
	got, err := imagetest.WalkReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	for _, p := range []string{"", "a", "a/b", "a/b/c.txt", "a/hl", "abs", "abs/x", "dev", "dev/c"} {
		if got[p] == nil {
			t.Errorf("missing %q (have %v)", p, paths)
		}
	}
	if len(got) != 9 {
		t.Errorf("entries %v", paths)
	}
	if c := got["a/b/c.txt"]; c.Size != 7 || c.Nlink != 2 || got["a/hl"].Ino != c.Ino {
		t.Errorf("duplicate/hard link: %+v", c)
	}
	if d := got["a/b"]; d.Perm != 0o711 || !d.Mtime.Equal(time.Unix(7, 0)) {
		t.Errorf("explicit dir attrs: %+v", d)
	}
	// Implied directories: 0755, root-owned, the newest mtime in the archive.
	if d := got["a"]; d.Perm != 0o755 || d.UID != 0 || !d.Mtime.Equal(time.Unix(100, 0)) || d.Ino&pathtree.SyntheticBit == 0 {
		t.Errorf("implied dir: %+v", d)
	}
	if c := got["dev/c"]; c.Rdev != 4<<32|300000 || c.UID != 1<<22 {
		t.Errorf("device: %+v", c)
	}
	if !strings.Contains(lb.String(), "escapes") || !strings.Contains(lb.String(), "hard link") {
		t.Errorf("log lacks notes: %s", lb.String())
	}
}

// smallTar is a GNU tar (PAX) of a small tree: files, dirs, a symlink, a
// hard link, a sparse file.
func smallTar(t testing.TB) []byte {
	dir := t.TempDir()
	for i := 0; i < 20; i++ {
		os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%d", i%4)), 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("d%d/f%02d-%s", i%4, i, strings.Repeat("x", i*7))), bytes.Repeat([]byte{byte(i)}, i*300), 0o644)
	}
	os.Symlink("d0", filepath.Join(dir, "ln"))
	os.Link(filepath.Join(dir, "d0/f00-"), filepath.Join(dir, "hl"))
	f, _ := os.Create(filepath.Join(dir, "sp"))
	f.WriteAt([]byte("data"), 100000)
	f.Close()
	img := filepath.Join(t.TempDir(), "s.tar")
	imagetest.Run(t, "", "tar", "--format=pax", "--sparse", "--sort=name", "-cf", img, "-C", dir, ".")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// headerOffsets lists the offsets of the header blocks of a clean tar.
func headerOffsets(b []byte) []int64 {
	var offs []int64
	for off := int64(0); off+blockSize <= int64(len(b)); {
		blk := b[off : off+blockSize]
		if !validHeader(blk) {
			break
		}
		offs = append(offs, off)
		sz, _ := parseNum(blk[124:136])
		off += blockSize + roundUp(sz)
	}
	return offs
}

func TestCorruptMiddleHeader(t *testing.T) {
	imagetest.Need(t, "tar")
	clean := smallTar(t)
	r0, _ := openBytes(t, clean)
	all, err := imagetest.WalkReader(r0)
	if err != nil {
		t.Fatal(err)
	}
	offs := headerOffsets(clean)
	// The main header of a plain file in the middle (preceded by its 'x').
	var victim int64 = -1
	for i := len(offs) / 2; i < len(offs); i++ {
		if clean[offs[i]+156] == '0' && clean[offs[i-1]+156] == 'x' {
			victim = offs[i]
			break
		}
	}
	if victim < 0 {
		t.Fatal("no victim header found")
	}
	name := string(bytes.TrimRight(clean[victim:victim+100], "\x00"))
	var xhdr int64
	for i, o := range offs {
		if o == victim {
			xhdr = offs[i-1]
		}
	}
	for _, mode := range []string{"garbage", "zeroed", "zeroed-pax"} {
		t.Run(mode, func(t *testing.T) {
			b := bytes.Clone(clean)
			if mode == "garbage" {
				copy(b[victim+100:], "\xff\xfe garbage")
			} else if mode == "zeroed" {
				clear(b[victim : victim+blockSize])
			} else {
				// The PAX header and its record block: two zero blocks,
				// which archive/tar reads as the end of the archive.
				clear(b[xhdr:victim])
			}
			r, lb := openBytes(t, b)
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(lb.String(), "corrupt image") {
				t.Errorf("damage not logged: %q", lb.String())
			}
			if mode == "zeroed-pax" && !strings.Contains(lb.String(), "zero block inside") {
				t.Errorf("early end-of-archive marker not reported: %q", lb.String())
			}
			missing := 0
			for p, e := range all {
				g := got[p]
				if g == nil {
					missing++
					continue
				}
				if g.SHA256 != e.SHA256 || g.Size != e.Size {
					t.Errorf("%q differs after damage elsewhere", p)
				}
			}
			if missing > 1 {
				t.Errorf("%d entries lost for one bad header (%q)", missing, name)
			}
			if len(got) < len(all)-1 {
				t.Errorf("got %d entries of %d", len(got), len(all))
			}
		})
	}
}

// walkAll opens and walks b with a time limit; it fails on hang or panic.
func walkAll(t testing.TB, b []byte, what string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Sprintf("panic: %v", p)
			}
		}()
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{Log: slog.New(slog.DiscardHandler), TempDir: os.TempDir()})
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
	imagetest.Need(t, "tar", "gzip")
	clean := smallTar(t)
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := 0; trial < 200; trial++ {
		b := bytes.Clone(clean)
		for k := rng.IntN(8) + 1; k > 0; k-- {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		walkAll(t, b, fmt.Sprintf("trial %d", trial))
	}
	for _, n := range []int{len(clean) / 2, len(clean) * 9 / 10, len(clean) - 4096, 700, 100} {
		walkAll(t, clean[:n], fmt.Sprintf("truncated to %d", n))
	}
	// Compressed: flips in a gzip stream.
	var gz bytes.Buffer
	cmd := filepath.Join(t.TempDir(), "s.tar")
	os.WriteFile(cmd, clean, 0o644)
	imagetest.Run(t, "", "gzip", "-k", cmd)
	gzb, _ := os.ReadFile(cmd + ".gz")
	gz.Write(gzb)
	for trial := 0; trial < 30; trial++ {
		b := bytes.Clone(gz.Bytes())
		b[10+rng.IntN(len(b)-10)] ^= byte(rng.Uint32()) | 1
		walkAll(t, b, fmt.Sprintf("gzip trial %d", trial))
	}
	walkAll(t, gzb[:len(gzb)/2], "truncated gzip")
}

// TestHeaderChecksum: any byte changed in a header block (outside the
// checksum field) is detected by the header checksum and logged.
func TestHeaderChecksum(t *testing.T) {
	imagetest.Need(t, "tar")
	clean := smallTar(t)
	offs := headerOffsets(clean)
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 40; trial++ {
		b := bytes.Clone(clean)
		o := offs[rng.IntN(len(offs))]
		i := rng.Int64N(blockSize - 8)
		if i >= 148 {
			i += 8
		}
		b[o+i] ^= byte(rng.IntN(255) + 1)
		_, lb := openBytes(t, b)
		if !strings.Contains(lb.String(), "corrupt image") {
			t.Fatalf("trial %d: change at %d+%d not detected", trial, o, i)
		}
	}
}

func TestCompressedSmall(t *testing.T) {
	imagetest.Need(t, "tar", "gzip", "xz", "bzip2", "zstd")
	clean := smallTar(t)
	r0, _ := openBytes(t, clean)
	want, err := imagetest.WalkReader(r0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "s.tar")
	os.WriteFile(plain, clean, 0o644)
	for _, c := range []struct{ prog, ext string }{{"gzip", ".gz"}, {"xz", ".xz"}, {"bzip2", ".bz2"}, {"zstd", ".zst"}} {
		t.Run(c.prog, func(t *testing.T) {
			imagetest.Run(t, "", c.prog, "-q", "-k", "-f", plain)
			b, err := os.ReadFile(plain + c.ext)
			if err != nil {
				t.Fatal(err)
			}
			if !Probe(bytes.NewReader(b), int64(len(b))) {
				t.Fatal("Probe = false")
			}
			r, lb := openBytes(t, b)
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range imagetest.Compare(want, got, imagetest.Quirks{}) {
				t.Error(d)
			}
			for p, e := range want {
				if got[p] == nil || got[p].Ino != e.Ino {
					t.Errorf("%q: Ino differs from the plain tar's", p)
				}
			}
			if lb.String() != "" {
				t.Errorf("unexpected log: %s", lb.String())
			}
		})
	}
}

func TestProbe(t *testing.T) {
	imagetest.Need(t, "tar")
	clean := smallTar(t)
	if !Probe(bytes.NewReader(clean), int64(len(clean))) {
		t.Error("plain tar not detected")
	}
	for _, b := range [][]byte{make([]byte, 4096), []byte("PK\x03\x04 not a tar at all"), bytes.Repeat([]byte{0x1f, 0x8b}, 300)} {
		if Probe(bytes.NewReader(b), int64(len(b))) {
			t.Errorf("false positive on %q…", b[:8])
		}
	}
}

func FuzzOpenCorrupt(f *testing.F) {
	f.Add(writeTar(f, []*tar.Header{
		{Typeflag: tar.TypeReg, Name: "a/b", Size: 5, Mode: 0o644, Format: tar.FormatPAX, ModTime: time.Unix(1, 5)},
		{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "a/b"},
		{Typeflag: tar.TypeLink, Name: "h", Linkname: "a/b"},
	}))
	if _, err := exec.LookPath("tar"); err == nil {
		f.Add(smallTar(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{Log: slog.New(slog.DiscardHandler), TempDir: os.TempDir()})
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
	var hdrs []*tar.Header
	for i := 0; i < n; i++ {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("big/f%05d", i), Size: 1, Mode: 0o644})
	}
	b := writeTar(t, hdrs)
	start := time.Now()
	r, _ := openBytes(t, b)
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
