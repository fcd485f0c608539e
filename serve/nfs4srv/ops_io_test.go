package nfs4srv

import (
	"bytes"
	"context"
	"math"
	"testing"
	"unsafe"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// These tests call the I/O handlers directly on a compound whose current
// filehandle is set by hand, so they do not depend on PUTFH/OPEN; the
// end-to-end path is covered in serve/e2e_test.

type ioEnv struct {
	t    testing.TB
	s    *Server
	fs   fsadapters.FS
	file fsadapters.FileHandle // regular file "f"
	dir  fsadapters.FileHandle // directory "d"
	link fsadapters.FileHandle // symlink "l"
}

func newIOEnv(t testing.TB, fs fsadapters.FS, maxIO uint32) *ioEnv {
	s := New(Config{FS: fs, MaxIO: maxIO})
	t.Cleanup(s.Close)
	ctx, root := context.Background(), fs.Root()
	e := &ioEnv{t: t, s: s, fs: fs}
	var err error
	if e.file, _, _, err = fs.Create(ctx, &fsadapters.Root, root, "f", &fsadapters.CreateReq{
		Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	if e.dir, _, err = fs.Mkdir(ctx, &fsadapters.Root, root, "d", &fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if e.link, _, err = fs.Symlink(ctx, &fsadapters.Root, root, "l", "f", &fsadapters.SetAttr{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// comp returns a compound (minor 0, root credentials) with h as current FH.
func (e *ioEnv) comp(h fsadapters.FileHandle) *compound {
	c := &compound{s: e.s, ctx: context.Background(), cred: fsadapters.Root}
	if st := c.cur.set(wireFH(0, h)); st != nfs4.OK {
		e.t.Fatalf("set FH: %v", st)
	}
	return c
}

// done runs the compound's release functions, as the engine does after
// the reply is written.
func done(c *compound) {
	for _, f := range c.release {
		f()
	}
}

func (e *ioEnv) write(h fsadapters.FileHandle, off uint64, p []byte, stable uint32) *nfs4.WriteRes {
	return opWrite(e.comp(h), &nfs4.WriteArgs{StateID: nfs4.AnonStateID, Offset: off, Stable: stable, Data: p}).(*nfs4.WriteRes)
}

func (e *ioEnv) read(h fsadapters.FileHandle, off uint64, n uint32) *nfs4.ReadRes {
	c := e.comp(h)
	r := opRead(c, &nfs4.ReadArgs{StateID: nfs4.AnonStateID, Offset: off, Count: n}).(*nfs4.ReadRes)
	r.Data = bytes.Clone(r.Data) // the pooled buffer goes back now
	done(c)
	return r
}

func backends(t *testing.T) map[string]func() fsadapters.FS {
	return map[string]func() fsadapters.FS{
		"mem": func() fsadapters.FS { return mem.New() },
		"dir": func() fsadapters.FS {
			fs, err := dir.New(t.TempDir(), dir.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return fs
		},
	}
}

func TestReadWrite(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newIOEnv(t, mk(), 0)
			data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
			w := e.write(e.file, 0, data, nfs4.FileSync4)
			if w.Status != nfs4.OK || w.Count != uint32(len(data)) || w.Committed != nfs4.FileSync4 || w.WriteVerf != e.s.writeVerf {
				t.Fatalf("FILE_SYNC write: %+v", w)
			}
			w = e.write(e.file, uint64(len(data)), []byte("tail"), nfs4.Unstable4)
			if w.Status != nfs4.OK || w.Committed != nfs4.Unstable4 || w.WriteVerf != e.s.writeVerf {
				t.Fatalf("UNSTABLE write: %+v", w)
			}
			// DATA_SYNC4 is answered with the stronger FILE_SYNC4.
			if w = e.write(e.file, 0, data[:10], nfs4.DataSync4); w.Committed != nfs4.FileSync4 {
				t.Fatalf("DATA_SYNC write: %+v", w)
			}
			want := append(bytes.Clone(data), "tail"...)
			r := e.read(e.file, 0, 1<<20)
			if r.Status != nfs4.OK || !r.EOF || !bytes.Equal(r.Data, want) {
				t.Fatalf("read back: status %v eof %v len %d", r.Status, r.EOF, len(r.Data))
			}
			r = e.read(e.file, 5, 10)
			if r.Status != nfs4.OK || r.EOF || string(r.Data) != "56789abcde" {
				t.Fatalf("partial read: %+v", r)
			}
			// Past EOF: OK, eof, no data (pynfs RD5, RD5a).
			for _, off := range []uint64{uint64(len(want)), 1 << 40, 0x7ffffffffffffffc, math.MaxUint64} {
				if r = e.read(e.file, off, 10); r.Status != nfs4.OK || !r.EOF || len(r.Data) != 0 {
					t.Fatalf("read at %#x: %+v", off, r)
				}
			}
			// Zero count mid-file: OK, not eof (pynfs RD6).
			if r = e.read(e.file, 5, 0); r.Status != nfs4.OK || r.EOF || len(r.Data) != 0 {
				t.Fatalf("zero read: %+v", r)
			}
			// Empty write is fine (pynfs WRT4).
			if w = e.write(e.file, 3, nil, nfs4.Unstable4); w.Status != nfs4.OK || w.Count != 0 {
				t.Fatalf("empty write: %+v", w)
			}
		})
	}
}

func TestReadWriteLimits(t *testing.T) {
	e := newIOEnv(t, mem.New(), 4096)
	big := bytes.Repeat([]byte{7}, 10000)
	// More than maxwrite: a short write of maxwrite bytes.
	if w := e.write(e.file, 0, big, nfs4.Unstable4); w.Status != nfs4.OK || w.Count != 4096 {
		t.Fatalf("oversized write: %+v", w)
	}
	e.write(e.file, 4096, big[:5000], nfs4.Unstable4)
	// READ count is clamped to maxread.
	if r := e.read(e.file, 0, 1<<20); r.Status != nfs4.OK || len(r.Data) != 4096 || r.EOF {
		t.Fatalf("clamped read: status %v len %d eof %v", r.Status, len(r.Data), r.EOF)
	}
	// Offsets the backend cannot take.
	if w := e.write(e.file, math.MaxInt64-1, []byte("ab"), nfs4.Unstable4); w.Status != nfs4.ErrFBig {
		t.Fatalf("write past max offset: %v", w.Status)
	}
	if w := e.write(e.file, math.MaxUint64, []byte("a"), nfs4.Unstable4); w.Status != nfs4.ErrFBig {
		t.Fatalf("write at 2^64-1: %v", w.Status)
	}
	if w := e.write(e.file, 0, []byte("a"), 3); w.Status != nfs4.ErrBadXDR {
		t.Fatalf("stable_how 3: %v", w.Status)
	}
}

// READ/WRITE/COMMIT on non-regular files: ISDIR for directories, INVAL for
// the rest (pynfs RD7/WRT7/CMT2 families).
func TestIONonRegular(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newIOEnv(t, mk(), 0)
			for _, tc := range []struct {
				h    fsadapters.FileHandle
				want nfs4.Status
			}{{e.dir, nfs4.ErrIsDir}, {e.link, nfs4.ErrInval}} {
				if r := e.read(tc.h, 0, 10); r.Status != tc.want {
					t.Errorf("READ: %v, want %v", r.Status, tc.want)
				}
				if w := e.write(tc.h, 0, []byte("x"), nfs4.Unstable4); w.Status != tc.want {
					t.Errorf("WRITE: %v, want %v", w.Status, tc.want)
				}
				if r := opCommit(e.comp(tc.h), &nfs4.CommitArgs{}).(*nfs4.CommitRes); r.Status != tc.want {
					t.Errorf("COMMIT: %v, want %v", r.Status, tc.want)
				}
			}
		})
	}
}

func TestCommit(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newIOEnv(t, mk(), 0)
			e.write(e.file, 0, []byte("hello"), nfs4.Unstable4)
			for _, a := range []nfs4.CommitArgs{{}, {Offset: 1}, {Offset: 1, Count: 1}, {Count: math.MaxUint32},
				{Offset: math.MaxUint64}} { // count 0 means "to EOF": no overflow
				r := opCommit(e.comp(e.file), &a).(*nfs4.CommitRes)
				if r.Status != nfs4.OK || r.WriteVerf != e.s.writeVerf {
					t.Fatalf("COMMIT %+v: %+v", a, r)
				}
			}
			r := opCommit(e.comp(e.file), &nfs4.CommitArgs{Offset: math.MaxUint64, Count: 2}).(*nfs4.CommitRes)
			if r.Status != nfs4.ErrInval {
				t.Fatalf("COMMIT overflowing range: %v", r.Status)
			}
		})
	}
}

