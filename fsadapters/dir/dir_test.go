package dir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
)

var (
	ctx  = context.Background()
	root = &fsadapters.Root
	user = &fsadapters.Cred{UID: 1000, GID: 1000}
)

func mustLookup(t *testing.T, fs *FS, dir fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr) {
	t.Helper()
	fh, a, err := fs.Lookup(ctx, root, dir, name)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", name, err)
	}
	return fh, a
}

func mustCreate(t *testing.T, fs *FS, dir fsadapters.FileHandle, name string, cred *fsadapters.Cred, mode uint32) fsadapters.FileHandle {
	t.Helper()
	fh, _, _, err := fs.Create(ctx, cred, dir, name, &fsadapters.CreateReq{
		Mode: fsadapters.CreateGuarded, Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: mode}})
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return fh
}

func TestNewErrors(t *testing.T) {
	d := t.TempDir()
	_, err := New(filepath.Join(d, "missing"), Options{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("New(missing) = %v", err)
	}
	f := filepath.Join(d, "file")
	os.WriteFile(f, nil, 0o644)
	_, err = New(f, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), f) {
		t.Errorf("New(file) = %v", err)
	}

	// Drop CAP_DAC_READ_SEARCH on one OS thread only (capabilities are
	// per thread); the goroutine never unlocks, so the thread dies with it.
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_DAC_READ_SEARCH
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		_, err := New(d, Options{})
		done <- err
	}()
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "CAP_DAC_READ_SEARCH") {
		t.Errorf("New without CAP_DAC_READ_SEARCH = %v", err)
	}
}

