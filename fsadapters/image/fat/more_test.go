package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

func lookupPath(t testing.TB, r *Reader, p string) image.Ino {
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

func TestRandomAccess(t *testing.T) {
	b := variantImage(t, "fat32")
	want, err := os.ReadFile(filepath.Join(tree(t), imagetest.BigFile))
	if err != nil {
		t.Fatal(err)
	}
	r := openBytes(t, b)
	ra, err := r.Open(lookupPath(t, r, imagetest.BigFile))
	if err != nil {
		t.Fatal(err)
	}
	check := func(ra io.ReaderAt, rng *rand.Rand) error {
		for i := 0; i < 64; i++ {
			off := rng.Int64N(int64(len(want)) + 1000)
			n := rng.IntN(300000) + 1
			buf := make([]byte, n)
			got, err := ra.ReadAt(buf, off)
			end := min(off+int64(n), int64(len(want)))
			wantN := max(0, int(end-off))
			if got != wantN || (got < n && err != io.EOF) || (got == n && err != nil) {
				return errors.New("bad ReadAt result")
			}
			if wantN > 0 && !bytes.Equal(buf[:got], want[off:end]) {
				return errors.New("ReadAt data differs")
			}
		}
		return nil
	}
	if err := check(ra, rand.New(rand.NewPCG(7, 7))); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g uint64) {
			defer wg.Done()
			// Each goroutine opens on its own too, to exercise the run cache.
			ra2, err := r.Open(lookupPath(t, r, imagetest.BigFile))
			if err != nil {
				errs <- err
				return
			}
			ra := ra
			if g%2 == 0 {
				ra = ra2 // half share one ReaderAt, half use their own
			}
			errs <- check(ra, rand.New(rand.NewPCG(g, 99)))
		}(uint64(g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestStableIno(t *testing.T) {
	b := variantImage(t, "fat32")
	w1, err := imagetest.WalkReader(openBytes(t, b))
	if err != nil {
		t.Fatal(err)
	}
	w2, err := imagetest.WalkReader(openBytes(t, bytes.Clone(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(w1) != len(w2) || len(w1) < 190 {
		t.Fatalf("walks differ: %d vs %d entries", len(w1), len(w2))
	}
	seen := map[uint64]string{}
	for p, e := range w1 {
		if w2[p] == nil || w2[p].Ino != e.Ino {
			t.Errorf("%s: Ino %d then %v", p, e.Ino, w2[p])
		}
		if q, dup := seen[e.Ino]; dup {
			t.Errorf("%s and %s share Ino %d", p, q, e.Ino)
		}
		seen[e.Ino] = p
	}
}

func TestForgedIno(t *testing.T) {
	b := variantImage(t, "fat16")
	r := openBytes(t, b)
	var cand []image.Ino
	for ino := range r.nodes {
		for _, d := range []int64{-33, -32, -31, -1, 0, 1, 16, 31, 32} {
			cand = append(cand, image.Ino(int64(ino)+d))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		cand = append(cand, image.Ino(rng.Uint64()), image.Ino(rng.Int64N(int64(len(b))))&^31)
	}
	cand = append(cand, 0, 2, 1<<63, ^image.Ino(0))
	for _, ino := range cand {
		_, err := r.Stat(ino)
		if r.nodes[ino] == nil && !errors.Is(err, fsadapters.ErrStale) {
			t.Fatalf("Stat(%d) of an unknown Ino: %v", ino, err)
		}
		r.ReadDir(ino)
		r.Readlink(ino)
		r.Lookup(ino, "x")
		r.Parent(ino)
		if ra, err := r.Open(ino); err == nil {
			ra.ReadAt(make([]byte, 100), 0)
		}
	}
}

// smallTree writes a few files with known mtimes for the FAT12 image.
func smallTree(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "src")
	rng := rand.New(rand.NewPCG(5, 6))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	files := map[string][]byte{
		"readme.md":                        []byte("# hi\n"),
		"MixedCase.TXT":                    []byte("mixed\n"),
		"UPPER.TXT":                        []byte("upper\n"),
		"empty.txt":                        nil,
		"héllo.txt":                        []byte("accent\n"),
		"a😀b.txt":                          []byte("emoji\n"),
		"sub/inner.bin":                    rnd(10000),
		"sub/deeper/x.c":                   []byte("int x;\n"),
		strings.Repeat("L", 120) + ".long": []byte("long\n"),
	}
	for i := 0; i < 40; i++ {
		files[path.Join("many", strings.Repeat("entry", 3)+string(rune('a'+i%26))+string(rune('0'+i/26))+".txt")] = rnd(i * 37)
	}
	base := time.Date(2023, 3, 4, 5, 6, 8, 0, time.UTC)
	var paths []string
	for p, data := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, full)
	}
	paths = append(paths, filepath.Join(src, "sub/deeper"), filepath.Join(src, "sub"), filepath.Join(src, "many"))
	sort.Strings(paths)
	for i, p := range paths {
		mt := base.Add(time.Duration(i) * 2 * time.Second)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// buildFAT12 makes a 1.44 MB FAT12 image of src (one sector per cluster).
func buildFAT12(t *testing.T, src string, kib string) []byte {
	imagetest.Need(t, "mkfs.vfat", "mcopy")
	dir := t.TempDir()
	img := filepath.Join(dir, "f12.img")
	imagetest.Run(t, dir, "mkfs.vfat", "-C", "-F", "12", "-n", "SMALL", img, kib)
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-s", "-p", "-m", "-i", img}
	for _, e := range ents {
		args = append(args, filepath.Join(src, e.Name()))
	}
	imagetest.Run(t, dir, "mcopy", append(args, "::/")...)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixEmoji rewrites mtools' broken 0xF600 unit in a one-entry long name as
// the surrogate pair D83D DE00 (see fatQuirks).
func fixEmoji(t *testing.T, b []byte, r *Reader) {
	for off := r.v.rootOff; off < r.v.rootOff+r.v.rootBytes; off += 32 {
		e := b[off : off+32]
		if e[11] != attrLFN || e[0] != 0x41 {
			continue
		}
		var u []uint16
		for _, o := range lfnUnits {
			u = append(u, binary.LittleEndian.Uint16(e[o:]))
		}
		if u[1] != 0xF600 {
			continue
		}
		fixed := append([]uint16{u[0], 0xD83D, 0xDE00}, u[2:12]...)
		for i, o := range lfnUnits {
			binary.LittleEndian.PutUint16(e[o:], fixed[i])
		}
		return
	}
	t.Fatal("no long name with U+F600 found")
}

func TestFAT12(t *testing.T) {
	src := smallTree(t)
	b := buildFAT12(t, src, "1440")
	r := openBytes(t, b)
	if r.v.fatType != FAT12 {
		t.Fatalf("type FAT%d", r.v.fatType)
	}
	fixEmoji(t, b, r)
	r = openBytes(t, b)
	ref, err := imagetest.Walk(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := imagetest.WalkReader(r)
	if err != nil {
		t.Fatal(err)
	}
	q := imagetest.Quirks{NoOwners: true, NoPerms: true, MtimeGranule: 2 * time.Second}
	for _, d := range imagetest.Compare(ref, got, q) {
		if !strings.HasPrefix(d, ": mtime") {
			t.Error(d)
		}
	}
	// Case-insensitive lookup, long names and 8.3 aliases.
	for name, same := range map[string]string{
		"README.MD": "readme.md", "mixedcase.txt": "MixedCase.TXT", "MIXEDC~1.TXT": "MixedCase.TXT",
		"HÉLLO.TXT": "héllo.txt", "upper.txt": "UPPER.TXT", "A😀B.TXT": "a😀b.txt",
	} {
		a, err1 := r.Lookup(r.Root(), name)
		b, err2 := r.Lookup(r.Root(), same)
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("Lookup(%q)=%d,%v Lookup(%q)=%d,%v", name, a, err1, same, b, err2)
		}
	}
	if _, err := r.Lookup(r.Root(), "nope"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lookup(nope) = %v", err)
	}
	sub := lookupPath(t, r, "sub")
	deeper := lookupPath(t, r, "sub/deeper")
	if p, err := r.Parent(deeper); err != nil || p != sub {
		t.Errorf("Parent(deeper) = %d, %v; want %d", p, err, sub)
	}
	if p, err := r.Parent(sub); err != nil || p != r.Root() {
		t.Errorf("Parent(sub) = %d, %v", p, err)
	}
	if a, _ := r.Stat(r.Root()); a.Nlink != 4 || a.Type != fsadapters.TypeDir || a.Mode != 0o755 {
		t.Errorf("root attr %+v", a)
	}
	a, _ := r.Stat(lookupPath(t, r, "sub/inner.bin"))
	if a.Size != 10000 || a.Mode != 0o644 || a.Nlink != 1 || a.Btime.IsZero() || a.Mtime.Second()%2 != 0 {
		t.Errorf("inner.bin attr %+v", a)
	}
	if _, err := r.Readlink(sub); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Readlink(dir) = %v", err)
	}
	if _, err := r.Open(sub); !errors.Is(err, unix.EISDIR) {
		t.Errorf("Open(dir) = %v", err)
	}
	if info := r.Info(); info.Label != "SMALL" || info.Files != uint64(len(ref)) {
		t.Errorf("info %+v (want %d files)", info, len(ref))
	}
}

// setFAT12 stores v as entry c of FAT copy k.
func setFAT12(b []byte, v *volume, k int, c, val uint32) {
	o := v.fatOff + int64(k)*v.fatBytes + int64(c) + int64(c/2)
	x := binary.LittleEndian.Uint16(b[o:])
	if c&1 != 0 {
		x = x&0x000F | uint16(val)<<4
	} else {
		x = x&0xF000 | uint16(val)&0xFFF
	}
	binary.LittleEndian.PutUint16(b[o:], x)
}

func TestFATCopies(t *testing.T) {
	src := smallTree(t)
	orig := buildFAT12(t, src, "1440")
	want, _ := os.ReadFile(filepath.Join(src, "sub/inner.bin"))
	r0 := openBytes(t, orig)
	ino := lookupPath(t, r0, "sub/inner.bin")
	first := r0.nodes[ino].firstCluster(r0.v)
	second, _, err := r0.next(first, true)
	if err != nil {
		t.Fatal(err)
	}
	read := func(b []byte) ([]byte, error) {
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{})
		if err != nil {
			return nil, err
		}
		ra, err := r.Open(ino)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(io.NewSectionReader(ra, 0, 1<<20))
	}
	// FAT #1 entry free (out of range for a chain): FAT #2 is used.
	b := bytes.Clone(orig)
	setFAT12(b, r0.v, 0, first, 0)
	if got, err := read(b); err != nil || !bytes.Equal(got, want) {
		t.Errorf("fallback to FAT #2: %v", err)
	}
	// The copies differ in an unrelated entry: not an error.
	b = bytes.Clone(orig)
	setFAT12(b, r0.v, 1, 2000, 0xFF7)
	if got, err := read(b); err != nil || !bytes.Equal(got, want) {
		t.Errorf("differing copies: %v", err)
	}
	// Both copies bad: CorruptError.
	b = bytes.Clone(orig)
	setFAT12(b, r0.v, 0, first, 0xFF7)
	setFAT12(b, r0.v, 1, first, 1)
	if _, err := read(b); !image.IsCorrupt(err) {
		t.Errorf("both copies bad: %v", err)
	}
	// A loop (second → first) in both copies.
	b = bytes.Clone(orig)
	setFAT12(b, r0.v, 0, second, first)
	setFAT12(b, r0.v, 1, second, first)
	if _, err := read(b); !image.IsCorrupt(err) || !strings.Contains(err.Error(), "loop") {
		t.Errorf("loop: %v", err)
	}
	// Chain ends early.
	b = bytes.Clone(orig)
	setFAT12(b, r0.v, 0, second, 0xFFF)
	setFAT12(b, r0.v, 1, second, 0xFFF)
	if _, err := read(b); !image.IsCorrupt(err) {
		t.Errorf("short chain: %v", err)
	}
	// A subdirectory pointing at its parent's cluster: that directory is
	// corrupt, the rest of the volume still reads.
	b = bytes.Clone(orig)
	sub := lookupPath(t, r0, "sub")
	deeper := lookupPath(t, r0, "sub/deeper")
	copy(b[int64(deeper)+26:], b[int64(sub)+26:int64(sub)+28])
	r := openBytes(t, b)
	if _, err := r.ReadDir(deeper); !image.IsCorrupt(err) {
		t.Errorf("directory loop: %v", err)
	}
	if _, err := r.ReadDir(r.Root()); err != nil {
		t.Error(err)
	}
}

// TestLFN checks long-name assembly: a surrogate pair split across two
// entries, an orphaned set (bad checksum) and an out-of-order set.
func TestLFN(t *testing.T) {
	sfn := []byte("LONGNA~1TXT\x20")
	sfn = append(sfn, make([]byte, 20)...)
	name := "twelve chars😀 tail.txt"
	u := utf16.Encode([]rune(name))
	if u[12] != 0xD83D {
		t.Fatal("test name must split the pair across entries")
	}
	mk := func(ord int, last bool, sum byte) []byte {
		e := make([]byte, 32)
		e[0] = byte(ord)
		if last {
			e[0] |= 0x40
		}
		e[11] = attrLFN
		e[13] = sum
		for i, o := range lfnUnits {
			k := (ord-1)*13 + i
			v := uint16(0xFFFF)
			if k < len(u) {
				v = u[k]
			} else if k == len(u) {
				v = 0
			}
			binary.LittleEndian.PutUint16(e[o:], v)
		}
		return e
	}
	sum := lfnChecksum(sfn)
	var s lfnState
	s.add(mk(2, true, sum))
	s.add(mk(1, false, sum))
	if got := s.take(sfn); got != name {
		t.Errorf("got %q want %q", got, name)
	}
	s.add(mk(2, true, sum+1))
	s.add(mk(1, false, sum+1))
	if got := s.take(sfn); got != "" {
		t.Errorf("orphan: got %q", got)
	}
	s.add(mk(1, false, sum))
	s.add(mk(2, true, sum))
	if got := s.take(sfn); got != "" {
		t.Errorf("out of order: got %q", got)
	}
	if got := shortName([]byte("README  MD \x20\x18"), true); got != "readme.md" {
		t.Errorf("NT lowercase: %q", got)
	}
	if got := shortName([]byte("\x05BC     TXT\x20\x00"), true); got != "σBC.TXT" {
		t.Errorf("0x05 lead byte: %q", got)
	}
	if foldKey("ǅx") != foldKey("Ǆx") || foldKey("\u212Aelvin") != foldKey("kELVIN") || foldKey("Straße") == foldKey("STRASSE") {
		t.Error("simple case folding")
	}
	if len(cp437) != 128 {
		t.Fatalf("cp437 table has %d runes", len(cp437))
	}
}

// walkAll visits every entry of r and reads every file, ignoring errors.
// Files longer than 2*edge bytes are read only in their first and last
// edge bytes (edge 0: read everything).
func walkAll(r *Reader, edge int64) int {
	n := 0
	buf := make([]byte, 128<<10)
	var walk func(ino image.Ino, depth int)
	walk = func(ino image.Ino, depth int) {
		n++
		a, err := r.Stat(ino)
		if err != nil || depth > 64 {
			return
		}
		if a.Type == fsadapters.TypeDir {
			ents, _ := r.ReadDir(ino)
			r.Parent(ino)
			for _, e := range ents {
				r.Lookup(ino, e.Name)
				walk(e.Ino, depth+1)
			}
			return
		}
		ra, err := r.Open(ino)
		if err != nil {
			return
		}
		for off := int64(0); ; off += int64(len(buf)) {
			if edge > 0 && off >= edge && off < int64(a.Size)-edge {
				off = int64(a.Size) - edge
			}
			if _, err := ra.ReadAt(buf, off); err != nil {
				return
			}
		}
	}
	walk(r.Root(), 0)
	return n
}

func trial(t *testing.T, b []byte, what string, edge int64) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{})
		if err != nil {
			if !image.IsCorrupt(err) {
				t.Errorf("%s: Open error is not a CorruptError: %v", what, err)
			}
			return
		}
		walkAll(r, edge)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: walk hung", what)
	}
}

func TestCorruption(t *testing.T) {
	small := buildFAT12(t, smallTree(t), "1440")
	big := variantImage(t, "fat16")
	rng := rand.New(rand.NewPCG(11, 12))
	for _, base := range [][]byte{small, big} {
		v, err := parseBPB(base, int64(len(base)))
		if err != nil {
			t.Fatal(err)
		}
		// Metadata: boot sector, FATs, fixed root and the first clusters
		// (where mcopy puts directories).
		meta := min(int64(len(base)), v.dataOff+64*v.clusterBytes)
		// The 96 MiB image: fewer trials, and big files read at both ends
		// only (FAT has no data checksums; metadata is walked in full).
		trials, edge := 200, int64(0)
		if len(base) > 4<<20 {
			trials, edge = 60, 512<<10
		}
		b := bytes.Clone(base)
		for i := 0; i < trials; i++ {
			type patch struct {
				off int64
				old byte
			}
			var undo []patch
			for k := rng.IntN(8) + 1; k > 0; k-- {
				off := rng.Int64N(meta)
				if rng.IntN(4) == 0 {
					off = rng.Int64N(int64(len(b)))
				}
				undo = append(undo, patch{off, b[off]})
				switch rng.IntN(4) {
				case 0:
					b[off] ^= 1 << rng.IntN(8)
				case 1:
					b[off] = 0
				case 2:
					b[off] = 0xFF
				default:
					b[off] = byte(rng.Uint32())
				}
			}
			trial(t, b, "flip", edge)
			for j := len(undo) - 1; j >= 0; j-- {
				b[undo[j].off] = undo[j].old
			}
		}
		for _, n := range []int64{int64(len(base)) / 2, int64(len(base)) * 9 / 10, int64(len(base)) - 4096} {
			if _, err := Open(bytes.NewReader(base[:n]), n, image.Options{}); !image.IsCorrupt(err) {
				t.Errorf("truncated to %d: %v", n, err)
			}
		}
	}
}

func FuzzOpenCorrupt(f *testing.F) {
	imagetest.Need(f, "mkfs.vfat", "mcopy")
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "Hello World.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(src, "d", "x.bin"), bytes.Repeat([]byte{1, 2, 3}, 700), 0o644)
	os.WriteFile(filepath.Join(src, "e"), nil, 0o644)
	img := filepath.Join(dir, "f.img")
	imagetest.Run(f, dir, "mkfs.vfat", "-C", "-F", "12", "-r", "16", "-n", "FUZZ", img, "64")
	imagetest.Run(f, dir, "mcopy", "-s", "-i", img, filepath.Join(src, "Hello World.txt"), filepath.Join(src, "d"), filepath.Join(src, "e"), "::/")
	b, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		Probe(bytes.NewReader(b), int64(len(b)))
		r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{})
		if err != nil {
			if !image.IsCorrupt(err) {
				t.Fatalf("non-corrupt error %v", err)
			}
			return
		}
		walkAll(r, 0)
	})
}