// A write-only file (mode 0200) can still be COMMITted by its writer.
func TestCommitWriteOnly(t *testing.T) {
	fs := mem.New()
	e := newIOEnv(t, fs, 0)
	mode := fsadapters.SetAttr{Valid: fsadapters.SetMode | fsadapters.SetUID, Mode: 0o200, UID: 1000}
	if _, err := fs.SetAttr(context.Background(), &fsadapters.Root, e.file, &mode); err != nil {
		t.Fatal(err)
	}
	c := e.comp(e.file)
	c.cred = fsadapters.Cred{UID: 1000, GID: 1000}
	if r := opCommit(c, &nfs4.CommitArgs{}).(*nfs4.CommitRes); r.Status != nfs4.OK {
		t.Fatalf("COMMIT of write-only file by owner: %v", r.Status)
	}
	c.cred = fsadapters.Cred{UID: 1001, GID: 1001}
	if r := opCommit(c, &nfs4.CommitArgs{}).(*nfs4.CommitRes); r.Status != nfs4.ErrAccess {
		t.Fatalf("COMMIT by a stranger: %v, want ACCESS", r.Status)
	}
}

func TestSeekAllocate(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newIOEnv(t, mk(), 0)
			seek := func(off uint64, what uint32) *nfs4.SeekRes {
				c := e.comp(e.file)
				c.minor = 2
				return opSeek(c, &nfs4.SeekArgs{StateID: nfs4.AnonStateID, Offset: off, What: what}).(*nfs4.SeekRes)
			}
			alloc := func(op func(*compound, nfs4.Args) nfs4.Res, off, n uint64) nfs4.Status {
				c := e.comp(e.file)
				c.minor = 2
				return op(c, &nfs4.AllocateArgs{StateID: nfs4.AnonStateID, Offset: off, Length: n}).GetStatus()
			}
			dealloc := func(c *compound, a nfs4.Args) nfs4.Res {
				return opDeallocate(c, (*nfs4.DeallocateArgs)(a.(*nfs4.AllocateArgs)))
			}
			const size = 1 << 20
			if st := alloc(opAllocate, 0, size); st != nfs4.OK {
				t.Fatalf("ALLOCATE: %v", st)
			}
			if a, _ := e.fs.GetAttr(context.Background(), e.file); a.Size != size {
				t.Fatalf("size after ALLOCATE = %d", a.Size)
			}
			e.write(e.file, 0, bytes.Repeat([]byte{1}, size), nfs4.Unstable4)
			if st := alloc(dealloc, 0, 1<<16); st != nfs4.OK {
				t.Fatalf("DEALLOCATE: %v", st)
			}
			if r := e.read(e.file, 0, 1<<17); !bytes.Equal(r.Data[:1<<16], make([]byte, 1<<16)) || r.Data[1<<16] != 1 {
				t.Fatal("DEALLOCATE did not zero exactly its range")
			}
			if r := seek(0, nfs4.ContentData); r.Status != nfs4.OK || r.Offset > 1<<16 || r.EOF {
				t.Fatalf("SEEK data: %+v", r)
			}
			// Whatever holes the backend reports, the last one is at EOF.
			if r := seek(1<<17, nfs4.ContentHole); r.Status != nfs4.OK || r.Offset != size || !r.EOF {
				t.Fatalf("SEEK hole: %+v", r)
			}
			if r := seek(size, nfs4.ContentData); r.Status != nfs4.ErrNXIO {
				t.Fatalf("SEEK at EOF: %v", r.Status)
			}
			if r := seek(0, 7); r.Status != nfs4.ErrUnionNotSupp {
				t.Fatalf("SEEK what=7: %v", r.Status)
			}
			if st := alloc(opAllocate, 0, 0); st != nfs4.ErrInval {
				t.Fatalf("ALLOCATE length 0: %v", st)
			}
			if st := alloc(opAllocate, math.MaxInt64, 2); st != nfs4.ErrFBig {
				t.Fatalf("ALLOCATE past max: %v", st)
			}
		})
	}
}

