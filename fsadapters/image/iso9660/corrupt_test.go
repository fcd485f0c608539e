package iso9660

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

// walkAll visits everything reachable in r (every directory, attribute,
// symlink and file byte) and returns a summary and the first error. File
// reads stop after 256 MiB in all: damaged records may legitimately make
// many files share extents (writers deduplicate content too), so the
// content of a small image can add up to far more than its size.
func walkAll(r *Reader) (string, error) {
	budget := int64(256 << 20)
	var sb strings.Builder
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	buf := make([]byte, 64<<10)
	var walk func(p string, ino image.Ino, depth int)
	walk = func(p string, ino image.Ino, depth int) {
		a, err := r.Stat(ino)
		note(err)
		fmt.Fprintf(&sb, "%s %v %o %d %d:%d %d %v\n", p, a.Type, a.Mode, a.Nlink, a.UID, a.GID, a.Size, a.Mtime.Unix())
		switch a.Type {
		case fsadapters.TypeDir:
			if depth > 64 {
				note(fmt.Errorf("%s: too deep", p))
				return
			}
			ents, err := r.ReadDir(ino)
			note(err)
			for _, e := range ents {
				walk(p+"/"+e.Name, e.Ino, depth+1)
			}
		case fsadapters.TypeSymlink:
			l, err := r.Readlink(ino)
			note(err)
			sb.WriteString(l + "\n")
		case fsadapters.TypeRegular:
			ra, err := r.Open(ino)
			note(err)
			if err != nil {
				return
			}
			for off := int64(0); budget > 0; off += int64(len(buf)) {
				n, err := ra.ReadAt(buf, off)
				budget -= int64(len(buf))
				sb.Write(buf[:min(n, 16)])
				if err == io.EOF {
					break
				}
				if err != nil {
					note(err)
					break
				}
			}
		}
	}
	walk("", r.Root(), 0)
	return sb.String(), first
}

// smallImage builds a small Rock Ridge + Joliet image with xorriso: two
// directory sectors, a hard link, symlinks, a long name and a CE area.
func smallImage(t testing.TB) []byte {
	imagetest.Need(t, "xorriso")
	files := map[string]string{"empty/": "", "a/b/c/deep.txt": "deep\n"}
	for i := 0; i < 60; i++ {
		files[fmt.Sprintf("many/file-with-a-longer-name-%03d.txt", i)] = strings.Repeat("x", i*37)
	}
	files["long/"+strings.Repeat("L", 220)] = "long name\n"
	tree := mkTree(t.(*testing.T), files)
	os.Symlink("../a/b/c/deep.txt", filepath.Join(tree, "many/link"))
	os.Symlink(strings.Repeat("component/", 40)+"end", filepath.Join(tree, "long/longlink"))
	os.Link(filepath.Join(tree, "a/b/c/deep.txt"), filepath.Join(tree, "a/hard.txt"))
	img := filepath.Join(t.TempDir(), "small.iso")
	imagetest.Run(t, "", "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "--hardlinks", "-o", img, tree)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openWalk opens and walks data with a time limit, turning a panic or a
// hang into a test failure.
func openWalk(t *testing.T, what string, data []byte) (string, error) {
	type result struct {
		sum string
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("PANIC: %v", p)}
			}
		}()
		r, err := Open(bytes.NewReader(data), int64(len(data)), image.Options{})
		if err != nil {
			done <- result{err: err}
			return
		}
		s, err := walkAll(r)
		done <- result{s, err}
	}()
	select {
	case res := <-done:
		if res.err != nil && strings.HasPrefix(res.err.Error(), "PANIC") {
			t.Fatalf("%s: %v", what, res.err)
		}
		return res.sum, res.err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: hang", what)
	}
	return "", nil
}

func TestCorruption(t *testing.T) {
	img := smallImage(t)
	good, err := openWalk(t, "intact", img)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Metadata: the descriptors up to the end of the last directory extent.
	var metaEnd int64
	for _, n := range r.nodes {
		if n.typ == fsadapters.TypeDir {
			metaEnd = max(metaEnd, n.dirOff+n.dirLen)
		}
	}
	rng := rand.New(rand.NewPCG(42, 43))
	var stats [3]int // identical, error, silently different
	for trial := 0; trial < 200; trial++ {
		bad := append([]byte(nil), img...)
		for k := 1 + rng.IntN(8); k > 0; k-- {
			off := vdStart + rng.Int64N(metaEnd-vdStart)
			switch rng.IntN(4) {
			case 0:
				bad[off] ^= 1 << rng.IntN(8)
			case 1:
				bad[off] = 0
			case 2:
				bad[off] = 0xff
			default:
				bad[off] = byte(rng.Uint32())
			}
		}
		sum, err := openWalk(t, fmt.Sprintf("trial %d", trial), bad)
		switch {
		case err != nil:
			stats[1]++
		case sum == good:
			stats[0]++
		default:
			stats[2]++
		}
	}
	t.Logf("200 metadata mutations: %d unchanged, %d errors, %d silently different (ISO 9660 has no checksums)", stats[0], stats[1], stats[2])
	// Truncations: half, 90 %, minus 4 KiB (these may only cut xorriso's
	// padding), and in the middle of the last file's data, where a read
	// must fail with a CorruptError rather than return zeros.
	var dataEnd int64
	for _, n := range r.nodes {
		for _, e := range n.extents {
			dataEnd = max(dataEnd, e.off+e.size)
		}
	}
	size := int64(len(img))
	for _, cut := range []int64{size / 2, size * 9 / 10, size - 4096, dataEnd - 10} {
		_, err := openWalk(t, fmt.Sprintf("truncated to %d", cut), img[:cut])
		if cut == dataEnd-10 && !image.IsCorrupt(err) {
			t.Errorf("truncated inside file data: %v, want a CorruptError", err)
		}
	}
}

// FuzzOpenCorrupt opens and walks mutated images. The input is the image
// from sector 16 on (the System Area before it is never read), so the
// fuzzer does not spend its time on 32 KiB of zeros.
func FuzzOpenCorrupt(f *testing.F) {
	hand, _ := handImage()
	f.Add(hand[vdStart:])
	f.Add(hand[vdStart : vdStart+3*sectorSize])
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4<<20 {
			return
		}
		data := append(make([]byte, vdStart, vdStart+len(in)), in...)
		Probe(bytes.NewReader(data), int64(len(data)))
		r, err := Open(bytes.NewReader(data), int64(len(data)), image.Options{})
		if err != nil {
			if !image.IsCorrupt(err) {
				t.Fatalf("Open: non-corrupt error %v", err)
			}
			return
		}
		walkAll(r)
	})
}
