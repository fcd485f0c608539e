// Package fstest is the reusable conformance suite for fsadapters backends,
// in the spirit of go-fuse's posixtest and gVisor's lisafs test suite.
//
// A backend's own _test file calls it with a constructor that returns a
// fresh, empty filesystem (it may use t.TempDir and t.Cleanup):
//
//	func TestConformance(t *testing.T) {
//		fstest.Run(t, func(t *testing.T) fsadapters.FS { return mem.New() })
//	}
//
// Run starts one subtest per behaviour, each on its own FS, so a failure
// names the behaviour (go test -run 'TestConformance/Rename'). The tests
// call the backend as fs_serv would: with handles and explicit Creds (uid 0,
// and uids 1000 and 1001 for permission tests; a backend that maps Creds to
// real OS identities needs the test process to run as root), checking
// errors with errors.Is so backends may wrap errnos. newFS's root must be a
// directory uid 0 can write; the suite never changes the root's attributes.
//
// Covered: root and attributes of new objects (type, mode, nlink, owner
// from Cred, size, unique fileid, times); the three create modes; I/O round
// trips including a sparse write beyond 4 GiB and the eof flag; truncate,
// chmod, chown, utimes and the change attribute; mkdir/rmdir/remove;
// rename (within and across directories, replacing, noReplace, dir/file
// mismatches, into its own subtree); handle stability across rename and
// staleness after the last link is gone; link, symlink/readlink, mknod
// (honouring Caps().NoHardLinks/NoSymlinks/NoDevices); readdir paging over
// 1000 entries with cookie resume and verifier checks; LookupParent;
// POSIX permissions and sticky directories for a non-root Cred; StatFS;
// CheckHandle on malformed handles; concurrent writers and racing
// EXCLUSIVE creates.
//
// Contract points the suite pins down beyond fsadapters' doc comments:
//   - when ReadDir's fn returns false the entry it was given counts as not
//     delivered: eof must then be false and the client resumes from the
//     cookie of the last accepted entry;
//   - ReadDir entries carry the same handle bytes Lookup returns;
//   - sticky-directory denials may be EPERM (Linux) or EACCES.
//
// RunReadOnly checks a read-only backend over a pre-populated tree: Caps
// says ReadOnly and every modifying call fails with unix.EROFS.
package fstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters"
	"golang.org/x/sys/unix"
)

var (
	root = &fsadapters.Cred{}
	user = &fsadapters.Cred{UID: 1000, GID: 1000}
	// other is a second unprivileged user (sticky-bit tests).
	other = &fsadapters.Cred{UID: 1001, GID: 1001}
)

type testCase struct {
	name string
	fn   func(e *env)
}

var tests = []testCase{
	{"RootIsDir", testRootIsDir},
	{"CreateAttrs", testCreateAttrs},
	{"CreateUnchecked", testCreateUnchecked},
	{"CreateGuarded", testCreateGuarded},
	{"CreateExclusive", testCreateExclusive},
	{"LookupErrors", testLookupErrors},
	{"ReadWrite", testReadWrite},
	{"SparseBeyond4G", testSparse},
	{"Truncate", testTruncate},
	{"Chmod", testChmod},
	{"Chown", testChown},
	{"Utimes", testUtimes},
	{"ChangeAttr", testChangeAttr},
	{"MkdirRmdir", testMkdirRmdir},
	{"RemoveFile", testRemoveFile},
	{"RenameSameDir", testRenameSameDir},
	{"RenameAcrossDirs", testRenameAcrossDirs},
	{"RenameOverFile", testRenameOverFile},
	{"RenameNoReplace", testRenameNoReplace},
	{"RenameDirErrors", testRenameDirErrors},
	{"HandleAfterRename", testHandleAfterRename},
	{"StaleAfterRemove", testStaleAfterRemove},
	{"Link", testLink},
	{"Symlink", testSymlink},
	{"MknodFIFO", testMknod},
	{"ReadDirEmpty", testReadDirEmpty},
	{"ReadDirPaged", testReadDirPaged},
	{"ReadDirBadCookie", testReadDirBadCookie},
	{"LookupParent", testLookupParent},
	{"Permissions", testPermissions},
	{"SetAttrPermissions", testSetAttrPermissions},
	{"Sticky", testSticky},
	{"StatFS", testStatFS},
	{"CheckHandle", testCheckHandle},
	{"ConcurrentWrites", testConcurrentWrites},
	{"ConcurrentExclusive", testConcurrentExclusive},
}

