package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/image"
)

// A tiny ISO writer for features the tools do not produce on demand
// (multi-extent files, long-form TF, SL/NM spanning CE areas, PN).

func both32(v uint32) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
	return b
}

func both16(v uint16) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
	return b
}

var handDate = []byte{121, 6, 15, 12, 30, 45, 0} // 2021-06-15 12:30:45 GMT

func dirRec(ident string, flags byte, extent, size uint32, su []byte) []byte {
	id := []byte(ident)
	switch ident {
	case ".":
		id = []byte{0}
	case "..":
		id = []byte{1}
	}
	b := []byte{0, 0}
	b = append(b, both32(extent)...)
	b = append(b, both32(size)...)
	b = append(b, handDate...)
	b = append(b, flags, 0, 0)
	b = append(b, both16(1)...)
	b = append(b, byte(len(id)))
	b = append(b, id...)
	if len(id)%2 == 0 {
		b = append(b, 0)
	}
	b = append(b, su...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	b[0] = byte(len(b))
	return b
}

func suEntry(sig string, data ...[]byte) []byte {
	b := []byte{sig[0], sig[1], 0, 1}
	for _, d := range data {
		b = append(b, d...)
	}
	b[2] = byte(len(b))
	return b
}

func px(mode, nlink, uid, gid, serial uint32, long bool) []byte {
	d := [][]byte{both32(mode), both32(nlink), both32(uid), both32(gid)}
	if long {
		d = append(d, both32(serial))
	}
	return suEntry("PX", d...)
}

func nm(flags byte, name string) []byte { return suEntry("NM", []byte{flags}, []byte(name)) }

func ce(loc, off, n uint32) []byte {
	return suEntry("CE", both32(loc), both32(off), both32(n))
}

// slComp is one SL component record.
func slComp(flags byte, s string) []byte { return append([]byte{flags, byte(len(s))}, s...) }

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// handImage builds the test image and returns it with the expected content
// of the multi-extent file.
func handImage() ([]byte, []byte) {
	const (
		rootLBA = 18
		ceLBA   = 19
		big1LBA = 20 // 2 blocks
		big2LBA = 30
		hardLBA = 32
		end     = 34
	)
	img := make([]byte, end*sectorSize)
	sec := func(n int) []byte { return img[n*sectorSize : (n+1)*sectorSize] }
	big := make([]byte, 4096+1000)
	for i := range big {
		big[i] = byte(i*7 + i/251)
	}
	copy(sec(big1LBA), big[:2048])
	copy(sec(big1LBA+1), big[2048:4096])
	copy(sec(big2LBA), big[4096:])
	copy(sec(hardLBA), "hard\n")

	tfLong := suEntry("TF", []byte{tfModify | tfLongForm}, []byte("2021061512304537"), []byte{4})
	longA, longB := strings.Repeat("a", 100), strings.Repeat("b", 100)
	// CE area: the rest of the long name, then the rest of the symlink.
	nmRest := nm(0, longB)
	slRest := suEntry("SL", []byte{0}, slComp(0, "are"), slComp(0, "lib"))
	copy(sec(ceLBA), nmRest)
	copy(sec(ceLBA)[200:], slRest)

	root := cat(
		dirRec(".", flagDir, rootLBA, sectorSize, cat(
			[]byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0},
			suEntry("ER", []byte{10, 0, 0, 1}, []byte("RRIP_1991A")),
			px(0o40755, 2, 0, 0, 1, true), tfLong)),
		dirRec("..", flagDir, rootLBA, sectorSize, nil),
		dirRec("BIG.;1", flagMultiEx, big1LBA, 4096, cat(px(0o100640, 1, 10, 20, 2, true), nm(0, "big-file.bin"), tfLong)),
		dirRec("BIG.;1", 0, big2LBA, 1000, nil),
		dirRec("DEV.;1", 0, 0, 0, cat(px(0o20600, 1, 0, 0, 5, true), nm(0, "dev"), suEntry("PN", both32(8), both32(1)))),
		dirRec("HARD1.;1", 0, hardLBA, 5, cat(px(0o100644, 2, 0, 0, 3, true), nm(0, "hard1"))),
		dirRec("HARD2.;1", 0, hardLBA, 5, cat(px(0o100644, 2, 0, 0, 3, true), nm(0, "hard2"))),
		dirRec("LONG.;1", 0, 0, 0, cat(px(0o100644, 1, 0, 0, 4, true), nm(1, longA), ce(ceLBA, 0, uint32(len(nmRest))))),
		dirRec("OLDDEV.;1", 0, 0, 0, cat(px(0o60600, 1, 0, 0, 6, true), nm(0, "olddev"), suEntry("PN", both32(0), both32(0x0103)))),
		dirRec("SYM.;1", 0, 0, 0, cat(px(0o120777, 1, 0, 0, 7, true), nm(0, "sym"),
			suEntry("SL", []byte{1}, slComp(8, ""), slComp(0, "usr"), slComp(1, "sh")),
			ce(ceLBA, 200, uint32(len(slRest))))),
	)
	copy(sec(rootLBA), root)

	pvd := sec(16)
	copy(pvd, "\x01CD001\x01")
	copy(pvd[40:], "HAND                            ")
	copy(pvd[80:], both32(end))
	copy(pvd[128:], both16(sectorSize))
	copy(pvd[156:], dirRec(".", flagDir, rootLBA, sectorSize, nil))
	copy(sec(17), "\xffCD001\x01")
	return img, big
}

