package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/fstest"
	"golang.org/x/sys/unix"
)

// fakeReader is an in-memory image Reader.
type fakeReader struct {
	nodes map[Ino]*fakeNode
	info  Info
	// Faults: a Stat/ReadDir/Open/ReadAt of these Inos panics or reports
	// corruption.
	panicOn, corruptOn Ino
	readDirCalls       atomic.Int64
	closed             atomic.Bool
}

type fakeNode struct {
	attr   fsadapters.Attr
	parent Ino
	kids   []Dirent
	data   []byte
	target string
}

const fakeRoot Ino = 1

// newFake builds a small tree; seed varies file content and times (two
// fakes with the same seed are "the same image").
func newFake(seed string, many int) *fakeReader {
	f := &fakeReader{nodes: map[Ino]*fakeNode{}, info: Info{Format: "fake", Label: "FAKE", TotalBytes: 1 << 20,
		UsedBytes: 1 << 19, MaxName: 255, TimeDelta: time.Second}}
	next := fakeRoot
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(len(seed)) * time.Hour)
	add := func(parent Ino, name string, typ fsadapters.FileType, mode uint32) Ino {
		ino := next
		next++
		n := &fakeNode{parent: parent, attr: fsadapters.Attr{Type: typ, Mode: mode, Nlink: 1, FileID: uint64(ino),
			Mtime: t0, Ctime: t0, Atime: t0, Change: uint64(t0.UnixNano())}}
		if typ == fsadapters.TypeDir {
			n.attr.Nlink = 2
		}
		f.nodes[ino] = n
		if parent != 0 {
			p := f.nodes[parent]
			p.kids = append(p.kids, Dirent{Name: name, Ino: ino, Type: typ})
			if typ == fsadapters.TypeDir {
				p.attr.Nlink++
			}
		} else {
			n.parent = ino
		}
		return ino
	}
	file := func(parent Ino, name string, mode uint32, data string) Ino {
		ino := add(parent, name, fsadapters.TypeRegular, mode)
		f.nodes[ino].data = []byte(data)
		f.nodes[ino].attr.Size = uint64(len(data))
		return ino
	}
	root := add(0, "", fsadapters.TypeDir, 0o755)
	file(root, "file.txt", 0o644, "hello world "+seed)
	d := add(root, "dir", fsadapters.TypeDir, 0o755)
	file(d, "inner.txt", 0o644, "inner")
	l := add(root, "link", fsadapters.TypeSymlink, 0o777)
	f.nodes[l].target = "file.txt"
	f.nodes[l].attr.Size = 8
	p := add(root, "private", fsadapters.TypeDir, 0o700)
	file(p, "secret", 0o600, "secret")
	file(root, "mine", 0o600, "owned by 1000").attrSet(f, func(a *fsadapters.Attr) { a.UID, a.GID = 1000, 1000 })
	m := add(root, "many", fsadapters.TypeDir, 0o755)
	for i := 0; i < many; i++ {
		file(m, fmt.Sprintf("e%05d", i), 0o644, "x")
	}
	return f
}

func (ino Ino) attrSet(f *fakeReader, fn func(*fsadapters.Attr)) { fn(&f.nodes[ino].attr) }

func (f *fakeReader) node(ino Ino) (*fakeNode, error) {
	if ino == f.panicOn && ino != 0 {
		panic("fake reader: injected panic")
	}
	if ino == f.corruptOn && ino != 0 {
		return nil, Corrupt("fake", 4096, "inode", errors.New("injected"))
	}
	n := f.nodes[ino]
	if n == nil {
		return nil, fsadapters.ErrStale
	}
	return n, nil
}