// Run runs the conformance suite; newFS is called once per subtest and must
// return an empty, writable filesystem whose root uid 0 may modify.
func Run(t *testing.T, newFS func(t *testing.T) fsadapters.FS) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFS(t)
			tc.fn(&env{t: t, fs: fs, ctx: t.Context(), caps: fs.Caps(), root: fs.Root()})
		})
	}
}

// env bundles one subtest's filesystem with assertion helpers. Helpers that
// "must" succeed call t.Fatalf with the op and name on error.
type env struct {
	t    *testing.T
	fs   fsadapters.FS
	ctx  context.Context
	caps fsadapters.Caps
	root fsadapters.FileHandle
}

func modeAttrs(mode uint32) fsadapters.SetAttr {
	return fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: mode}
}

func (e *env) create(cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, mode uint32) (fsadapters.FileHandle, fsadapters.Attr) {
	e.t.Helper()
	fh, a, created, err := e.fs.Create(e.ctx, cred, dir, name, &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded, Attrs: modeAttrs(mode)})
	if err != nil {
		e.t.Fatalf("Create(%q): %v", name, err)
	}
	if !created {
		e.t.Fatalf("Create(%q) GUARDED: created=false", name)
	}
	return fh, a
}

func (e *env) mkdir(cred *fsadapters.Cred, dir fsadapters.FileHandle, name string, mode uint32) (fsadapters.FileHandle, fsadapters.Attr) {
	e.t.Helper()
	sa := modeAttrs(mode)
	fh, a, err := e.fs.Mkdir(e.ctx, cred, dir, name, &sa)
	if err != nil {
		e.t.Fatalf("Mkdir(%q): %v", name, err)
	}
	return fh, a
}

func (e *env) getattr(fh fsadapters.FileHandle, what string) fsadapters.Attr {
	e.t.Helper()
	a, err := e.fs.GetAttr(e.ctx, fh)
	if err != nil {
		e.t.Fatalf("GetAttr(%s): %v", what, err)
	}
	return a
}

func (e *env) lookup(cred *fsadapters.Cred, dir fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr) {
	e.t.Helper()
	fh, a, err := e.fs.Lookup(e.ctx, cred, dir, name)
	if err != nil {
		e.t.Fatalf("Lookup(%q): %v", name, err)
	}
	return fh, a
}

func (e *env) setattr(cred *fsadapters.Cred, fh fsadapters.FileHandle, what string, sa fsadapters.SetAttr) fsadapters.Attr {
	e.t.Helper()
	a, err := e.fs.SetAttr(e.ctx, cred, fh, &sa)
	if err != nil {
		e.t.Fatalf("SetAttr(%s, valid=%#x): %v", what, sa.Valid, err)
	}
	return a
}

func (e *env) open(cred *fsadapters.Cred, fh fsadapters.FileHandle, what string, fl fsadapters.OpenFlags) fsadapters.File {
	e.t.Helper()
	f, err := e.fs.Open(e.ctx, cred, fh, fl)
	if err != nil {
		e.t.Fatalf("Open(%s): %v", what, err)
	}
	e.t.Cleanup(func() { f.Close() })
	return f
}

func (e *env) writeAt(f fsadapters.File, what string, p []byte, off int64) {
	e.t.Helper()
	n, err := f.WriteAt(p, off, false)
	if err != nil || n != len(p) {
		e.t.Fatalf("WriteAt(%s, off=%d, len=%d) = %d, %v", what, off, len(p), n, err)
	}
}

// readAt reads n bytes at off and returns what came back.
func (e *env) readAt(f fsadapters.File, what string, n int, off int64) ([]byte, bool) {
	e.t.Helper()
	p := make([]byte, n)
	got, eof, err := f.ReadAt(p, off)
	if err != nil {
		e.t.Fatalf("ReadAt(%s, off=%d, len=%d): %v", what, off, n, err)
	}
	return p[:got], eof
}

