package ext4

import (
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
	"golang.org/x/sys/unix"
)

// smallImage builds a 2 MiB image (1 KiB blocks, no journal) of a small
// tree: an htree directory, short and long symlinks, a device, a 300 KB
// file, and, for ext4, metadata_csum. mkfs is "mkfs.ext4" or "mkfs.ext2".
func smallImage(t testing.TB, mkfs string, opts ...string) []byte {
	t.Helper()
	imagetest.Need(t, mkfs, "e2fsck")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(tree, "many"), 0o755))
	must(os.MkdirAll(filepath.Join(tree, "sub/deeper"), 0o750))
	for i := 0; i < 80; i++ {
		must(os.WriteFile(filepath.Join(tree, "many", fmt.Sprintf("file-number-%03d.txt", i)), []byte(strings.Repeat("x", i)), 0o644))
	}
	big := make([]byte, 300000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	must(os.WriteFile(filepath.Join(tree, "sub/big.bin"), big, 0o600))
	must(os.Symlink("many/file-number-001.txt", filepath.Join(tree, "short-link")))
	must(os.Symlink(strings.Repeat("long/", 30)+"target", filepath.Join(tree, "sub/long-link")))
	must(os.Link(filepath.Join(tree, "sub/big.bin"), filepath.Join(tree, "hard")))
	img := filepath.Join(dir, "small.img")
	args := []string{"-q", "-F", "-b", "1024", "-N", "256", "-d", tree, img, "2M"}
	if mkfs == "mkfs.ext4" && len(opts) == 0 {
		opts = []string{"-O", "^has_journal,metadata_csum"}
	}
	args = append(opts, args...)
	imagetest.Run(t, dir, mkfs, args...)
	runAllowExit(t, "e2fsck", "-fyD", img)
	data, err := os.ReadFile(img)
	must(err)
	return data
}

