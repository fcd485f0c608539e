package mem

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/fstest"
	"golang.org/x/sys/unix"
)

func TestConformance(t *testing.T) {
	fstest.Run(t, func(t *testing.T) fsadapters.FS { return New() })
}

var root = &fsadapters.Cred{}

func mkfile(t *testing.T, fs *FS, name string) (fsadapters.FileHandle, fsadapters.File) {
	t.Helper()
	ctx := t.Context()
	fh, _, _, err := fs.Create(ctx, root, fs.Root(), name, &fsadapters.CreateReq{Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}})
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	f, err := fs.Open(ctx, root, fh, fsadapters.OpenRead|fsadapters.OpenWrite)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return fh, f
}

func TestHandleFromOtherInstanceIsStale(t *testing.T) {
	a, b := New(), New()
	if err := b.CheckHandle(t.Context(), a.Root()); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("CheckHandle(other instance's root) = %v, want ErrStale", err)
	}
	if a.Caps().HandlesPersist || a.Caps().FSIDMajor == b.Caps().FSIDMajor {
		t.Errorf("Caps: HandlesPersist=%v, FSIDs %x %x", a.Caps().HandlesPersist, a.Caps().FSIDMajor, b.Caps().FSIDMajor)
	}
}

func TestSparseUsesLittleSpace(t *testing.T) {
	fs := New()
	fh, f := mkfile(t, fs, "s")
	if _, err := f.WriteAt([]byte("x"), 5<<30, false); err != nil {
		t.Fatal(err)
	}
	a, _ := fs.GetAttr(t.Context(), fh)
	if a.SpaceUsed != chunkSize {
		t.Errorf("SpaceUsed after one write at 5 GiB = %d, want %d", a.SpaceUsed, chunkSize)
	}
	st, _ := fs.StatFS(t.Context(), fh)
	if st.TotalBytes-st.FreeBytes != chunkSize {
		t.Errorf("StatFS used = %d, want %d", st.TotalBytes-st.FreeBytes, chunkSize)
	}
	// Truncating to 0 frees it; so does removing the last link and closing.
	if _, err := fs.SetAttr(t.Context(), root, fh, &fsadapters.SetAttr{Valid: fsadapters.SetSize}); err != nil {
		t.Fatal(err)
	}
	if fs.used.Load() != 0 {
		t.Errorf("used after truncate to 0 = %d", fs.used.Load())
	}
}

func TestSeekAndAllocate(t *testing.T) {
	fs := New()
	_, f := mkfile(t, fs, "f")
	al, sk := f.(fsadapters.Allocator), f.(fsadapters.Seeker)
	const c = chunkSize
	if _, err := f.WriteAt([]byte("data"), 3*c+10, false); err != nil {
		t.Fatal(err)
	}
	if err := al.Allocate(6*c, 2*c); err != nil { // size becomes 8c
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off    int64
		whence int
		want   int64
		err    error
	}{
		{0, unix.SEEK_DATA, 3 * c, nil},
		{3*c + 5, unix.SEEK_DATA, 3*c + 5, nil},
		{4 * c, unix.SEEK_DATA, 6 * c, nil},
		{0, unix.SEEK_HOLE, 0, nil},
		{3 * c, unix.SEEK_HOLE, 4 * c, nil},
		{6 * c, unix.SEEK_HOLE, 8 * c, nil},
		{8 * c, unix.SEEK_DATA, 0, unix.ENXIO},
	} {
		got, err := sk.SeekData(tc.off, tc.whence)
		if got != tc.want || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("SeekData(%d, %d) = %d, %v; want %d, %v", tc.off, tc.whence, got, err, tc.want, tc.err)
		}
	}
	if err := al.Deallocate(3*c, c); err != nil {
		t.Fatal(err)
	}
	if _, err := sk.SeekData(0, unix.SEEK_DATA); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4)
	if n, _, err := f.ReadAt(p, 3*c+10); err != nil || n != 4 || !bytes.Equal(p, make([]byte, 4)) {
		t.Errorf("ReadAt after Deallocate = %q, %d, %v", p, n, err)
	}
	if got, _ := sk.SeekData(0, unix.SEEK_DATA); got != 6*c {
		t.Errorf("SEEK_DATA after Deallocate = %d, want %d", got, 6*c)
	}
	// Partial deallocate zeros without freeing.
	if _, err := f.WriteAt([]byte("abcdef"), 0, false); err != nil {
		t.Fatal(err)
	}
	if err := al.Deallocate(1, 3); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := f.ReadAt(p[:4], 0); n != 4 || string(p) != "a\x00\x00\x00" {
		t.Errorf("after partial Deallocate: %q", p)
	}
}