// writeFile creates name in dir with data.
func (e *env) writeFile(dir fsadapters.FileHandle, name string, data []byte) fsadapters.FileHandle {
	e.t.Helper()
	fh, _ := e.create(root, dir, name, 0o644)
	f := e.open(root, fh, name, fsadapters.OpenRead|fsadapters.OpenWrite)
	e.writeAt(f, name, data, 0)
	if err := f.Close(); err != nil {
		e.t.Fatalf("Close(%s): %v", name, err)
	}
	return fh
}

// readAll reads the whole file through a fresh Open.
func (e *env) readAll(fh fsadapters.FileHandle, what string) []byte {
	e.t.Helper()
	a := e.getattr(fh, what)
	f := e.open(root, fh, what, fsadapters.OpenRead)
	p, _ := e.readAt(f, what, int(a.Size)+16, 0)
	return p
}

// wantErr fails unless err matches one of want.
func (e *env) wantErr(op string, err error, want ...error) {
	e.t.Helper()
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	e.t.Errorf("%s: got error %v, want %v", op, err, want)
}

func (e *env) noEntry(dir fsadapters.FileHandle, name string) {
	e.t.Helper()
	_, _, err := e.fs.Lookup(e.ctx, root, dir, name)
	e.wantErr(fmt.Sprintf("Lookup(%q) after removal", name), err, unix.ENOENT)
}

// listAll reads dir completely (one call, fn always true).
func (e *env) listAll(cred *fsadapters.Cred, dir fsadapters.FileHandle) map[string]fsadapters.DirEntry {
	e.t.Helper()
	m := map[string]fsadapters.DirEntry{}
	_, eof, err := e.fs.ReadDir(e.ctx, cred, dir, 0, fsadapters.CookieVerf{}, func(d *fsadapters.DirEntry) bool {
		if _, dup := m[d.Name]; dup {
			e.t.Errorf("ReadDir: %q listed twice", d.Name)
		}
		m[d.Name] = *d
		return true
	})
	if err != nil {
		e.t.Fatalf("ReadDir: %v", err)
	}
	if !eof {
		e.t.Errorf("ReadDir with fn always true: eof=false")
	}
	return m
}

// settle waits long enough for the backend's clock-derived change attribute
// and ctime to move on (backends deriving Change from a coarse ctime).
func (e *env) settle() {
	d := e.caps.TimeDelta
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	time.Sleep(d)
}

func testRootIsDir(e *env) {
	if len(e.root) == 0 || len(e.root) > fsadapters.MaxHandleSize {
		e.t.Fatalf("Root(): handle length %d", len(e.root))
	}
	if err := e.fs.CheckHandle(e.ctx, e.root); err != nil {
		e.t.Errorf("CheckHandle(root): %v", err)
	}
	a := e.getattr(e.root, "root")
	if a.Type != fsadapters.TypeDir {
		e.t.Errorf("GetAttr(root).Type = %v, want directory", a.Type)
	}
	if a.Nlink < 1 {
		e.t.Errorf("GetAttr(root).Nlink = %d", a.Nlink)
	}
	if a.FileID == 0 {
		e.t.Errorf("GetAttr(root).FileID = 0")
	}
	if got := e.listAll(root, e.root); len(got) != 0 {
		e.t.Errorf("ReadDir(root) of fresh FS: %d entries, want 0", len(got))
	}
}

