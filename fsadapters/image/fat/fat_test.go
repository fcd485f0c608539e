package fat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/image"
	"github.com/fsbridge/fsbridge/fsadapters/image/imagetest"
)

// The reference tree is built once per test binary (it takes about 1 s).
var (
	treeOnce sync.Once
	treeDir  string
	treeErr  error
)

func tree(t *testing.T) string {
	t.Helper()
	imagetest.Need(t, "cp", "mkfs.vfat", "mcopy")
	treeOnce.Do(func() {
		d, err := os.MkdirTemp("", "fattree")
		if err != nil {
			treeErr = err
			return
		}
		// MakeTree puts the tree in t.TempDir, which dies with the first
		// test; the shim puts it under d, which TestMain removes.
		sh := &tbShim{TB: t, dir: d}
		treeDir = imagetest.MakeTree(sh)
	})
	if treeErr != nil {
		t.Fatal(treeErr)
	}
	return treeDir
}

// tbShim gives MakeTree a TempDir that is not removed when the first test
// ends, so later tests reuse the tree. TestMain removes it.
type tbShim struct {
	testing.TB
	dir string
	n   int
}

func (s *tbShim) TempDir() string {
	s.n++
	p := filepath.Join(s.dir, fmt.Sprint(s.n))
	if err := os.MkdirAll(p, 0o755); err != nil {
		s.Fatal(err)
	}
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	if treeDir != "" {
		os.RemoveAll(filepath.Dir(filepath.Dir(treeDir)))
	}
	os.Exit(code)
}

// images caches one built image per variant for the test binary.
var (
	imgMu    sync.Mutex
	imgCache = map[string][]byte{}
)

func variantImage(t *testing.T, variant string) []byte {
	t.Helper()
	tr := tree(t)
	imgMu.Lock()
	defer imgMu.Unlock()
	if b, ok := imgCache[variant]; ok {
		return b
	}
	p := imagetest.BuildImage(t, tr, variant)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	imgCache[variant] = b
	return b
}

func openBytes(t testing.TB, b []byte) *Reader {
	t.Helper()
	r, err := Open(bytes.NewReader(b), int64(len(b)), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fatQuirks are the differences FAT cannot avoid, each a limit of the
// format or of mtools:
//   - NoOwners, NoPerms: FAT stores no uid/gid or mode bits; the reader
//     synthesizes 0:0 and 0755/0644/0444.
//   - NoHardLinks: FAT has no hard links; mcopy stores each name as its own
//     file (different Ino, nlink 1).
//   - MtimeGranule 2 s: DIR_WrtTime has 2-second resolution.
//   - Missing: symlinks, the device node and the FIFO cannot be stored, so
//     imagetest.PlainCopy drops them before mcopy runs.
//   - Missing/Extra UnicodeName: mtools 4.0.32 writes U+1F600 (😀) as the
//     single UCS-2 unit 0xF600 (the code point cut to 16 bits) instead of
//     the surrogate pair D83D DE00, so the image really holds "…日本語 \uf600.txt".
//     TestSurrogatePairs checks that a correct pair reads back as 😀.
//
// The root directory has no directory entry and so no timestamps (Linux
// shows 1970-01-01 too); referenceDiffs drops that one mtime difference.
var fatQuirks = imagetest.Quirks{
	NoOwners:     true,
	NoPerms:      true,
	NoHardLinks:  true,
	MtimeGranule: 2 * time.Second,
	Missing: []string{
		"docs/rel-link", "docs/abs-link", "docs/dir-link", "docs/dangling-link",
		imagetest.DeviceNode, imagetest.FIFO,
		imagetest.UnicodeName,
	},
	Extra: []string{strings.ReplaceAll(imagetest.UnicodeName, "😀", "\uf600")},
}

func referenceDiffs(ref, got map[string]*imagetest.Entry) []string {
	var out []string
	for _, d := range imagetest.Compare(ref, got, fatQuirks) {
		if strings.HasPrefix(d, ": mtime = 1970-01-01 00:00:00 +0000 UTC,") {
			continue // the root: no entry, no times
		}
		out = append(out, d)
	}
	return out
}

func TestReferenceTree(t *testing.T) {
	ref, err := imagetest.Walk(tree(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"fat32", "fat16"} {
		t.Run(variant, func(t *testing.T) {
			b := variantImage(t, variant)
			r := openBytes(t, b)
			wantType := map[string]int{"fat32": FAT32, "fat16": FAT16}[variant]
			if r.v.fatType != wantType {
				t.Fatalf("FAT type %d, want %d", r.v.fatType, wantType)
			}
			got, err := imagetest.WalkReader(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range referenceDiffs(ref, got) {
				t.Error(d)
			}
			if info := r.Info(); info.Label != "FSBRIDGE" || !info.CaseInsensitive {
				t.Errorf("Info = %+v", info)
			}
		})
	}
}