func (f *fakeReader) Root() Ino { return fakeRoot }
func (f *fakeReader) Stat(ino Ino) (fsadapters.Attr, error) {
	n, err := f.node(ino)
	if err != nil {
		return fsadapters.Attr{}, err
	}
	return n.attr, nil
}
func (f *fakeReader) ReadDir(ino Ino) ([]Dirent, error) {
	f.readDirCalls.Add(1)
	n, err := f.node(ino)
	if err != nil {
		return nil, err
	}
	if n.attr.Type != fsadapters.TypeDir {
		return nil, unix.ENOTDIR
	}
	return n.kids, nil
}
func (f *fakeReader) Lookup(dir Ino, name string) (Ino, error) {
	ents, err := f.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if e.Name == name {
			return e.Ino, nil
		}
	}
	return 0, unix.ENOENT
}
func (f *fakeReader) Parent(dir Ino) (Ino, error) {
	n, err := f.node(dir)
	if err != nil {
		return 0, err
	}
	return n.parent, nil
}
func (f *fakeReader) Readlink(ino Ino) (string, error) {
	n, err := f.node(ino)
	if err != nil {
		return "", err
	}
	return n.target, nil
}
func (f *fakeReader) Open(ino Ino) (io.ReaderAt, error) {
	n, err := f.node(ino)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(n.data), nil
}
func (f *fakeReader) Info() Info   { return f.info }
func (f *fakeReader) Close() error { f.closed.Store(true); return nil }

// logBuf collects log lines.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
func (l *logBuf) String() string       { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }
func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

var (
	rootCred = &fsadapters.Cred{}
	user     = &fsadapters.Cred{UID: 1000, GID: 1000}
	ctx      = context.Background()
)

func lookupPath(t *testing.T, fs *FS, p string) (fsadapters.FileHandle, fsadapters.Attr) {
	t.Helper()
	fh := fs.Root()
	var a fsadapters.Attr
	var err error
	for _, c := range strings.Split(p, "/") {
		if fh, a, err = fs.Lookup(ctx, rootCred, fh, c); err != nil {
			t.Fatalf("Lookup(%s): %v", p, err)
		}
	}
	return fh, a
}

func TestReadOnlyConformance(t *testing.T) {
	fstest.RunReadOnly(t, func(t *testing.T) fsadapters.FS { return New(newFake("a", 3), "fake.img", nil) })
}

func TestCaps(t *testing.T) {
	f := newFake("a", 0)
	f.info.NoHardLinks, f.info.CaseInsensitive = true, true
	c := New(f, "x", nil).Caps()
	if !c.ReadOnly || !c.HandlesPersist || !c.NoHardLinks || !c.CaseInsensitive || c.NoSymlinks || c.TimeDelta != time.Second {
		t.Errorf("Caps = %+v", c)
	}
	c2 := New(newFake("bb", 0), "y", nil).Caps()
	if c.FSIDMinor == c2.FSIDMinor {
		t.Errorf("two different images share FSID %x", c.FSIDMinor)
	}
	if c3 := New(newFake("a", 0), "x", nil).Caps(); c3.FSIDMinor != c.FSIDMinor {
		t.Errorf("same image, different FSID: %x vs %x", c3.FSIDMinor, c.FSIDMinor)
	}
	// Readers that look the same at the root but sit on different bytes.
	img1, img2 := strings.NewReader("image one"), strings.NewReader("image two")
	if a, b := NewImage(newFake("a", 0), img1, 9, "x", nil).Caps(), NewImage(newFake("a", 0), img2, 9, "x", nil).Caps(); a.FSIDMinor == b.FSIDMinor {
		t.Errorf("NewImage: different image bytes share FSID %x", a.FSIDMinor)
	}
	if a, b := NewImage(newFake("a", 0), img1, 9, "x", nil).Caps(), NewImage(newFake("a", 0), img1, 9, "y", nil).Caps(); a.FSIDMinor != b.FSIDMinor {
		t.Errorf("NewImage: same bytes, different FSID")
	}
}

func TestHandlesPersistAndStale(t *testing.T) {
	fs1 := New(newFake("same", 5), "a.img", nil)
	fs2 := New(newFake("same", 5), "a.img", nil) // a restart on the same image
	other := New(newFake("different", 5), "b.img", nil)
	for _, p := range []string{"file.txt", "dir", "dir/inner.txt", "link", "many/e00004"} {
		fh, a := lookupPath(t, fs1, p)
		if len(fh) > fsadapters.MaxHandleSize {
			t.Fatalf("handle of %d bytes", len(fh))
		}
		a2, err := fs2.GetAttr(ctx, fh)
		if err != nil || a2.FileID != a.FileID {
			t.Errorf("%s: handle after restart: %+v, %v", p, a2, err)
		}
		if err := fs2.CheckHandle(ctx, fh); err != nil {
			t.Errorf("%s: CheckHandle after restart: %v", p, err)
		}
		if _, err := other.GetAttr(ctx, fh); !errors.Is(err, fsadapters.ErrStale) {
			t.Errorf("%s: handle on another image: %v, want ErrStale", p, err)
		}
	}
}