func TestHandleSurvivesRenameAndRestart(t *testing.T) {
	d := t.TempDir()
	fs := newTestFS(t, d)
	d1, _, err := fs.Mkdir(ctx, root, fs.Root(), "d1", nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, _, err := fs.Mkdir(ctx, root, fs.Root(), "d2", nil)
	if err != nil {
		t.Fatal(err)
	}
	fh := mustCreate(t, fs, d1, "f", root, 0o644)
	sub, _, err := fs.Mkdir(ctx, root, d1, "sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(ctx, root, d1, "f", d2, "g", false); err != nil {
		t.Fatal(err)
	}
	// Moved behind our back, by a local process.
	if err := os.Rename(filepath.Join(d, "d1", "sub"), filepath.Join(d, "d2", "sub2")); err != nil {
		t.Fatal(err)
	}
	if a, err := fs.GetAttr(ctx, fh); err != nil || a.Type != fsadapters.TypeRegular {
		t.Errorf("GetAttr after rename: %v %v", a.Type, err)
	}
	fs2 := newTestFS(t, d) // restart: empty cache, key from the xattr
	if !bytes.Equal(fs2.Root(), fs.Root()) {
		t.Errorf("root handle changed across restart")
	}
	for _, h := range []fsadapters.FileHandle{fh, sub, d1, d2} {
		if err := fs2.CheckHandle(ctx, h); err != nil {
			t.Errorf("CheckHandle after restart: %v", err)
		}
	}
	g, _ := mustLookup(t, fs2, d2, "g")
	if !bytes.Equal(g, fh) {
		t.Errorf("handle of d2/g differs after restart")
	}
	p, _, err := fs2.LookupParent(ctx, root, sub)
	if err != nil || !bytes.Equal(p, d2) {
		t.Errorf("LookupParent(sub) = %x, %v; want d2", p, err)
	}
	if _, _, err := fs2.LookupParent(ctx, root, fs2.Root()); !errors.Is(err, unix.ENOENT) {
		t.Errorf("LookupParent(root) = %v, want ENOENT", err)
	}
}

func TestOutsideExportRefused(t *testing.T) {
	parent := t.TempDir()
	export := filepath.Join(parent, "export")
	os.Mkdir(export, 0o755)
	os.Mkdir(filepath.Join(parent, "outdir"), 0o755)
	os.WriteFile(filepath.Join(parent, "outfile"), []byte("secret"), 0o644)

	fs := newTestFS(t, export)
	pfs := newTestFS(t, parent)
	outDir, _ := mustLookup(t, pfs, pfs.Root(), "outdir")
	outFile, _ := mustLookup(t, pfs, pfs.Root(), "outfile")
	for _, h := range []fsadapters.FileHandle{outDir, outFile, pfs.Root()} {
		if _, err := fs.GetAttr(ctx, h); !errors.Is(err, fsadapters.ErrBadHandle) {
			t.Errorf("GetAttr(foreign handle) = %v, want ErrBadHandle", err)
		}
		if _, err := fs.Open(ctx, root, h, fsadapters.OpenRead); err == nil {
			t.Errorf("Open(foreign handle) succeeded")
		}
	}

	// Even with the MAC key shared, a directory outside the export is
	// refused by the ".." walk.
	key := []byte("0123456789abcdef")
	sfs, err := New(export, Options{HandleKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer sfs.Close()
	spfs, err := New(parent, Options{HandleKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer spfs.Close()
	outDir, _ = mustLookup(t, spfs, spfs.Root(), "outdir")
	if _, err := sfs.GetAttr(ctx, outDir); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("GetAttr(dir outside export, shared key) = %v, want ErrStale", err)
	}
	if _, err := sfs.GetAttr(ctx, spfs.Root()); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("GetAttr(parent of export, shared key) = %v, want ErrStale", err)
	}
	// A directory moved out of the export is refused after a restart.
	in, _, err := sfs.Mkdir(ctx, root, sfs.Root(), "in", nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(export, "in"), filepath.Join(parent, "moved"))
	sfs2, err := New(export, Options{HandleKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer sfs2.Close()
	if err := sfs2.CheckHandle(ctx, in); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("CheckHandle(dir moved out) = %v, want ErrStale", err)
	}
}

func TestMalformedHandles(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	fh := mustCreate(t, fs, fs.Root(), "f", root, 0o644)
	bad := [][]byte{nil, {1}, fh[:len(fh)-1], append(append([]byte{}, fh...), 0), make([]byte, 200)}
	flip := append([]byte{}, fh...)
	flip[6] ^= 1
	bad = append(bad, flip)
	ver := append([]byte{}, fh...)
	ver[0] = 2
	bad = append(bad, ver)
	for _, h := range bad {
		if err := fs.CheckHandle(ctx, h); !errors.Is(err, fsadapters.ErrBadHandle) {
			t.Errorf("CheckHandle(%x) = %v, want ErrBadHandle", h, err)
		}
	}
}

func TestSymlinkEscape(t *testing.T) {
	parent := t.TempDir()
	export := filepath.Join(parent, "export")
	os.Mkdir(export, 0o755)
	os.Mkdir(filepath.Join(parent, "outside"), 0o755)
	os.Symlink(parent, filepath.Join(export, "abs"))
	os.Symlink("..", filepath.Join(export, "rel"))
	os.Symlink(filepath.Join(parent, "created-outside"), filepath.Join(export, "dangling"))
	fs := newTestFS(t, export)

	for _, name := range []string{"abs", "rel", "dangling"} {
		fh, a := mustLookup(t, fs, fs.Root(), name)
		if a.Type != fsadapters.TypeSymlink {
			t.Errorf("Lookup(%s) type %v, want symlink itself", name, a.Type)
		}
		if _, _, err := fs.Lookup(ctx, root, fh, "outside"); !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("Lookup(%s/outside) = %v, want ENOTDIR", name, err)
		}
		if _, err := fs.Open(ctx, root, fh, fsadapters.OpenRead); !errors.Is(err, unix.ELOOP) {
			t.Errorf("Open(%s) = %v, want ELOOP", name, err)
		}
		if _, _, _, err := fs.Create(ctx, root, fs.Root(), name, &fsadapters.CreateReq{Mode: fsadapters.CreateUnchecked,
			Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}}); err == nil {
			t.Errorf("Create(UNCHECKED %s) through a symlink succeeded", name)
		}
		if _, _, err := fs.Mkdir(ctx, root, fs.Root(), name, nil); !errors.Is(err, unix.EEXIST) {
			t.Errorf("Mkdir(%s) = %v, want EEXIST", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(parent, "created-outside")); err == nil {
		t.Errorf("a file was created outside the export through a dangling symlink")
	}
	for _, name := range []string{"..", ".", "a/b", "", "x\x00y"} {
		if _, _, err := fs.Lookup(ctx, root, fs.Root(), name); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Lookup(%q) = %v, want EINVAL", name, err)
		}
	}
}

func TestExclusiveCreate(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	req := &fsadapters.CreateReq{Mode: fsadapters.CreateExclusive, Verf: fsadapters.CreateVerf{1, 2, 3, 4, 5, 6, 7, 8},
		Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o640}}
	fh, a, created, err := fs.Create(ctx, user, fs.Root(), "x", req)
	if err == nil {
		t.Fatalf("Create by uid 1000 in a 0700 root-owned dir succeeded")
	}
	fs.SetAttr(ctx, root, fs.Root(), &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777})
	fh, a, created, err = fs.Create(ctx, user, fs.Root(), "x", req)
	if err != nil || !created {
		t.Fatalf("Create(EXCLUSIVE) = %v, created=%v", err, created)
	}
	if a.UID != 1000 || a.GID != 1000 || a.Mode != 0o640 || a.Type != fsadapters.TypeRegular || a.Nlink != 1 {
		t.Errorf("new file attrs %+v", a)
	}
	fh2, _, created, err := fs.Create(ctx, user, fs.Root(), "x", req)
	if err != nil || created || !bytes.Equal(fh, fh2) {
		t.Errorf("retransmission: err=%v created=%v same=%v", err, created, bytes.Equal(fh, fh2))
	}
	req2 := *req
	req2.Verf[0] = 9
	if _, _, _, err := fs.Create(ctx, user, fs.Root(), "x", &req2); !errors.Is(err, unix.EEXIST) {
		t.Errorf("different verifier: %v, want EEXIST", err)
	}
	// A pre-existing file without a verifier is EEXIST too.
	mustCreate(t, fs, fs.Root(), "plain", root, 0o644)
	if _, _, _, err := fs.Create(ctx, root, fs.Root(), "plain", req); !errors.Is(err, unix.EEXIST) {
		t.Errorf("exclusive over plain file: %v, want EEXIST", err)
	}
}

func TestConcurrentExclusive(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	for _, sameVerf := range []bool{false, true} {
		name := fmt.Sprintf("race-%v", sameVerf)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, retrans, eexist := 0, 0, 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &fsadapters.CreateReq{Mode: fsadapters.CreateExclusive,
					Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}}
				if !sameVerf {
					req.Verf[0] = byte(i + 1)
				}
				_, _, created, err := fs.Create(ctx, root, fs.Root(), name, req)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && created:
					won++
				case err == nil:
					retrans++
				case errors.Is(err, unix.EEXIST):
					eexist++
				default:
					t.Errorf("Create: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || (sameVerf && retrans != 7) || (!sameVerf && eexist != 7) {
			t.Errorf("sameVerf=%v: won=%d retransmissions=%d eexist=%d", sameVerf, won, retrans, eexist)
		}
	}
}