func runAllowExit(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return
		}
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// walkAll opens data and visits everything reachable, with cycle
// detection, returning a textual description of the tree (without file
// contents) and the first error.
func walkAll(data []byte) (map[string]string, error) {
	r, err := Open(bytes.NewReader(data), int64(len(data)), image.Options{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	seen := map[image.Ino]bool{}
	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	var walk func(p string, ino image.Ino, depth int)
	walk = func(p string, ino image.Ino, depth int) {
		a, err := r.Stat(ino)
		if err != nil {
			note(err)
			return
		}
		desc := fmt.Sprintf("%v %o %d:%d n%d s%d %v", a.Type, a.Mode, a.UID, a.GID, a.Nlink, a.Size, a.Mtime.Unix())
		if seen[ino] || depth > 64 {
			out[p] = desc
			return
		}
		seen[ino] = true
		switch a.Type {
		case fsadapters.TypeDir:
			ents, err := r.ReadDir(ino)
			note(err)
			_, err = r.Parent(ino)
			note(err)
			for _, e := range ents {
				got, err := r.Lookup(ino, e.Name)
				note(err)
				if err == nil && got != e.Ino {
					note(fmt.Errorf("lookup mismatch"))
				}
				walk(p+"/"+e.Name, e.Ino, depth+1)
			}
		case fsadapters.TypeSymlink:
			l, err := r.Readlink(ino)
			note(err)
			desc += " -> " + l
		case fsadapters.TypeRegular:
			f, err := r.Open(ino)
			if err != nil {
				note(err)
				break
			}
			buf := make([]byte, 128<<10)
			for off := int64(0); off < 64<<20; off += int64(len(buf)) {
				n, err := f.ReadAt(buf, off)
				if err == io.EOF {
					break
				}
				if err != nil {
					note(err)
					break
				}
				if n == 0 {
					note(errors.New("zero read"))
					break
				}
			}
		}
		out[p] = desc
	}
	walk("", r.Root(), 0)
	return out, firstErr
}

// withTimeout runs f, failing the test if it takes more than 10 s.
func withTimeout(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: hang (more than 10 s)", what)
	}
}

// TestCorruptRandom flips random bytes and truncates images: never a
// panic or hang. On the metadata_csum image, a walk that reports no error
// must show exactly the clean tree (contents and slow symlink targets
// excepted: ext4 has no data checksums).
func TestCorruptRandom(t *testing.T) {
	for _, mkfs := range []string{"mkfs.ext4", "mkfs.ext2"} {
		t.Run(mkfs, func(t *testing.T) {
			clean := smallImage(t, mkfs)
			want, err := walkAll(clean)
			if err != nil {
				t.Fatalf("clean image: %v", err)
			}
			if len(want) < 85 {
				t.Fatalf("clean walk found %d entries", len(want))
			}
			rng := rand.New(rand.NewPCG(11, 12))
			silent, detected := 0, 0
			for trial := 0; trial < 200; trial++ {
				img := bytes.Clone(clean)
				n := 1 + rng.IntN(8)
				// Half the trials hit the first 256 KiB, where the
				// superblock, descriptors, bitmaps, inode table and the
				// directories of this image live.
				span := len(img)
				if trial%2 == 0 {
					span = 256 << 10
				}
				for i := 0; i < n; i++ {
					img[rng.IntN(span)] ^= byte(1 + rng.IntN(255))
				}
				var got map[string]string
				withTimeout(t, fmt.Sprintf("trial %d", trial), func() { got, err = walkAll(img) })
				if err != nil {
					detected++
					continue
				}
				if mkfs == "mkfs.ext4" {
					for p, w := range want {
						if g := got[p]; g != w && !strings.Contains(w, "->") {
							silent++
							t.Errorf("trial %d: %s = %q, want %q, no error", trial, p, g, w)
						}
					}
				}
			}
			t.Logf("%s: %d of 200 trials reported damage, %d silent metadata changes", mkfs, detected, silent)
			for _, size := range []int{len(clean) / 2, len(clean) * 9 / 10, len(clean) - 4096, 1000, 2047} {
				withTimeout(t, fmt.Sprintf("truncated to %d", size), func() { _, err = walkAll(clean[:size]) })
				if err == nil {
					t.Errorf("truncated to %d: no error", size)
				}
			}
		})
	}
}

// TestCorruptMetadata flips bytes in specific checksummed structures of a
// metadata_csum image and expects a CorruptError (EIO) naming a byte
// offset inside the damaged block.
func TestCorruptMetadata(t *testing.T) {
	setup(t)
	r0, clean := openImage(t, shared.images["ext4-1k"])
	size := int64(r0.size)
	bs := r0.bs
	inoOf := func(p string) image.Ino {
		ino, err := lookupPath(r0, p)
		if err != nil {
			t.Fatal(err)
		}
		return ino
	}
	// physBlock is the byte offset of logical block lblk of p.
	physBlock := func(p string, lblk uint64) int64 {
		in, _ := r0.inode(uint32(inoOf(p)))
		m, err := r0.blockMap(in)
		if err != nil {
			t.Fatal(p, err)
		}
		for _, r := range m.runs {
			if r.lblk <= lblk && lblk < r.lblk+r.n {
				return int64(r.pblk+lblk-r.lblk) * bs
			}
		}
		t.Fatalf("%s: block %d not mapped", p, lblk)
		return 0
	}
	firstBlock := func(p string) int64 { return physBlock(p, 0) }
	bigIno := inoOf(imagetest.BigFile)
	bigIn, _ := r0.inode(uint32(bigIno))
	leafBlock := int64(uint64(bigIn.block[12+4])|uint64(bigIn.block[12+5])<<8|uint64(bigIn.block[12+6])<<16|uint64(bigIn.block[12+7])<<24) * bs
	readme := inoOf("docs/sub/readme.md")
	cases := []struct {
		name string
		off  int64 // byte flipped
		blk  int64 // start of the damaged structure (bs bytes), -1: open fails
		use  func(r *Reader) error
	}{
		{"superblock", 1024 + 0x60, -1, nil},
		{"group descriptor", 2*bs + 40, -1, nil},
		{"inode", r0.inodeOffset(uint32(readme)) + 4, r0.inodeOffset(uint32(readme)) &^ (bs - 1), func(r *Reader) error {
			_, err := r.Stat(readme)
			return err
		}},
		{"inode extra fields", r0.inodeOffset(uint32(readme)) + 0x90, r0.inodeOffset(uint32(readme)) &^ (bs - 1), func(r *Reader) error {
			_, err := r.Stat(readme)
			return err
		}},
		{"directory leaf block (htree)", physBlock(imagetest.ManyDir, 1) + 20, physBlock(imagetest.ManyDir, 1), func(r *Reader) error {
			_, err := r.ReadDir(inoOf(imagetest.ManyDir))
			return err
		}},
		{"directory index block", firstBlock(imagetest.ManyDir) + 40, firstBlock(imagetest.ManyDir), func(r *Reader) error {
			_, err := r.Lookup(inoOf(imagetest.ManyDir), "f001.txt")
			return err
		}},
		{"directory block", firstBlock("docs") + 30, firstBlock("docs"), func(r *Reader) error {
			_, err := r.ReadDir(inoOf("docs"))
			return err
		}},
		{"extent leaf block", leafBlock + 20, leafBlock, func(r *Reader) error {
			_, err := r.Open(bigIno)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := &flipped{clean, map[int64]byte{c.off: 0x10}}
			r, err := Open(img, size, image.Options{})
			if c.blk < 0 {
				if !image.IsCorrupt(err) {
					t.Fatalf("Open = %v, want a CorruptError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = c.use(r)
			var ce *image.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a CorruptError", err)
			}
			if ce.Off < c.blk || ce.Off >= c.blk+bs {
				t.Errorf("error at offset %d, damage in block at %d: %v", ce.Off, c.blk, err)
			}
		})
	}
	// The same inode flip on the 4 KiB image, and a directory block flip.
	r4, clean4 := openImage(t, shared.images["ext4"])
	docs, _ := lookupPath(r4, "docs")
	din, _ := r4.inode(uint32(docs))
	m, _ := r4.blockMap(din)
	readme4, _ := lookupPath(r4, "docs/sub/readme.md")
	img := &flipped{clean4, map[int64]byte{int64(m.runs[0].pblk)*r4.bs + 100: 1, r4.inodeOffset(uint32(readme4)) + 0x20: 1}}
	r, err := Open(img, r4.size, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadDir(docs); !image.IsCorrupt(err) {
		t.Errorf("ext4: ReadDir of a damaged directory = %v", err)
	}
	if _, err := r.Stat(readme4); !image.IsCorrupt(err) {
		t.Errorf("ext4: Stat of a damaged inode = %v", err)
	}
}

// TestUninitExtent marks a file's extent uninitialised (on an image
// without metadata_csum, so the inode stays valid): it must read as zeros.
func TestUninitExtent(t *testing.T) {
	img := smallImage(t, "mkfs.ext4", "-O", "^has_journal,^metadata_csum")
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ino, err := lookupPath(r, "many/file-number-050.txt")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := r.inode(uint32(ino))
	if in.flags&flagExtents == 0 || in.block[2] != 1 {
		t.Fatalf("expected one extent in the inode: %x", in.block[:24])
	}
	off := in.off + 0x28 + 12 + 4 // ee_len of the first extent
	img[off+1] |= 0x80            // + 32768: uninitialised
	r, err = Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Open(ino)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := f.ReadAt(buf, 0)
	if n != 50 || err != io.EOF || !bytes.Equal(buf[:n], make([]byte, 50)) {
		t.Fatalf("ReadAt = %d, %v, %q; want 50 zeros", n, err, buf[:n])
	}
}

// TestGdtCsum: the older uninit_bg (gdt_csum) crc16 of group descriptors
// is verified too.
func TestGdtCsum(t *testing.T) {
	img := smallImage(t, "mkfs.ext4", "-O", "^has_journal,^metadata_csum,uninit_bg")
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.sb.featureRoCompat&roCompatGdtCsum == 0 {
		t.Fatal("no gdt_csum feature")
	}
	if _, err := walkAll(img); err != nil {
		t.Fatal(err)
	}
	img[2048+0x0C] ^= 1 // group 0's free block count
	if _, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{}); !image.IsCorrupt(err) {
		t.Fatalf("Open with a damaged descriptor = %v", err)
	}
}

func TestDevNumbers(t *testing.T) {
	b := make([]byte, 60)
	b[0], b[1] = 3, 1 // old encoding: 0x0103
	if ma, mi := devNumbers(b); ma != 1 || mi != 3 {
		t.Errorf("old encoding: %d,%d", ma, mi)
	}
	b[0], b[1] = 0, 0
	// new encoding of 259:300000: minor low 8 bits, major 12 bits, minor high bits.
	n := uint32(300000&0xff) | 259<<8 | uint32(300000&^0xff)<<12
	b[4], b[5], b[6], b[7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	if ma, mi := devNumbers(b); ma != 259 || mi != 300000 {
		t.Errorf("new encoding: %d,%d", ma, mi)
	}
}

// TestNeedsRecovery: an image whose journal needs replaying opens, with a
// warning in the log.
func TestNeedsRecovery(t *testing.T) {
	img := smallImage(t, "mkfs.ext2", "-L", "fsbridge-lbl")
	img[1024+0x60] |= incompatRecover
	var log bytes.Buffer
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "not replayed") {
		t.Errorf("no warning logged: %q", log.String())
	}
	if _, err := r.ReadDir(r.Root()); err != nil {
		t.Error(err)
	}
	if info := r.Info(); info.Label != "fsbridge-lbl" || info.Format != "ext4" || info.HasMetaChecksums {
		t.Errorf("Info = %+v", info)
	}
}

// TestFeatureRefusal: an unknown INCOMPAT feature is refused by name.
func TestFeatureRefusal(t *testing.T) {
	img := smallImage(t, "mkfs.ext2")
	img[1024+0x62] |= 0x01 // encrypt (0x10000)
	_, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err == nil || !strings.Contains(err.Error(), "encrypt") {
		t.Fatalf("Open with encrypt = %v", err)
	}
	if !Probe(bytes.NewReader(img), int64(len(img))) {
		t.Error("Probe = false on an ext2 image")
	}
	if Probe(bytes.NewReader(img[:1500]), 1500) || Probe(bytes.NewReader(make([]byte, 4096)), 4096) {
		t.Error("Probe = true on garbage")
	}
}

var fuzzSeeds struct {
	once       sync.Once
	ext4, ext2 []byte
}

func fuzzImages(f *testing.F) {
	fuzzSeeds.once.Do(func() {
		fuzzSeeds.ext4 = smallImage(f, "mkfs.ext4")
		fuzzSeeds.ext2 = smallImage(f, "mkfs.ext2")
	})
}

// FuzzOpenCorrupt damages a small metadata_csum image: the input is a list
// of 4-byte edits (3-byte offset, 1-byte XOR mask); a byte count that is
// not a multiple of 4 also truncates the image. Whole 2 MiB images are too
// large for the fuzzer to mutate usefully, so it mutates the damage.
func FuzzOpenCorrupt(f *testing.F) {
	fuzzImages(f)
	fuzzDamage(f, func() []byte { return fuzzSeeds.ext4 })
}

// FuzzOpenCorruptExt2 does the same to an ext2 image, which has no
// checksums: damage reaches every parser.
func FuzzOpenCorruptExt2(f *testing.F) {
	fuzzImages(f)
	fuzzDamage(f, func() []byte { return fuzzSeeds.ext2 })
}

func fuzzDamage(f *testing.F, clean func() []byte) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x04, 0x00, 0x01})                         // superblock
	f.Add([]byte{0x00, 0x08, 0x10, 0x80})                         // group descriptors
	f.Add([]byte{0x00, 0x40, 0x00, 0xff, 0x20, 0x50, 0x01, 0x04}) // inode table area
	f.Add([]byte{0x10, 0x00, 0x00})                               // truncation
	f.Fuzz(func(t *testing.T, edits []byte) {
		if len(edits) > 4*64+3 {
			return
		}
		img := bytes.Clone(clean())
		for i := 0; i+4 <= len(edits); i += 4 {
			off := (int(edits[i])<<16 | int(edits[i+1])<<8 | int(edits[i+2])) % len(img)
			img[off] ^= edits[i+3]
		}
		if len(edits)%4 != 0 {
			img = img[:(int(edits[len(edits)-1])<<12)%len(img)]
		}
		walkAll(img)
	})
}