func TestForgedHandles(t *testing.T) {
	fs := New(newFake("a", 5), "a.img", nil)
	good, _ := lookupPath(t, fs, "dir/inner.txt")
	cases := map[string]struct {
		fh   fsadapters.FileHandle
		want error
	}{
		"empty":       {nil, fsadapters.ErrBadHandle},
		"short":       {good[:handleLen-1], fsadapters.ErrBadHandle},
		"long":        {append(append([]byte{}, good...), 0), fsadapters.ErrBadHandle},
		"version":     {append([]byte{9}, good[1:]...), fsadapters.ErrBadHandle},
		"ino zero":    {fs.handle(0), fsadapters.ErrBadHandle},
		"unknown ino": {fs.handle(999999), fsadapters.ErrStale},
	}
	for name, c := range cases {
		if err := fs.CheckHandle(ctx, c.fh); !errors.Is(err, c.want) {
			t.Errorf("%s: CheckHandle = %v, want %v", name, err, c.want)
		}
		if _, err := fs.GetAttr(ctx, c.fh); !errors.Is(err, c.want) {
			t.Errorf("%s: GetAttr = %v, want %v", name, err, c.want)
		}
	}
	// Every single-bit flip is refused: the MAC covers every byte.
	for bit := 0; bit < len(good)*8; bit++ {
		fh := append(fsadapters.FileHandle{}, good...)
		fh[bit/8] ^= 1 << (bit % 8)
		if _, err := fs.GetAttr(ctx, fh); !errors.Is(err, fsadapters.ErrBadHandle) {
			t.Errorf("bit %d: %v, want ErrBadHandle", bit, err)
		}
	}
	// A handle with the Ino of another object and a recomputed MAC under
	// a wrong key is refused; under the right key it names that object.
	keyed := New(newFake("a", 5), "a.img", nil)
	keyed.SetHandleKey([]byte("export key 0123456789abcdef"))
	fh := keyed.handle(fs.root)
	if _, err := fs.GetAttr(ctx, fh); !errors.Is(err, fsadapters.ErrBadHandle) {
		t.Errorf("handle under another key: %v, want ErrBadHandle", err)
	}
	if _, err := keyed.GetAttr(ctx, fh); err != nil {
		t.Errorf("handle under its own key: %v", err)
	}
}

func TestModifyingOpsEROFS(t *testing.T) {
	fs := New(newFake("a", 2), "a.img", nil)
	fh, _ := lookupPath(t, fs, "file.txt")
	dir, _ := lookupPath(t, fs, "dir")
	sa := &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}
	for _, cred := range []*fsadapters.Cred{rootCred, user} {
		errs := map[string]error{}
		_, errs["SetAttr"] = fs.SetAttr(ctx, cred, fh, sa)
		_, _, _, errs["Create"] = fs.Create(ctx, cred, dir, "n", &fsadapters.CreateReq{})
		_, _, errs["Mkdir"] = fs.Mkdir(ctx, cred, dir, "n", sa)
		_, _, errs["Symlink"] = fs.Symlink(ctx, cred, dir, "n", "t", sa)
		_, _, errs["Mknod"] = fs.Mknod(ctx, cred, dir, "n", fsadapters.TypeFIFO, 0, 0, sa)
		errs["Link"] = fs.Link(ctx, cred, fh, dir, "n")
		errs["Remove"] = fs.Remove(ctx, cred, dir, "inner.txt")
		errs["Rename"] = fs.Rename(ctx, cred, dir, "inner.txt", dir, "x", false)
		_, errs["Open(write)"] = fs.Open(ctx, cred, fh, fsadapters.OpenWrite)
		_, errs["Open(rw)"] = fs.Open(ctx, cred, fh, fsadapters.OpenRead|fsadapters.OpenWrite)
		f, err := fs.Open(ctx, cred, fh, fsadapters.OpenRead)
		if err != nil {
			t.Fatal(err)
		}
		_, errs["WriteAt"] = f.WriteAt([]byte("x"), 0, true)
		errs["Sync"] = f.Sync()
		for op, err := range errs {
			if !errors.Is(err, unix.EROFS) {
				t.Errorf("uid %d: %s = %v, want EROFS", cred.UID, op, err)
			}
		}
	}
}