func TestOpenModesEnforced(t *testing.T) {
	fs := New()
	fh, _ := mkfile(t, fs, "f")
	r, err := fs.Open(t.Context(), root, fh, fsadapters.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteAt([]byte("x"), 0, false); !errors.Is(err, unix.EBADF) {
		t.Errorf("WriteAt on read-only open: %v, want EBADF", err)
	}
	r.Close()
	if _, _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("ReadAt after Close: %v, want EBADF", err)
	}
	if _, err := fs.Open(t.Context(), root, fs.Root(), fsadapters.OpenRead); !errors.Is(err, unix.EISDIR) {
		t.Errorf("Open(root dir): %v, want EISDIR", err)
	}
}

func TestUnlinkedOpenFileKeepsHandle(t *testing.T) {
	fs := New()
	fh, f := mkfile(t, fs, "f")
	f.WriteAt([]byte("keep"), 0, false)
	if err := fs.Remove(t.Context(), root, fs.Root(), "f"); err != nil {
		t.Fatal(err)
	}
	a, err := fs.GetAttr(t.Context(), fh)
	if err != nil || a.Nlink != 0 {
		t.Errorf("GetAttr(unlinked, open) = nlink %d, %v", a.Nlink, err)
	}
	g, err := fs.Open(t.Context(), root, fh, fsadapters.OpenRead)
	if err != nil {
		t.Fatalf("Open(unlinked, open): %v", err)
	}
	p := make([]byte, 8)
	if n, _, _ := g.ReadAt(p, 0); string(p[:n]) != "keep" {
		t.Errorf("read of unlinked file = %q", p[:n])
	}
	if err := fs.Link(t.Context(), root, fh, fs.Root(), "again"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Link(unlinked) = %v, want ENOENT", err)
	}
	g.Close()
	f.Close()
	if _, err := fs.GetAttr(t.Context(), fh); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("GetAttr after last close = %v, want ErrStale", err)
	}
	if fs.used.Load() != 0 {
		t.Errorf("used after freeing = %d", fs.used.Load())
	}
}

// A 10k-entry directory is listed in small pages without quadratic cost
// and with stable cookies across removals.
func TestBigDirPaging(t *testing.T) {
	fs := New()
	ctx := t.Context()
	const n = 10000
	for i := range n {
		mkfileNoOpen(t, fs, fmt.Sprintf("f%05d", i))
	}
	var cookie uint64
	var verf fsadapters.CookieVerf
	seen := 0
	for {
		k := 0
		v, eof, err := fs.ReadDir(ctx, root, fs.Root(), cookie, verf, func(de *fsadapters.DirEntry) bool {
			if k == 10 {
				return false
			}
			k++
			seen++
			cookie = de.Cookie
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		verf = v
		if seen == 5000 && k == 10 {
			// Remove entries on both sides of the cursor.
			for _, name := range []string{"f00000", "f04999", "f05000", "f09999"} {
				if err := fs.Remove(ctx, root, fs.Root(), name); err != nil {
					t.Fatal(err)
				}
			}
		}
		if eof {
			break
		}
	}
	if seen != n-2 {
		t.Errorf("listed %d entries, want %d (two removed ahead of the cursor)", seen, n-2)
	}
	// A zero verifier with a valid cookie resumes; a foreign one does not.
	n2 := 0
	if _, eof, err := fs.ReadDir(ctx, root, fs.Root(), cookie-5, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { n2++; return true }); err != nil || !eof || n2 != 5 {
		t.Errorf("ReadDir(zero verf, 5 before end) = %d entries, eof %v, %v", n2, eof, err)
	}
	if _, _, err := fs.ReadDir(ctx, root, fs.Root(), cookie, New().boot, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, fsadapters.ErrBadCookie) {
		t.Errorf("ReadDir with another instance's verifier: %v, want ErrBadCookie", err)
	}
	if _, _, err := fs.ReadDir(ctx, root, fs.Root(), 1<<40, verf, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, fsadapters.ErrBadCookie) {
		t.Errorf("ReadDir with never-issued cookie: %v, want ErrBadCookie", err)
	}
}

func mkfileNoOpen(t *testing.T, fs *FS, name string) {
	t.Helper()
	_, _, _, err := fs.Create(t.Context(), root, fs.Root(), name, &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded, Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}})
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
}

func TestNoSpace(t *testing.T) {
	fs := New()
	_, f := mkfile(t, fs, "f")
	if err := f.(fsadapters.Allocator).Allocate(0, totalBytes+1); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("Allocate(1 TiB + 1) = %v, want ENOSPC", err)
	}
	if fs.used.Load() != 0 {
		t.Errorf("used after failed Allocate = %d", fs.used.Load())
	}
	if _, err := f.WriteAt([]byte("x"), maxFileSize, false); !errors.Is(err, unix.EFBIG) {
		t.Errorf("WriteAt past max file size = %v, want EFBIG", err)
	}
}