func testReadDirPaged(t *testing.T, dirPath string) {
	fs := newTestFS(t, dirPath)
	want := map[string]bool{}
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("file-%04d", i)
		mustCreate(t, fs, fs.Root(), name, root, 0o644)
		want[name] = true
	}
	seen := map[string]int{}
	var cookie uint64
	var verf fsadapters.CookieVerf
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("readdir does not terminate")
		}
		n := 0
		nv, eof, err := fs.ReadDir(ctx, root, fs.Root(), cookie, verf, func(e *fsadapters.DirEntry) bool {
			if n == 7 {
				return false
			}
			n++
			if e.Cookie <= 2 {
				t.Errorf("cookie %d for %s", e.Cookie, e.Name)
			}
			seen[e.Name]++
			cookie = e.Cookie
			if a, err := fs.GetAttr(ctx, e.Handle); err != nil || a.FileID != e.Attr.FileID {
				t.Errorf("entry %s: handle gives %v %v", e.Name, a.FileID, err)
			}
			return true
		})
		if err != nil {
			t.Fatalf("ReadDir(cookie %d): %v", cookie, err)
		}
		verf = nv
		if eof {
			break
		}
	}
	if len(seen) != len(want) {
		t.Errorf("saw %d names, want %d", len(seen), len(want))
	}
	for name, c := range seen {
		if c != 1 || !want[name] {
			t.Errorf("%s seen %d times (expected=%v)", name, c, want[name])
		}
	}
	bad := verf
	bad[0] ^= 0xff
	if _, _, err := fs.ReadDir(ctx, root, fs.Root(), cookie, bad, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, fsadapters.ErrBadCookie) {
		t.Errorf("ReadDir with wrong verifier: %v", err)
	}
	if _, _, err := fs.ReadDir(ctx, root, fs.Root(), 1, verf, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, fsadapters.ErrBadCookie) {
		t.Errorf("ReadDir(cookie 1): %v", err)
	}
}