func TestPermissions(t *testing.T) {
	fs := New(newFake("a", 2), "a.img", nil)
	priv, _ := lookupPath(t, fs, "private")
	if _, _, err := fs.Lookup(ctx, user, priv, "secret"); !errors.Is(err, unix.EACCES) {
		t.Errorf("Lookup in a 0700 root dir as user: %v", err)
	}
	if _, _, err := fs.ReadDir(ctx, user, priv, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, unix.EACCES) {
		t.Errorf("ReadDir of a 0700 root dir as user: %v", err)
	}
	secret, _ := lookupPath(t, fs, "private/secret")
	if _, err := fs.Open(ctx, user, secret, fsadapters.OpenRead); !errors.Is(err, unix.EACCES) {
		t.Errorf("Open of a 0600 root file as user: %v", err)
	}
	mine, _ := lookupPath(t, fs, "mine")
	if f, err := fs.Open(ctx, user, mine, fsadapters.OpenRead); err != nil {
		t.Errorf("Open of own 0600 file: %v", err)
	} else {
		f.Close()
	}
	dir, _ := lookupPath(t, fs, "dir")
	if _, err := fs.Open(ctx, rootCred, dir, fsadapters.OpenRead); !errors.Is(err, unix.EISDIR) {
		t.Errorf("Open(dir) = %v", err)
	}
	link, _ := lookupPath(t, fs, "link")
	if _, err := fs.Open(ctx, rootCred, link, fsadapters.OpenRead); !errors.Is(err, unix.ELOOP) {
		t.Errorf("Open(symlink) = %v", err)
	}
	if s, err := fs.Readlink(ctx, link); err != nil || s != "file.txt" {
		t.Errorf("Readlink = %q, %v", s, err)
	}
	if _, err := fs.Readlink(ctx, dir); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Readlink(dir) = %v", err)
	}
	f, _ := lookupPath(t, fs, "file.txt")
	if _, _, err := fs.Lookup(ctx, rootCred, f, "x"); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("Lookup in a file: %v", err)
	}
	if _, _, err := fs.Lookup(ctx, rootCred, dir, "nope"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("Lookup(nope): %v", err)
	}
}

func TestLookupParentAndStatFS(t *testing.T) {
	fs := New(newFake("a", 2), "a.img", nil)
	if _, _, err := fs.LookupParent(ctx, rootCred, fs.Root()); !errors.Is(err, unix.ENOENT) {
		t.Errorf("LookupParent(root) = %v", err)
	}
	dir, _ := lookupPath(t, fs, "dir")
	p, a, err := fs.LookupParent(ctx, rootCred, dir)
	if err != nil || !bytes.Equal(p, fs.Root()) || a.Type != fsadapters.TypeDir {
		t.Errorf("LookupParent(dir) = %x %+v %v", p, a, err)
	}
	st, err := fs.StatFS(ctx, fs.Root())
	if err != nil || st.TotalBytes != 1<<20 || st.FreeBytes != 0 || st.AvailBytes != 0 || st.MaxName != 255 {
		t.Errorf("StatFS = %+v, %v", st, err)
	}
}