// TestBigDirectory: listing and looking up every name of a 10 000-entry
// htree directory is not quadratic (the parsed directory is cached).
func TestBigDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("mke2fs takes ~10 s to copy 10 000 files")
	}
	imagetest.Need(t, "mkfs.ext4")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree", "big")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(tree, fmt.Sprintf("entry-%05d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "img")
	imagetest.Run(t, dir, "mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "12000", "-d", filepath.Join(dir, "tree"), img, "24M")
	r, _ := openImage(t, img)
	start := time.Now()
	big, err := r.Lookup(r.Root(), "big")
	if err != nil {
		t.Fatal(err)
	}
	ents, err := r.ReadDir(big)
	if err != nil || len(ents) != n {
		t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		if got, err := r.Lookup(big, e.Name); err != nil || got != e.Ino {
			t.Fatalf("Lookup(%s) = %d, %v", e.Name, got, err)
		}
		if _, err := r.Stat(e.Ino); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Lookup(big, "entry-99999"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lookup of a missing name = %v", err)
	}
	// Uncached, each Lookup would re-parse all 10 000 entries (10^8 in
	// all): minutes. Cached, it takes milliseconds; the bound leaves room
	// for a loaded CI machine.
	d := time.Since(start)
	t.Logf("ReadDir + %d Lookup + Stat: %v", n, d)
	if d > 10*time.Second {
		t.Errorf("listing, looking up and stating %d entries took %v", n, d)
	}
}