func testCreateAttrs(e *env) {
	before := time.Now().Add(-2 * time.Second)
	dir, _ := e.mkdir(root, e.root, "d", 0o777)
	fh, a := e.create(user, dir, "f", 0o640)
	for _, ca := range []struct {
		what string
		a    fsadapters.Attr
	}{{"Create", a}, {"GetAttr", e.getattr(fh, "f")}} {
		a := ca.a
		if a.Type != fsadapters.TypeRegular || a.Mode != 0o640 || a.Nlink != 1 || a.Size != 0 {
			e.t.Errorf("%s(f): type=%v mode=%#o nlink=%d size=%d, want regular 0640 1 0", ca.what, a.Type, a.Mode, a.Nlink, a.Size)
		}
		if a.UID != user.UID || a.GID != user.GID {
			e.t.Errorf("%s(f): owner %d:%d, want %d:%d", ca.what, a.UID, a.GID, user.UID, user.GID)
		}
		for _, tm := range []struct {
			n string
			v time.Time
		}{{"atime", a.Atime}, {"mtime", a.Mtime}, {"ctime", a.Ctime}} {
			if tm.v.Before(before) || tm.v.After(time.Now().Add(2*time.Second)) {
				e.t.Errorf("%s(f): %s = %v, not about now", ca.what, tm.n, tm.v)
			}
		}
	}
	lfh, la := e.lookup(user, dir, "f")
	if !bytes.Equal(lfh, fh) {
		e.t.Errorf("Lookup(f) handle %x != Create handle %x", lfh, fh)
	}
	if la.FileID != a.FileID {
		e.t.Errorf("Lookup(f).FileID = %d, Create gave %d", la.FileID, a.FileID)
	}
	_, a2 := e.create(root, dir, "g", 0o600)
	ra := e.getattr(e.root, "root")
	da := e.getattr(dir, "d")
	ids := map[uint64]string{}
	for n, id := range map[string]uint64{"f": a.FileID, "g": a2.FileID, "root": ra.FileID, "d": da.FileID} {
		if prev, ok := ids[id]; ok {
			e.t.Errorf("FileID %d shared by %s and %s", id, prev, n)
		}
		ids[id] = n
	}
}

func testCreateUnchecked(e *env) {
	fh := e.writeFile(e.root, "f", []byte("hello"))
	fh2, a, created, err := e.fs.Create(e.ctx, root, e.root, "f", &fsadapters.CreateReq{Mode: fsadapters.CreateUnchecked, Attrs: modeAttrs(0o600)})
	if err != nil {
		e.t.Fatalf("Create(f) UNCHECKED on existing: %v", err)
	}
	if created {
		e.t.Errorf("Create(f) UNCHECKED on existing: created=true")
	}
	if !bytes.Equal(fh, fh2) {
		e.t.Errorf("Create(f) UNCHECKED on existing: handle changed")
	}
	if a.Size != 5 {
		e.t.Errorf("Create(f) UNCHECKED on existing: size %d, want 5 (not truncated)", a.Size)
	}
	if got := e.readAll(fh, "f"); string(got) != "hello" {
		e.t.Errorf("after UNCHECKED create: content %q, want hello", got)
	}
	// UNCHECKED on a missing name creates it.
	_, a, created, err = e.fs.Create(e.ctx, root, e.root, "new", &fsadapters.CreateReq{Mode: fsadapters.CreateUnchecked, Attrs: modeAttrs(0o600)})
	if err != nil || !created || a.Mode != 0o600 {
		e.t.Errorf("Create(new) UNCHECKED: created=%v mode=%#o err=%v", created, a.Mode, err)
	}
}

func testCreateGuarded(e *env) {
	e.create(root, e.root, "f", 0o644)
	_, _, _, err := e.fs.Create(e.ctx, root, e.root, "f", &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded, Attrs: modeAttrs(0o644)})
	e.wantErr("Create(f) GUARDED on existing", err, unix.EEXIST)
	e.mkdir(root, e.root, "d", 0o755)
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "d", &fsadapters.CreateReq{Mode: fsadapters.CreateGuarded, Attrs: modeAttrs(0o644)})
	e.wantErr("Create(d) GUARDED on existing dir", err, unix.EEXIST)
}