func TestHandBuilt(t *testing.T) {
	img, big := handImage()
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.rr || r.Info().TimeDelta != 10*time.Millisecond || r.Info().Label != "HAND" || r.Info().NoHardLinks {
		t.Fatalf("rr=%v info=%+v", r.rr, r.Info())
	}
	ents, err := r.ReadDir(r.Root())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ino := map[string]image.Ino{}
	for _, e := range ents {
		names = append(names, e.Name)
		ino[e.Name] = e.Ino
	}
	long := strings.Repeat("a", 100) + strings.Repeat("b", 100)
	want := []string{"big-file.bin", "dev", "hard1", "hard2", long, "olddev", "sym"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("names %q", names)
	}
	// Multi-extent file: size, content, reads across the extent boundary.
	a, err := r.Stat(ino["big-file.bin"])
	if err != nil {
		t.Fatal(err)
	}
	wantM := time.Date(2021, 6, 15, 11, 30, 45, 370_000_000, time.UTC) // +01:00 local
	if a.Size != uint64(len(big)) || a.Mode != 0o640 || a.UID != 10 || a.GID != 20 || !a.Mtime.Equal(wantM) {
		t.Fatalf("big: %+v", a)
	}
	ra, err := r.Open(ino["big-file.bin"])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]int{{0, len(big)}, {4000, 200}, {2047, 2}, {4095, 1005}, {5000, 500}} {
		buf := make([]byte, c[1])
		n, err := ra.ReadAt(buf, int64(c[0]))
		wantN := min(c[1], len(big)-c[0])
		if n != wantN || (err != nil && err != io.EOF) || !bytes.Equal(buf[:n], big[c[0]:c[0]+n]) {
			t.Errorf("ReadAt(%d,%d) = %d, %v", c[0], c[1], n, err)
		}
	}
	// Hard links: one Ino from the PX serial, nlink from PX.
	if ino["hard1"] != ino["hard2"] || ino["hard1"] != serialTag|3 {
		t.Errorf("hard links: %#x %#x", ino["hard1"], ino["hard2"])
	}
	if a, _ := r.Stat(ino["hard1"]); a.Nlink != 2 || a.Size != 5 {
		t.Errorf("hard1: %+v", a)
	}
	if l, err := r.Readlink(ino["sym"]); err != nil || l != "/usr/share/lib" {
		t.Errorf("Readlink = %q, %v", l, err)
	}
	if a, _ := r.Stat(ino["sym"]); a.Type != fsadapters.TypeSymlink || a.Size != uint64(len("/usr/share/lib")) {
		t.Errorf("sym: %+v", a)
	}
	for name, w := range map[string][3]uint32{"dev": {uint32(fsadapters.TypeChar), 8, 1}, "olddev": {uint32(fsadapters.TypeBlock), 1, 3}} {
		a, _ := r.Stat(ino[name])
		if uint32(a.Type) != w[0] || a.RdevMajor != w[1] || a.RdevMinor != w[2] || a.Mode != 0o600 {
			t.Errorf("%s: %+v", name, a)
		}
	}
	if a, _ := r.Stat(r.Root()); a.Mode != 0o755 || a.Nlink != 2 || !a.Mtime.Equal(wantM) {
		t.Errorf("root: %+v", a)
	}

	// Truncated in the second extent of the multi-extent file: the read
	// fails with a CorruptError instead of returning zeros.
	cut := img[:30*sectorSize+100]
	r2, err := Open(bytes.NewReader(cut), int64(len(cut)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ra2, err := r2.Open(ino["big-file.bin"])
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if n, err := ra2.ReadAt(buf, 3500); !image.IsCorrupt(err) || n != 596 {
		t.Errorf("truncated read: %d, %v", n, err)
	}
	if n, err := ra2.ReadAt(buf, 0); err != nil || n != 1000 {
		t.Errorf("read before the damage: %d, %v", n, err)
	}

	// A CE pointing at itself (a loop) ends with an error, not a hang.
	// The root directory is then unreadable, so Open fails.
	loop := append([]byte(nil), img...)
	clear(loop[19*sectorSize : 20*sectorSize])
	copy(loop[19*sectorSize:], ce(19, 0, 28))
	var cerr *image.CorruptError
	if _, err := Open(bytes.NewReader(loop), int64(len(loop)), image.Options{}); !errors.As(err, &cerr) || !strings.Contains(cerr.What, "continuation") {
		t.Errorf("CE loop: %v", err)
	}
}

// packDir lays records out in sectors: a record never crosses a sector
// boundary, the rest of a sector is zero (ECMA-119 §6.8.1.1).
func packDir(recs [][]byte) []byte {
	var out []byte
	used := 0
	for _, r := range recs {
		if used+len(r) > sectorSize {
			out = append(out, make([]byte, sectorSize-used)...)
			used = 0
		}
		out = append(out, r...)
		used += len(r)
	}
	return append(out, make([]byte, sectorSize-used)...)
}

// TestLargeDir: 10 000 Rock Ridge entries in one directory (several
// hundred sectors): open, list and look up every name, in linear time.
func TestLargeDir(t *testing.T) {
	const rootLBA, n = 18, 10000
	recs := [][]byte{
		dirRec(".", flagDir, rootLBA, 0, cat([]byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0}, px(0o40755, 2, 0, 0, 0, false))),
		dirRec("..", flagDir, rootLBA, 0, nil),
	}
	for i := 0; i < n; i++ {
		recs = append(recs, dirRec(fmt.Sprintf("E%05d.;1", i), 0, 0, 0, cat(px(0o100644, 1, 0, 0, 0, false), nm(0, fmt.Sprintf("entry-%05d", i)))))
	}
	dir := packDir(recs)
	// The "." and ".." records carry the directory's length.
	copy(dir[10:], both32(uint32(len(dir))))
	copy(dir[int(dir[0])+10:], both32(uint32(len(dir))))
	img := make([]byte, rootLBA*sectorSize)
	pvd := img[16*sectorSize:]
	copy(pvd, "\x01CD001\x01")
	copy(pvd[80:], both32(uint32(rootLBA+len(dir)/sectorSize)))
	copy(pvd[128:], both16(sectorSize))
	copy(pvd[156:], dirRec(".", flagDir, rootLBA, uint32(len(dir)), nil))
	copy(img[17*sectorSize:], "\xffCD001\x01")
	img = append(img, dir...)

	start := time.Now()
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := r.ReadDir(r.Root())
	if err != nil || len(ents) != n {
		t.Fatalf("ReadDir: %d entries, %v", len(ents), err)
	}
	seen := map[image.Ino]bool{}
	for i, e := range ents {
		ino, err := r.Lookup(r.Root(), e.Name)
		if e.Name != fmt.Sprintf("entry-%05d", i) || err != nil || ino != e.Ino || seen[ino] {
			t.Fatalf("entry %d %q: Lookup = %d, %v (ReadDir %d, duplicate %v)", i, e.Name, ino, err, e.Ino, seen[ino])
		}
		seen[ino] = true
	}
	el := time.Since(start)
	t.Logf("%d sectors: open + list + %d lookups in %v", len(dir)/sectorSize, n, el)
	if el > 5*time.Second {
		t.Errorf("too slow: %v", el)
	}
}