func TestReadDirPaged(t *testing.T) { testReadDirPaged(t, t.TempDir()) }

// tmpfs hands out small integer offsets, exercising the cookie bias.
func TestReadDirPagedTmpfs(t *testing.T) {
	var s unix.Statfs_t
	if unix.Statfs("/dev/shm", &s) != nil || s.Type != unix.TMPFS_MAGIC {
		t.Skip("no tmpfs at /dev/shm")
	}
	d, err := os.MkdirTemp("/dev/shm", "dirtest")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	testReadDirPaged(t, d)
}

func TestPermissions(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	fs.SetAttr(ctx, root, fs.Root(), &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777})
	fh := mustCreate(t, fs, fs.Root(), "secret", &fsadapters.Cred{UID: 2000, GID: 2000}, 0o600)
	if _, err := fs.Open(ctx, user, fh, fsadapters.OpenRead); !errors.Is(err, unix.EACCES) {
		t.Errorf("Open(0600 of uid 2000) as uid 1000 = %v, want EACCES", err)
	}
	if _, err := fs.SetAttr(ctx, user, fh, &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o666}); !errors.Is(err, unix.EPERM) {
		t.Errorf("chmod by non-owner = %v, want EPERM", err)
	}
	if _, err := fs.SetAttr(ctx, user, fh, &fsadapters.SetAttr{Valid: fsadapters.SetSize}); !errors.Is(err, unix.EACCES) {
		t.Errorf("truncate by non-owner = %v, want EACCES", err)
	}
	if f, err := fs.Open(ctx, root, fh, fsadapters.OpenRead|fsadapters.OpenWrite); err != nil {
		t.Errorf("Open as root: %v", err)
	} else {
		f.Close()
	}
	// Owner may chgrp only to a group it is in; setuid is cleared by chown.
	owner := &fsadapters.Cred{UID: 2000, GID: 2000, Groups: []uint32{3000}}
	fs.SetAttr(ctx, owner, fh, &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o4755})
	a, err := fs.SetAttr(ctx, owner, fh, &fsadapters.SetAttr{Valid: fsadapters.SetGID, GID: 3000})
	if err != nil || a.GID != 3000 || a.Mode&unix.S_ISUID != 0 {
		t.Errorf("chgrp to own group: gid=%d mode=%o err=%v", a.GID, a.Mode, err)
	}
	if _, err := fs.SetAttr(ctx, owner, fh, &fsadapters.SetAttr{Valid: fsadapters.SetGID, GID: 4000}); !errors.Is(err, unix.EPERM) {
		t.Errorf("chgrp to foreign group = %v, want EPERM", err)
	}
	if _, err := fs.SetAttr(ctx, owner, fh, &fsadapters.SetAttr{Valid: fsadapters.SetUID, UID: 1000}); !errors.Is(err, unix.EPERM) {
		t.Errorf("chown by non-root = %v, want EPERM", err)
	}
	// setgid directories pass their group (and setgid) on.
	d, _, err := fs.Mkdir(ctx, root, fs.Root(), "sg", &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o2777})
	if err != nil {
		t.Fatal(err)
	}
	fs.SetAttr(ctx, root, d, &fsadapters.SetAttr{Valid: fsadapters.SetGID, GID: 555})
	_, sub, err := fs.Mkdir(ctx, user, d, "sub", &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o755})
	if err != nil || sub.GID != 555 || sub.UID != 1000 || sub.Mode != 0o2755 {
		t.Errorf("mkdir in setgid dir: %+v %v", sub, err)
	}
}