func testCreateExclusive(e *env) {
	v1 := fsadapters.CreateVerf{1, 2, 3, 4, 5, 6, 7, 8}
	v2 := fsadapters.CreateVerf{8, 7, 6, 5, 4, 3, 2, 1}
	req := func(v fsadapters.CreateVerf) *fsadapters.CreateReq {
		return &fsadapters.CreateReq{Mode: fsadapters.CreateExclusive, Verf: v, Attrs: modeAttrs(0o644)}
	}
	fh, a, created, err := e.fs.Create(e.ctx, root, e.root, "x", req(v1))
	if err != nil || !created {
		e.t.Fatalf("Create(x) EXCLUSIVE: created=%v err=%v", created, err)
	}
	if a.Type != fsadapters.TypeRegular {
		e.t.Errorf("Create(x) EXCLUSIVE: type %v", a.Type)
	}
	fh2, _, created, err := e.fs.Create(e.ctx, root, e.root, "x", req(v1))
	if err != nil || created {
		e.t.Errorf("Create(x) EXCLUSIVE retransmission: created=%v err=%v, want false, nil", created, err)
	} else if !bytes.Equal(fh, fh2) {
		e.t.Errorf("Create(x) EXCLUSIVE retransmission: different handle")
	}
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "x", req(v2))
	e.wantErr("Create(x) EXCLUSIVE other verifier", err, unix.EEXIST)
	// A file made without a verifier never matches one.
	e.create(root, e.root, "plain", 0o644)
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "plain", req(fsadapters.CreateVerf{}))
	e.wantErr("Create(plain) EXCLUSIVE on GUARDED-created file", err, unix.EEXIST)
}

func testLookupErrors(e *env) {
	_, _, err := e.fs.Lookup(e.ctx, root, e.root, "missing")
	e.wantErr("Lookup(missing)", err, unix.ENOENT)
	f, _ := e.create(root, e.root, "f", 0o644)
	_, _, err = e.fs.Lookup(e.ctx, root, f, "x")
	e.wantErr("Lookup(f/x) in a file", err, unix.ENOTDIR)
	_, _, _, err = e.fs.Create(e.ctx, root, f, "x", &fsadapters.CreateReq{Attrs: modeAttrs(0o644)})
	e.wantErr("Create(f/x) in a file", err, unix.ENOTDIR)
	sa := modeAttrs(0o755)
	_, _, err = e.fs.Mkdir(e.ctx, root, f, "x", &sa)
	e.wantErr("Mkdir(f/x) in a file", err, unix.ENOTDIR)
}

func testReadWrite(e *env) {
	fh, _ := e.create(root, e.root, "f", 0o644)
	f := e.open(root, fh, "f", fsadapters.OpenRead|fsadapters.OpenWrite)
	e.writeAt(f, "f", []byte("hello"), 0)
	e.writeAt(f, "f", []byte("world"), 10)
	want := []byte("hello\x00\x00\x00\x00\x00world")
	if a := e.getattr(fh, "f"); a.Size != uint64(len(want)) {
		e.t.Errorf("GetAttr(f).Size = %d, want %d", a.Size, len(want))
	}
	got, eof := e.readAt(f, "f", 100, 0)
	if !bytes.Equal(got, want) || !eof {
		e.t.Errorf("ReadAt(f, 0, 100) = %q eof=%v, want %q eof=true", got, eof, want)
	}
	got, eof = e.readAt(f, "f", 3, 2)
	if string(got) != "llo" || eof {
		e.t.Errorf("ReadAt(f, 2, 3) = %q eof=%v, want llo eof=false", got, eof)
	}
	got, eof = e.readAt(f, "f", 5, 10)
	if string(got) != "world" || !eof {
		e.t.Errorf("ReadAt(f, 10, 5) = %q eof=%v, want world eof=true (read ends at EOF)", got, eof)
	}
	got, eof = e.readAt(f, "f", 5, 1000)
	if len(got) != 0 || !eof {
		e.t.Errorf("ReadAt(f, 1000, 5) = %q eof=%v, want empty eof=true", got, eof)
	}
	// Overwrite in the middle; a fresh Open sees it.
	e.writeAt(f, "f", []byte("XY"), 4)
	if err := f.Sync(); err != nil {
		e.t.Errorf("Sync(f): %v", err)
	}
	if _, err := f.WriteAt([]byte("!"), 15, true); err != nil {
		e.t.Errorf("WriteAt(f, sync=true): %v", err)
	}
	if got := e.readAll(fh, "f"); string(got) != "hellXY\x00\x00\x00\x00world!" {
		e.t.Errorf("re-read f = %q", got)
	}
	// Larger than any chunk size a backend might use, unaligned.
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	e.writeAt(f, "f", big, 12345)
	got, _ = e.readAt(f, "f", len(big), 12345)
	if !bytes.Equal(got, big) {
		e.t.Errorf("ReadAt of a 300000-byte write at 12345 differs")
	}
}