// TestDirLimit chains a directory through more than 2 MiB of clusters:
// that directory reports a CorruptError, the rest of the volume reads.
func TestDirLimit(t *testing.T) {
	b := bytes.Clone(variantImage(t, "fat16"))
	r0 := openBytes(t, b)
	if r0.v.fatType != FAT16 {
		t.Fatal("want FAT16")
	}
	dir := lookupPath(t, r0, imagetest.EmptyDir)
	c := r0.nodes[dir].firstCluster(r0.v)
	need := maxDirBytes/r0.v.clusterBytes + 2
	set := func(c, v uint32) {
		for k := 0; k < r0.v.nfats; k++ {
			binary.LittleEndian.PutUint16(b[r0.v.fatOff+int64(k)*r0.v.fatBytes+int64(c)*2:], uint16(v))
		}
	}
	for f := r0.v.clusters + 1; need > 0 && f > 2; f-- {
		if v, _, _ := r0.fatEntry(0, f); v == 0 { // free cluster: append it
			set(c, f)
			set(f, 0xFFFF)
			c = f
			need--
		}
	}
	r := openBytes(t, b)
	if _, err := r.ReadDir(dir); !image.IsCorrupt(err) || !strings.Contains(err.Error(), "65536") {
		t.Errorf("oversized directory: %v", err)
	}
	if _, err := r.ReadDir(lookupPath(t, r, "data")); err != nil {
		t.Error(err)
	}
}