func TestSyncWrite(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	fh := mustCreate(t, fs, fs.Root(), "f", root, 0o644)
	f, err := fs.Open(ctx, root, fh, fsadapters.OpenWrite|fsadapters.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	orig := writeSync
	calls := 0
	writeSync = func(fd int, p []byte, off int64) (int, error) { calls++; return orig(fd, p, off) }
	defer func() { writeSync = orig }()
	if n, err := f.WriteAt([]byte("unstable"), 0, false); n != 8 || err != nil || calls != 0 {
		t.Errorf("unstable write: n=%d err=%v syncCalls=%d", n, err, calls)
	}
	if n, err := f.WriteAt([]byte("stable"), 8, true); n != 6 || err != nil || calls != 1 {
		t.Errorf("FILE_SYNC write: n=%d err=%v syncCalls=%d", n, err, calls)
	}
	if err := f.Sync(); err != nil {
		t.Error(err)
	}
	buf := make([]byte, 20)
	n, eof, err := f.ReadAt(buf, 0)
	if string(buf[:n]) != "unstablestable" || !eof || err != nil {
		t.Errorf("ReadAt = %q eof=%v err=%v", buf[:n], eof, err)
	}
	n, eof, _ = f.ReadAt(buf[:14], 0)
	if n != 14 || !eof {
		t.Errorf("read ending exactly at EOF: n=%d eof=%v", n, eof)
	}
	n, eof, _ = f.ReadAt(buf[:4], 0)
	if n != 4 || eof {
		t.Errorf("short read in the middle: n=%d eof=%v", n, eof)
	}
}

func TestAllocateSeek(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	fh := mustCreate(t, fs, fs.Root(), "f", root, 0o644)
	fl, err := fs.Open(ctx, root, fh, fsadapters.OpenWrite|fsadapters.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	f := fl.(*File)
	if err := f.Allocate(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{1}, 1<<20), 0, false)
	if err := f.Deallocate(0, 512<<10); err != nil {
		t.Fatal(err)
	}
	if a, _ := fs.GetAttr(ctx, fh); a.Size != 1<<20 {
		t.Errorf("size after punch %d", a.Size)
	}
	if off, err := f.SeekData(0, unix.SEEK_DATA); err != nil || off != 512<<10 {
		t.Errorf("SEEK_DATA = %d %v", off, err)
	}
	if off, err := f.SeekData(0, unix.SEEK_HOLE); err != nil || off != 0 {
		t.Errorf("SEEK_HOLE = %d %v", off, err)
	}
}

func openFds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestFdCacheBoundedConcurrent(t *testing.T) {
	before := openFds(t)
	d := t.TempDir()
	fs, err := New(d, Options{CacheSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	var hs []fsadapters.FileHandle
	for i := 0; i < 32; i++ {
		hs = append(hs, mustCreate(t, fs, fs.Root(), fmt.Sprintf("f%d", i), root, 0o644))
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				h := hs[(i*7+g)%len(hs)]
				if _, err := fs.GetAttr(ctx, h); err != nil {
					t.Errorf("GetAttr: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := fs.cache.len(); n > 4 {
		t.Errorf("cache holds %d entries, bound 4", n)
	}
	// Removing a file drops its cached fd and makes its handle stale.
	fs.GetAttr(ctx, hs[0])
	if err := fs.Remove(ctx, root, fs.Root(), "f0"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.GetAttr(ctx, hs[0]); !errors.Is(err, fsadapters.ErrStale) {
		t.Errorf("GetAttr after remove = %v, want ErrStale", err)
	}
	fs.Close()
	if after := openFds(t); after != before {
		t.Errorf("fd leak: %d open before, %d after Close", before, after)
	}
}

func TestMknodDevices(t *testing.T) {
	fs := newTestFS(t, t.TempDir())
	fs.SetAttr(ctx, root, fs.Root(), &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o777})
	mode := &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o640}
	fh, a, err := fs.Mknod(ctx, root, fs.Root(), "null", fsadapters.TypeChar, 1, 3, mode)
	if err != nil || a.Type != fsadapters.TypeChar || a.RdevMajor != 1 || a.RdevMinor != 3 || a.Mode != 0o640 {
		t.Errorf("Mknod(char 1:3) = %+v, %v", a, err)
	}
	if _, err := fs.Open(ctx, root, fh, fsadapters.OpenRead); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Open(char device) = %v, want EINVAL", err)
	}
	if _, a, err := fs.Mknod(ctx, user, fs.Root(), "sock", fsadapters.TypeSocket, 0, 0, mode); err != nil || a.Type != fsadapters.TypeSocket || a.UID != 1000 {
		t.Errorf("Mknod(socket) by uid 1000 = %+v, %v", a, err)
	}
	if _, _, err := fs.Mknod(ctx, user, fs.Root(), "blk", fsadapters.TypeBlock, 8, 0, mode); !errors.Is(err, unix.EPERM) {
		t.Errorf("Mknod(block) by uid 1000 = %v, want EPERM", err)
	}
	if _, _, err := fs.Mknod(ctx, root, fs.Root(), "reg", fsadapters.TypeRegular, 0, 0, mode); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Mknod(regular) = %v, want EINVAL", err)
	}
}