func testSparse(e *env) {
	fh, _ := e.create(root, e.root, "sparse", 0o644)
	f := e.open(root, fh, "sparse", fsadapters.OpenRead|fsadapters.OpenWrite)
	const off = 5 << 30
	e.writeAt(f, "sparse", []byte("tail"), off)
	a := e.getattr(fh, "sparse")
	if a.Size != off+4 {
		e.t.Errorf("GetAttr(sparse).Size = %d, want %d", a.Size, off+4)
	}
	hole, eof := e.readAt(f, "sparse", 8192, 1<<30+100)
	if len(hole) != 8192 || eof || !bytes.Equal(hole, make([]byte, 8192)) {
		e.t.Errorf("ReadAt(sparse) of the hole: len %d eof=%v nonzero=%v", len(hole), eof, !bytes.Equal(hole, make([]byte, len(hole))))
	}
	got, eof := e.readAt(f, "sparse", 10, off-2)
	if string(got) != "\x00\x00tail" || !eof {
		e.t.Errorf("ReadAt(sparse, off-2, 10) = %q eof=%v", got, eof)
	}
	// Past 4 GiB but before the data: offsets must not wrap at 32 bits.
	got, _ = e.readAt(f, "sparse", 4, 4<<30)
	if !bytes.Equal(got, make([]byte, 4)) {
		e.t.Errorf("ReadAt(sparse, 4GiB) = %q, want zeros", got)
	}
}

func testTruncate(e *env) {
	fh := e.writeFile(e.root, "f", []byte("0123456789"))
	a := e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: 3})
	if a.Size != 3 {
		e.t.Errorf("SetAttr(f, size=3) returned size %d", a.Size)
	}
	if got := e.readAll(fh, "f"); string(got) != "012" {
		e.t.Errorf("after truncate to 3: %q", got)
	}
	e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: 8})
	if got := e.readAll(fh, "f"); string(got) != "012\x00\x00\x00\x00\x00" {
		e.t.Errorf("after extend to 8: %q, want 012 and zeros", got)
	}
	e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: 0})
	if a := e.getattr(fh, "f"); a.Size != 0 {
		e.t.Errorf("after truncate to 0: size %d", a.Size)
	}
	d, _ := e.mkdir(root, e.root, "d", 0o755)
	_, err := e.fs.SetAttr(e.ctx, root, d, &fsadapters.SetAttr{Valid: fsadapters.SetSize, Size: 0})
	e.wantErr("SetAttr(dir, size=0)", err, unix.EISDIR, unix.EINVAL)
}

func testChmod(e *env) {
	fh, _ := e.create(root, e.root, "f", 0o644)
	for _, m := range []uint32{0o600, 0o4755, 0o1777, 0} {
		a := e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: m})
		if a.Mode != m {
			e.t.Errorf("SetAttr(f, mode=%#o) returned mode %#o", m, a.Mode)
		}
		if a := e.getattr(fh, "f"); a.Mode != m || a.Type != fsadapters.TypeRegular {
			e.t.Errorf("after chmod %#o: GetAttr mode %#o type %v", m, a.Mode, a.Type)
		}
	}
}

func testChown(e *env) {
	fh, _ := e.create(root, e.root, "f", 0o644)
	a := e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetUID | fsadapters.SetGID, UID: 1000, GID: 2000})
	if a.UID != 1000 || a.GID != 2000 {
		e.t.Errorf("SetAttr(f, chown 1000:2000) returned %d:%d", a.UID, a.GID)
	}
	a = e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetGID, GID: 3000})
	if a.UID != 1000 || a.GID != 3000 {
		e.t.Errorf("SetAttr(f, chgrp 3000) gave %d:%d, want 1000:3000", a.UID, a.GID)
	}
	if g := e.getattr(fh, "f"); g.UID != 1000 || g.GID != 3000 {
		e.t.Errorf("GetAttr(f) after chown: %d:%d", g.UID, g.GID)
	}
}

func near(a, b time.Time, d time.Duration) bool {
	diff := a.Sub(b)
	if diff < 0 {
		diff = -diff
	}
	return diff <= d
}