// TestConcurrentMeta walks one Reader from 8 goroutines (run with -race).
func TestConcurrentMeta(t *testing.T) {
	r := openBytes(t, buildFAT12(t, smallTree(t), "1440"))
	want, err := imagetest.WalkReader(r)
	if err != nil {
		t.Fatal(err)
	}
	r = openBytes(t, buildFAT12(t, smallTree(t), "1440"))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := imagetest.WalkReader(r)
			if err != nil || len(got) != len(want) {
				t.Errorf("concurrent walk: %d entries, %v", len(got), err)
			}
		}()
	}
	wg.Wait()
}

func TestProbeDetect(t *testing.T) {
	b := variantImage(t, "fat32")
	f, err := image.Detect(bytes.NewReader(b), int64(len(b)))
	if err != nil || f.Name != "fat" {
		t.Fatalf("Detect = %q, %v", f.Name, err)
	}
	for name, mod := range map[string]func([]byte){
		"zeros":     func(s []byte) { clear(s) },
		"no 55AA":   func(s []byte) { s[510] = 0 },
		"no jump":   func(s []byte) { s[0] = 0 },
		"bps 384":   func(s []byte) { binary.LittleEndian.PutUint16(s[11:], 384) },
		"spc 3":     func(s []byte) { s[13] = 3 },
		"no rsvd":   func(s []byte) { binary.LittleEndian.PutUint16(s[14:], 0) },
		"no FATs":   func(s []byte) { s[16] = 0 },
		"too large": func(s []byte) { binary.LittleEndian.PutUint32(s[32:], 1<<30) },
	} {
		s := bytes.Clone(b[:1<<20])
		mod(s)
		if Probe(bytes.NewReader(s), int64(len(b))) {
			t.Errorf("Probe accepted %s", name)
		}
	}
	if !Probe(bytes.NewReader(b), int64(len(b))) {
		t.Error("Probe rejected the image")
	}
}