// TestDirCycle: a subdirectory record pointing back at its own directory
// makes that directory unreadable (CorruptError); the rest is served.
func TestDirCycle(t *testing.T) {
	const rootLBA, subLBA = 18, 19
	img := make([]byte, 20*sectorSize)
	pvd := img[16*sectorSize:]
	copy(pvd, "\x01CD001\x01")
	copy(pvd[80:], both32(20))
	copy(pvd[128:], both16(sectorSize))
	copy(pvd[156:], dirRec(".", flagDir, rootLBA, sectorSize, nil))
	copy(img[17*sectorSize:], "\xffCD001\x01")
	copy(img[rootLBA*sectorSize:], cat(
		dirRec(".", flagDir, rootLBA, sectorSize, nil),
		dirRec("..", flagDir, rootLBA, sectorSize, nil),
		dirRec("SUB", flagDir, subLBA, sectorSize, nil),
		dirRec("OK.TXT;1", 0, 0, 0, nil)))
	copy(img[subLBA*sectorSize:], cat(
		dirRec(".", flagDir, subLBA, sectorSize, nil),
		dirRec("..", flagDir, rootLBA, sectorSize, nil),
		dirRec("LOOP", flagDir, subLBA, sectorSize, nil)))
	r, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := r.Lookup(r.Root(), "sub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadDir(sub); !image.IsCorrupt(err) {
		t.Errorf("ReadDir(sub) = %v, want a CorruptError", err)
	}
	if _, err := r.Lookup(r.Root(), "ok.txt"); err != nil {
		t.Errorf("Lookup(ok.txt): %v", err)
	}
	// A subdirectory pointing at the root makes the root unreadable.
	copy(img[rootLBA*sectorSize+34*2:], dirRec("SUB", flagDir, rootLBA, sectorSize, nil))
	if _, err := Open(bytes.NewReader(img), int64(len(img)), image.Options{}); !image.IsCorrupt(err) {
		t.Errorf("root cycle: Open = %v, want a CorruptError", err)
	}
}