func testUtimes(e *env) {
	fh, _ := e.create(root, e.root, "f", 0o644)
	at := time.Unix(1_500_000_000, 123_456_789)
	mt := time.Unix(1_600_000_000, 987_654_321)
	tol := max(e.caps.TimeDelta, time.Nanosecond)
	a := e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetAtime | fsadapters.SetMtime, Atime: at, Mtime: mt})
	g := e.getattr(fh, "f")
	for _, x := range []fsadapters.Attr{a, g} {
		if !near(x.Atime, at, tol) || !near(x.Mtime, mt, tol) {
			e.t.Errorf("after utimes: atime %v mtime %v, want %v %v", x.Atime, x.Mtime, at, mt)
		}
	}
	a = e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetMtimeNow})
	if !near(a.Mtime, time.Now(), 5*time.Second) {
		e.t.Errorf("SetAttr(f, SetMtimeNow): mtime %v, not about now", a.Mtime)
	}
	if !near(a.Atime, at, tol) {
		e.t.Errorf("SetAttr(f, SetMtimeNow) changed atime to %v", a.Atime)
	}
	a = e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetAtimeNow})
	if !near(a.Atime, time.Now(), 5*time.Second) {
		e.t.Errorf("SetAttr(f, SetAtimeNow): atime %v, not about now", a.Atime)
	}
}

func testChangeAttr(e *env) {
	fh, a0 := e.create(root, e.root, "f", 0o644)
	f := e.open(root, fh, "f", fsadapters.OpenWrite)
	e.settle()
	e.writeAt(f, "f", []byte("data"), 0)
	a1 := e.getattr(fh, "f")
	if a1.Change <= a0.Change {
		e.t.Errorf("Change after write: %d, was %d", a1.Change, a0.Change)
	}
	if !a1.Mtime.After(a0.Mtime) {
		e.t.Errorf("Mtime after write: %v, was %v", a1.Mtime, a0.Mtime)
	}
	e.settle()
	a2 := e.setattr(root, fh, "f", fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o600})
	if a2.Change <= a1.Change {
		e.t.Errorf("Change after chmod (SetAttr result): %d, was %d", a2.Change, a1.Change)
	}
	if a3 := e.getattr(fh, "f"); a3.Change <= a1.Change {
		e.t.Errorf("Change after chmod: %d, was %d", a3.Change, a1.Change)
	}
	// Creating an entry changes the directory.
	d0 := e.getattr(e.root, "root")
	e.settle()
	e.create(root, e.root, "g", 0o644)
	if d1 := e.getattr(e.root, "root"); d1.Change <= d0.Change {
		e.t.Errorf("root Change after create: %d, was %d", d1.Change, d0.Change)
	}
}

func testMkdirRmdir(e *env) {
	d, a := e.mkdir(root, e.root, "d", 0o750)
	if a.Type != fsadapters.TypeDir || a.Mode != 0o750 || a.Nlink != 2 || a.UID != 0 {
		e.t.Errorf("Mkdir(d): type=%v mode=%#o nlink=%d uid=%d, want dir 0750 2 0", a.Type, a.Mode, a.Nlink, a.UID)
	}
	sa := modeAttrs(0o755)
	_, _, err := e.fs.Mkdir(e.ctx, root, e.root, "d", &sa)
	e.wantErr("Mkdir(d) existing", err, unix.EEXIST)
	e.mkdir(root, d, "sub", 0o755)
	if a := e.getattr(d, "d"); a.Nlink != 3 {
		e.t.Errorf("GetAttr(d).Nlink with one subdir = %d, want 3", a.Nlink)
	}
	e.create(root, d, "file", 0o644)
	err = e.fs.Remove(e.ctx, root, e.root, "d")
	e.wantErr("Remove(d) non-empty", err, unix.ENOTEMPTY, unix.EEXIST)
	for _, n := range []string{"sub", "file"} {
		if err := e.fs.Remove(e.ctx, root, d, n); err != nil {
			e.t.Fatalf("Remove(d/%s): %v", n, err)
		}
	}
	if err := e.fs.Remove(e.ctx, root, e.root, "d"); err != nil {
		e.t.Fatalf("Remove(d) empty: %v", err)
	}
	e.noEntry(e.root, "d")
}