func TestReadAtEOF(t *testing.T) {
	fs := New(newFake("a", 0), "a.img", nil)
	fh, a := lookupPath(t, fs, "file.txt")
	f, err := fs.Open(ctx, rootCred, fh, fsadapters.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	want := "hello world a"
	if a.Size != uint64(len(want)) {
		t.Fatalf("size %d", a.Size)
	}
	for _, c := range []struct {
		off, n  int
		want    string
		wantEOF bool
	}{{0, 5, "hello", false}, {0, len(want), want, true}, {0, 100, want, true}, {6, 100, "world a", true},
		{len(want), 10, "", true}, {len(want) + 5, 10, "", true}, {len(want) - 1, 1, "a", true}} {
		p := make([]byte, c.n)
		n, eof, err := f.ReadAt(p, int64(c.off))
		if err != nil || string(p[:n]) != c.want || eof != c.wantEOF {
			t.Errorf("ReadAt(%d, %d) = %q eof=%v %v; want %q eof=%v", c.off, c.n, p[:n], eof, err, c.want, c.wantEOF)
		}
	}
	// A reader whose data ends before the size Stat gives is damage: EIO.
	fk := newFake("a", 0)
	fk.nodes[2].attr.Size = 100
	fs2 := New(fk, "short.img", nil)
	fh, _ = lookupPath(t, fs2, "file.txt")
	f2, _ := fs2.Open(ctx, rootCred, fh, fsadapters.OpenRead)
	if _, _, err := f2.ReadAt(make([]byte, 50), 0); !errors.Is(err, unix.EIO) {
		t.Errorf("short file data: %v, want EIO", err)
	}
}

func TestReadDirPaged10000(t *testing.T) {
	const n = 10000
	fk := newFake("a", n)
	fs := New(fk, "a.img", nil)
	dir, _ := lookupPath(t, fs, "many")
	before := fk.readDirCalls.Load()
	seen := map[string]int{}
	var cookie uint64
	var verf fsadapters.CookieVerf
	pages := 0
	for {
		got := 0
		nv, eof, err := fs.ReadDir(ctx, rootCred, dir, cookie, verf, func(de *fsadapters.DirEntry) bool {
			if got == 97 {
				return false
			}
			got++
			if de.Cookie < 3 || de.Attr.Type != fsadapters.TypeRegular || len(de.Handle) != handleLen {
				t.Fatalf("bad entry %+v", de)
			}
			seen[de.Name]++
			cookie = de.Cookie
			return true
		})
		if err != nil {
			t.Fatalf("ReadDir page %d: %v", pages, err)
		}
		verf = nv
		pages++
		if eof {
			break
		}
		if pages > n {
			t.Fatal("no end")
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct names, want %d", len(seen), n)
	}
	for name, c := range seen {
		if c != 1 {
			t.Errorf("%s listed %d times", name, c)
		}
	}
	if calls := fk.readDirCalls.Load() - before; calls > 2 {
		t.Errorf("reader ReadDir called %d times for %d pages: the listing is not cached", calls, pages)
	}
	// Cookies past the end, reserved ones and a foreign verifier.
	for _, c := range []uint64{1, 2, n + 3, 1 << 62} {
		if _, _, err := fs.ReadDir(ctx, rootCred, dir, c, verf, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, fsadapters.ErrBadCookie) {
			t.Errorf("cookie %d: %v, want ErrBadCookie", c, err)
		}
	}
	if _, _, err := fs.ReadDir(ctx, rootCred, dir, 5, fsadapters.CookieVerf{1}, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, fsadapters.ErrBadCookie) {
		t.Errorf("foreign verifier: %v", err)
	}
	// The last cookie resumes to an empty, eof listing.
	if _, eof, err := fs.ReadDir(ctx, rootCred, dir, n+2, verf, func(*fsadapters.DirEntry) bool { t.Error("entry after the end"); return true }); err != nil || !eof {
		t.Errorf("resume at the last cookie: eof=%v %v", eof, err)
	}
	// A restart gives the same verifier and cookies.
	fs2 := New(newFake("a", n), "a.img", nil)
	var name string
	if _, _, err := fs2.ReadDir(ctx, rootCred, dir, 3+500, verf, func(de *fsadapters.DirEntry) bool { name = de.Name; return false }); err != nil || name != "e00501" {
		t.Errorf("cookie after restart: %q %v", name, err)
	}
}

func TestDirCacheBounded(t *testing.T) {
	c := newDirCache()
	for i := 1; i <= dirCacheDirs+10; i++ {
		putListing(c, Ino(i), make([]Dirent, 3))
	}
	if c.Len() != dirCacheDirs || c.Used() != 3*dirCacheDirs {
		t.Errorf("cache holds %d listings, %d entries", c.Len(), c.Used())
	}
	if _, ok := c.Get(1); ok {
		t.Error("oldest listing not evicted")
	}
	putListing(c, 99999, make([]Dirent, dirCacheEntries))
	if c.Used() > dirCacheEntries {
		t.Errorf("%d entries cached", c.Used())
	}
}

func TestFaultsBecomeEIO(t *testing.T) {
	for _, kind := range []string{"panic", "corrupt"} {
		t.Run(kind, func(t *testing.T) {
			var lb logBuf
			fk := newFake("a", 0)
			fs := New(fk, "/images/bad.img", lb.logger())
			fh, _ := lookupPath(t, fs, "dir/inner.txt")
			dir, _ := lookupPath(t, fs, "dir")
			ffh, _ := lookupPath(t, fs, "file.txt")
			f, err := fs.Open(ctx, rootCred, ffh, fsadapters.OpenRead)
			if err != nil {
				t.Fatal(err)
			}
			bad := Ino(4) // dir/inner.txt
			if kind == "panic" {
				fk.panicOn = bad
			} else {
				fk.corruptOn = bad
			}
			for i := 0; i < 5; i++ {
				if _, err := fs.GetAttr(ctx, fh); !errors.Is(err, unix.EIO) {
					t.Errorf("GetAttr: %v, want EIO", err)
				}
			}
			if _, _, err := fs.Lookup(ctx, rootCred, dir, "inner.txt"); !errors.Is(err, unix.EIO) {
				t.Errorf("Lookup: %v, want EIO", err)
			}
			if _, _, err := fs.ReadDir(ctx, rootCred, dir, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { return true }); !errors.Is(err, unix.EIO) {
				t.Errorf("ReadDir: %v, want EIO", err)
			}
			// A reader that fails while reading data.
			fk.panicOn, fk.corruptOn = 0, 0
			f.(*file).ra = faultyReaderAt(kind)
			if _, _, err := f.ReadAt(make([]byte, 4), 0); !errors.Is(err, unix.EIO) {
				t.Errorf("ReadAt: %v, want EIO", err)
			}
			logs := lb.String()
			if kind == "corrupt" {
				if c := strings.Count(logs, "offset=4096"); c != 1 {
					t.Errorf("corrupt offset logged %d times, want once:\n%s", c, logs)
				}
				if !strings.Contains(logs, "/images/bad.img") || !strings.Contains(logs, "format=fake") {
					t.Errorf("log does not name the image and format:\n%s", logs)
				}
			} else if !strings.Contains(logs, "panicked") {
				t.Errorf("no panic log line:\n%s", logs)
			}
			if _, err := fs.GetAttr(ctx, fs.Root()); err != nil {
				t.Errorf("root after faults: %v", err)
			}
		})
	}
}

type faultyReaderAt string

func (k faultyReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if k == "panic" {
		var m map[int]int
		m[0]++ // nil map write: a real runtime panic
	}
	return 0, Corrupt("fake", 8192, "data block", nil)
}

func TestConcurrentReads(t *testing.T) {
	fs := New(newFake("a", 300), "a.img", nil)
	dir, _ := lookupPath(t, fs, "many")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				cnt := 0
				if _, _, err := fs.ReadDir(ctx, rootCred, dir, 0, fsadapters.CookieVerf{}, func(*fsadapters.DirEntry) bool { cnt++; return true }); err != nil || cnt != 300 {
					t.Errorf("ReadDir: %d entries, %v", cnt, err)
					return
				}
				fh, _, err := fs.Lookup(ctx, rootCred, dir, fmt.Sprintf("e%05d", i))
				if err != nil {
					t.Error(err)
					return
				}
				f, err := fs.Open(ctx, rootCred, fh, fsadapters.OpenRead)
				if err != nil {
					t.Error(err)
					return
				}
				p := make([]byte, 8)
				if n, eof, err := f.ReadAt(p, 0); n != 1 || !eof || err != nil {
					t.Errorf("ReadAt = %d %v %v", n, eof, err)
				}
			}
		}()
	}
	wg.Wait()
}
