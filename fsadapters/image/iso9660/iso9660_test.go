package iso9660

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

// quirks are the differences each variant cannot avoid.
var quirks = map[string]imagetest.Quirks{
	// xorriso --hardlinks: RRIP 1.12 PX with serial numbers. TF holds
	// whole seconds (the 7-byte short form; xorriso never writes LONG_FORM).
	"iso9660": {MtimeGranule: time.Second},
	// Without --hardlinks xorriso writes 36-byte PX (no serial): the two
	// names of a hard link are separate files.
	"iso9660-nohardlinks": {MtimeGranule: time.Second, NoHardLinks: true},
	// genisoimage writes RRIP 1.10 (36-byte PX, no serial).
	"iso9660-genisoimage": {MtimeGranule: time.Second, NoHardLinks: true},
}

var isoVariants = []string{"iso9660", "iso9660-nohardlinks", "iso9660-genisoimage"}

func openFile(t testing.TB, path string) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if !Probe(f, st.Size()) {
		t.Fatalf("Probe(%s) = false", path)
	}
	r, err := Open(f, st.Size(), image.Options{Name: path})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return r
}

func TestReferenceTree(t *testing.T) {
	imagetest.Need(t, "xorriso", "genisoimage")
	tree := imagetest.MakeTree(t)
	ref, err := imagetest.Walk(tree)
	if err != nil {
		t.Fatal(err)
	}
	bigWant, err := os.ReadFile(filepath.Join(tree, imagetest.BigFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range isoVariants {
		t.Run(v, func(t *testing.T) {
			img := imagetest.BuildImage(t, tree, v)
			r := openFile(t, img)
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range imagetest.Compare(ref, got, quirks[v]) {
				t.Error(d)
			}
			// The writers use TF's short form: whole seconds (MtimeGranule).
			if r.Info().TimeDelta != time.Second {
				t.Errorf("Info().TimeDelta = %v", r.Info().TimeDelta)
			}
			if !r.Info().NoHardLinks != (v == "iso9660") {
				t.Errorf("Info().NoHardLinks = %v", r.Info().NoHardLinks)
			}
			t.Run("RandomAccess", func(t *testing.T) { testRandomAccess(t, r, bigWant) })
			t.Run("Stable", func(t *testing.T) {
				again, err := imagetest.WalkReader(openFile(t, img))
				if err != nil {
					t.Fatal(err)
				}
				for p, e := range got {
					if again[p] == nil || again[p].Ino != e.Ino {
						t.Errorf("%s: Ino %d on first open, %v on second", p, e.Ino, again[p])
					}
				}
			})
			t.Run("Forged", func(t *testing.T) { testForged(t, r, got) })
		})
	}
}

func lookupPath(t testing.TB, r image.Reader, p string) image.Ino {
	t.Helper()
	ino := r.Root()
	for _, c := range strings.Split(p, "/") {
		next, err := r.Lookup(ino, c)
		if err != nil {
			t.Fatalf("Lookup %q in %s: %v", c, p, err)
		}
		ino = next
	}
	return ino
}

func testRandomAccess(t *testing.T, r *Reader, want []byte) {
	ino := lookupPath(t, r, imagetest.BigFile)
	ra, err := r.Open(ino)
	if err != nil {
		t.Fatal(err)
	}
	check := func(seed uint64) error {
		rng := rand.New(rand.NewPCG(seed, 7))
		for i := 0; i < 64; i++ {
			off := rng.Int64N(int64(len(want)) + 100)
			n := rng.IntN(300000)
			buf := make([]byte, n)
			got, err := ra.ReadAt(buf, off)
			end := min(off+int64(n), int64(len(want)))
			wantN := max(0, int(end-off))
			if got != wantN {
				return fmt.Errorf("ReadAt(%d, %d) = %d, %v; want %d bytes", off, n, got, err, wantN)
			}
			if err != nil && err != io.EOF || err == io.EOF && off+int64(n) < int64(len(want)) {
				return fmt.Errorf("ReadAt(%d, %d): %v", off, n, err)
			}
			if got < n && err != io.EOF {
				return fmt.Errorf("ReadAt(%d, %d): short read %d without EOF", off, n, got)
			}
			if !bytes.Equal(buf[:got], want[off:off+int64(got)]) {
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
		go func() {
			defer wg.Done()
			errs <- check(uint64(g + 10))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// testForged calls every method with Inos never handed out: random ones
// and the neighbours of real ones.
func testForged(t *testing.T, r *Reader, got map[string]*imagetest.Entry) {
	valid := map[image.Ino]bool{}
	for _, e := range got {
		valid[image.Ino(e.Ino)] = true
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var cands []image.Ino
	for ino := range valid {
		cands = append(cands, ino-1, ino+1, ino+2048, ino-34, ino|serialTag, ino^serialTag)
	}
	for i := 0; i < 500; i++ {
		cands = append(cands, image.Ino(rng.Uint64()), image.Ino(rng.Uint64N(uint64(r.size))))
	}
	cands = append(cands, 0, image.Ino(r.size), serialTag, serialTag+1)
	for _, ino := range cands {
		if valid[ino] {
			continue
		}
		_, err1 := r.Stat(ino)
		_, err2 := r.ReadDir(ino)
		_, err3 := r.Open(ino)
		_, err4 := r.Readlink(ino)
		_, err5 := r.Lookup(ino, "x")
		_, err6 := r.Parent(ino)
		for _, err := range []error{err1, err2, err3, err4, err5, err6} {
			if !errors.Is(err, fsadapters.ErrStale) {
				t.Fatalf("forged Ino %#x: %v, want ErrStale", ino, err)
			}
		}
	}
}

// mkTree writes files (path → content; a trailing "/" makes a directory)
// under a fresh directory with a fixed mtime.
func mkTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	mt := time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)
	for p, data := range files {
		fp := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(fp, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, mt, mt) })
	return root
}

// TestDeepRelocated: genisoimage -R relocates directories deeper than 8
// levels into rr_moved (RRIP §4.1.5: CL in the original parent, RE on the
// moved entry, PL in its ".."). The reader must show the original tree.
func TestDeepRelocated(t *testing.T) {
	imagetest.Need(t, "genisoimage", "xorriso")
	files := map[string]string{"top.txt": "top\n"}
	p := ""
	for i := 1; i <= 12; i++ {
		p += fmt.Sprintf("level%02d/", i)
		files[p+"file.txt"] = fmt.Sprintf("level %d\n", i)
	}
	files[p+"leaf/"] = ""
	tree := mkTree(t, files)
	ref, err := imagetest.Walk(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range [][]string{
		{"genisoimage", "-quiet", "-R"},
		{"xorriso", "-as", "mkisofs", "-quiet", "-R"},
	} {
		t.Run(tool[0], func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "deep.iso")
			imagetest.Run(t, "", tool[0], append(tool[1:], "-o", img, tree)...)
			r := openFile(t, img)
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range imagetest.Compare(ref, got, imagetest.Quirks{MtimeGranule: time.Second, NoHardLinks: true}) {
				t.Error(d)
			}
			// Parent of every directory is the one it was listed in.
			dir := r.Root()
			for i := 1; i <= 12; i++ {
				sub, err := r.Lookup(dir, fmt.Sprintf("level%02d", i))
				if err != nil {
					t.Fatal(err)
				}
				if par, err := r.Parent(sub); err != nil || par != dir {
					t.Fatalf("Parent(level%02d) = %d, %v; want %d", i, par, err, dir)
				}
				dir = sub
			}
		})
	}
}

// TestJolietAndPlain: without Rock Ridge, names come from Joliet (UTF-16,
// with a non-BMP character) or from the ISO identifiers (map=normal), and
// permissions are synthesized (0555 directories, 0444 files, owner 0).
func TestJolietAndPlain(t *testing.T) {
	imagetest.Need(t, "xorriso")
	long := strings.Repeat("j", 90) + ".txt"
	tree := mkTree(t, map[string]string{
		"Docs/héllo wörld – 日本語.txt": "unicode\n",
		"Docs/" + long:               "long\n",
		"README.MD":                  "readme\n",
		"data/x.bin":                 "x",
	})
	cases := []struct {
		name  string
		args  []string
		paths map[string]string // path → content
	}{
		{"joliet", []string{"-joliet", "on", "-compliance", "joliet_long_names"}, map[string]string{
			"Docs/héllo wörld – 日本語.txt": "unicode\n", "Docs/" + long: "long\n", "README.MD": "readme\n", "data/x.bin": "x"}},
		{"plain", []string{"-joliet", "off"}, map[string]string{"readme.md": "readme\n", "data/x.bin": "x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "j.iso")
			// The mkisofs emulation always writes Rock Ridge; the native
			// commands can turn it off.
			args := append([]string{"-report_about", "SORRY", "-rockridge", "off"}, c.args...)
			imagetest.Run(t, "", "xorriso", append(args, "-outdev", img, "-map", tree, "/")...)
			r := openFile(t, img)
			if r.rr || r.joliet != (c.name == "joliet") {
				t.Fatalf("rr=%v joliet=%v", r.rr, r.joliet)
			}
			for p, want := range c.paths {
				ino := lookupPath(t, r, p)
				a, err := r.Stat(ino)
				if err != nil {
					t.Fatal(err)
				}
				if a.Mode != 0o444 || a.UID != 0 || a.GID != 0 || a.Nlink != 1 || a.Size != uint64(len(want)) {
					t.Errorf("%s: %+v", p, a)
				}
				if !a.Mtime.Equal(time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)) {
					t.Errorf("%s: mtime %v", p, a.Mtime)
				}
				ra, err := r.Open(ino)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				n, _ := ra.ReadAt(buf, 0)
				if string(buf[:n]) != want {
					t.Errorf("%s: content %q", p, buf[:n])
				}
			}
			a, err := r.Stat(r.Root())
			if err != nil || a.Mode != 0o555 || a.Type != fsadapters.TypeDir || a.Nlink != 4 {
				t.Errorf("root: %+v %v", a, err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"README.MD;1": "readme.md", "F.;1": "f", "A;2": "a.2", "DIR": "dir", "X/Y;1": "x.y",
	} {
		if got := isoName([]byte(in)); got != want {
			t.Errorf("isoName(%q) = %q, want %q", in, got, want)
		}
	}
	// UTF-16BE with a surrogate pair (U+1F600), version suffix, trailing dot.
	j := []byte{0x00, 'a', 0xD8, 0x3D, 0xDE, 0x00, 0x00, '.', 0x00, ';', 0x00, '1'}
	if got := jolietName(j); got != "a😀" {
		t.Errorf("jolietName = %q", got)
	}
	if got := jolietName([]byte{0x00, 'a', 0x00, '/', 0x00, 0x00}); got != "a__" {
		t.Errorf("jolietName with / and NUL = %q", got)
	}
}

// TestMultiExtentXorriso: a file over 4 GiB written by xorriso
// (-iso-level 3) is several directory records with the multi-extent flag.
// It needs about 4.6 GB of disk, so it runs only with FSBRIDGE_ISO_BIG=1
// (TestHandBuilt covers multi-extent files with a tiny image).
func TestMultiExtentXorriso(t *testing.T) {
	if os.Getenv("FSBRIDGE_ISO_BIG") == "" {
		t.Skip("set FSBRIDGE_ISO_BIG=1 to build a 4.5 GiB image")
	}
	imagetest.Need(t, "xorriso")
	tree := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(tree, 0o755)
	const size = 4608 << 20 // 4.5 GiB
	marks := []int64{0, 1<<32 - 4096, 1<<32 - 2048 - 7, 1 << 32, size - 5000}
	f, err := os.Create(filepath.Join(tree, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	mark := func(off int64) []byte { return []byte(fmt.Sprintf("<mark at %d>", off)) }
	for _, m := range marks {
		if _, err := f.WriteAt(mark(m), m); err != nil {
			t.Fatal(err)
		}
	}
	f.Truncate(size)
	f.Close()
	img := filepath.Join(t.TempDir(), "huge.iso")
	imagetest.Run(t, "", "xorriso", "-as", "mkisofs", "-quiet", "-R", "-iso-level", "3", "-o", img, tree)
	r := openFile(t, img)
	ino := lookupPath(t, r, "huge.bin")
	a, err := r.Stat(ino)
	if err != nil || a.Size != size {
		t.Fatalf("Stat: %+v, %v", a, err)
	}
	if n := len(r.nodes[ino].extents); n < 2 {
		t.Fatalf("%d extents, want several", n)
	}
	ra, err := r.Open(ino)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range marks {
		want := mark(m)
		buf := make([]byte, len(want)+10)
		n, err := ra.ReadAt(buf, m-5)
		if m == 0 {
			n, err = ra.ReadAt(buf[5:], 0)
			n += 5
		}
		if err != nil && err != io.EOF || n != len(buf) || !bytes.Equal(buf[5:5+len(want)], want) {
			t.Errorf("mark %d: %q, %v", m, buf[:n], err)
		}
	}
}