// RunReadOnly checks a read-only backend. newFS must return a filesystem
// whose root holds at least one regular file and one subdirectory. It
// verifies Caps().ReadOnly, that reads work, and that every modifying call
// fails with unix.EROFS — even for root and even when it would fail anyway
// for another reason only after the read-only check (e.g. a missing name).
func RunReadOnly(t *testing.T, newFS func(t *testing.T) fsadapters.FS) {
	fs := newFS(t)
	e := &env{t: t, fs: fs, ctx: t.Context(), caps: fs.Caps(), root: fs.Root()}
	if !e.caps.ReadOnly {
		t.Errorf("Caps().ReadOnly = false")
	}
	var file, dir fsadapters.FileHandle
	var fileName, dirName string
	for name, de := range e.listAll(root, e.root) {
		switch {
		case de.Attr.Type == fsadapters.TypeRegular && file == nil:
			file, fileName = de.Handle, name
		case de.Attr.Type == fsadapters.TypeDir && dir == nil:
			dir, dirName = de.Handle, name
		}
	}
	if file == nil || dir == nil {
		t.Fatalf("RunReadOnly needs a regular file and a directory in the root")
	}
	if f, err := fs.Open(e.ctx, root, file, fsadapters.OpenRead); err != nil {
		t.Errorf("Open(%s) for read: %v", fileName, err)
	} else {
		p := make([]byte, 16)
		if _, _, err := f.ReadAt(p, 0); err != nil {
			t.Errorf("ReadAt(%s): %v", fileName, err)
		}
		f.Close()
	}
	e.lookup(root, e.root, dirName)
	rofs := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, unix.EROFS) {
			t.Errorf("%s on a read-only backend: %v, want EROFS", op, err)
		}
	}
	ctx := e.ctx
	sa := modeAttrs(0o644)
	for _, m := range []fsadapters.CreateMode{fsadapters.CreateUnchecked, fsadapters.CreateGuarded, fsadapters.CreateExclusive} {
		_, _, _, err := fs.Create(ctx, root, e.root, "new", &fsadapters.CreateReq{Mode: m, Attrs: sa})
		rofs(fmt.Sprintf("Create(new, mode %d)", m), err)
	}
	_, _, _, err := fs.Create(ctx, root, e.root, fileName, &fsadapters.CreateReq{Mode: fsadapters.CreateUnchecked, Attrs: sa})
	rofs("Create(existing, UNCHECKED)", err)
	_, _, err = fs.Mkdir(ctx, root, e.root, "newdir", &sa)
	rofs("Mkdir", err)
	_, _, err = fs.Symlink(ctx, root, e.root, "newlink", "x", &sa)
	rofs("Symlink", err)
	_, _, err = fs.Mknod(ctx, root, e.root, "newfifo", fsadapters.TypeFIFO, 0, 0, &sa)
	rofs("Mknod", err)
	rofs("Link", fs.Link(ctx, root, file, dir, "newhard"))
	rofs("Remove(file)", fs.Remove(ctx, root, e.root, fileName))
	rofs("Remove(dir)", fs.Remove(ctx, root, e.root, dirName))
	rofs("Rename", fs.Rename(ctx, root, e.root, fileName, dir, "moved", false))
	for _, s := range []fsadapters.SetAttr{
		{Valid: fsadapters.SetMode, Mode: 0o600},
		{Valid: fsadapters.SetUID | fsadapters.SetGID, UID: 1, GID: 1},
		{Valid: fsadapters.SetSize, Size: 0},
		{Valid: fsadapters.SetMtimeNow | fsadapters.SetAtimeNow},
	} {
		_, err = fs.SetAttr(ctx, root, file, &s)
		rofs(fmt.Sprintf("SetAttr(%s, valid=%#x)", fileName, s.Valid), err)
	}
	_, err = fs.Open(ctx, root, file, fsadapters.OpenWrite)
	rofs("Open(OpenWrite)", err)
	if _, err := fs.StatFS(ctx, e.root); err != nil {
		t.Errorf("StatFS: %v", err)
	}
	// Nothing changed.
	if _, _, err := fs.Lookup(ctx, root, e.root, fileName); err != nil {
		t.Errorf("Lookup(%s) after refused changes: %v", fileName, err)
	}
}