// The READ payload must go out as its own segment, aliasing the pooled
// buffer, and the buffer is returned by the release function.
func TestReadZeroCopy(t *testing.T) {
	e := newIOEnv(t, mem.New(), 0)
	e.write(e.file, 0, []byte("payload!x"), nfs4.Unstable4)
	c := e.comp(e.file)
	res := opRead(c, &nfs4.ReadArgs{StateID: nfs4.AnonStateID, Count: 100}).(*nfs4.ReadRes)
	if len(c.release) != 1 {
		t.Fatalf("READ registered %d release funcs, want 1", len(c.release))
	}
	c.result(nfs4.OpRead, res)
	c.segs = append(c.segs, c.enc.Buf[c.segFrom:])
	if len(c.segs) != 4 || string(c.segs[1]) != "payload!x" || len(c.segs[2]) != 3 {
		t.Fatalf("segments: %q", c.segs)
	}
	if unsafe.SliceData(c.segs[1]) != unsafe.SliceData(res.Data) {
		t.Fatal("READ payload was copied")
	}
	done(c)
}

// BenchmarkReadHandler measures the READ handler and its encoding for 1 MiB
// (mem backend, so the copy out of the backend dominates).
func BenchmarkReadHandler(b *testing.B) {
	e := newIOEnv(b, mem.New(), 0)
	e.write(e.file, 0, make([]byte, 1<<20), nfs4.Unstable4)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		c := e.comp(e.file)
		res := opRead(c, &nfs4.ReadArgs{StateID: nfs4.AnonStateID, Count: 1 << 20})
		c.result(nfs4.OpRead, res)
		done(c)
	}
}
