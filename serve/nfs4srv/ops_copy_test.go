package nfs4srv

import (
	"bytes"
	"context"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// copyComp is a minor-2 compound with src saved and dst current.
func (e *ioEnv) copyComp(src, dst fsadapters.FileHandle) *compound {
	c := e.comp(dst)
	c.minor = 2
	if st := c.saved.set(wireFH(0, src)); st != nfs4.OK {
		e.t.Fatalf("set saved FH: %v", st)
	}
	return c
}

func (e *ioEnv) copy(src, dst fsadapters.FileHandle, a nfs4.CopyArgs) *nfs4.CopyRes {
	a.SrcStateID, a.DstStateID = nfs4.AnonStateID, nfs4.AnonStateID
	return opCopy(e.copyComp(src, dst), &a).(*nfs4.CopyRes)
}

func (e *ioEnv) mkfile(name string) fsadapters.FileHandle {
	h, _, _, err := e.fs.Create(context.Background(), &fsadapters.Root, e.fs.Root(), name,
		&fsadapters.CreateReq{Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: 0o644}})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// noCopyFS hides the backend's Copier/Cloner, so COPY takes the read/write
// path and CLONE is unsupported.
type noCopyFS struct{ fsadapters.FS }
type plainFile struct{ fsadapters.File }

func (f noCopyFS) Open(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, fl fsadapters.OpenFlags) (fsadapters.File, error) {
	file, err := f.FS.Open(ctx, cred, fh, fl)
	if err != nil {
		return nil, err
	}
	return plainFile{file}, nil
}

func TestCopy(t *testing.T) {
	bk := backends(t)
	bk["fallback"] = func() fsadapters.FS { return noCopyFS{mem.New()} }
	for name, mk := range bk {
		t.Run(name, func(t *testing.T) {
			e := newIOEnv(t, mk(), 0)
			data := make([]byte, 3<<20+12345)
			for i := range data {
				data[i] = byte(i * 7 / 13)
			}
			for off := 0; off < len(data); off += 1 << 20 {
				if w := e.write(e.file, uint64(off), data[off:min(off+1<<20, len(data))], nfs4.Unstable4); w.Status != nfs4.OK {
					t.Fatal(w.Status)
				}
			}
			g := e.mkfile("g")
			// Count 0: to the end of the source (§15.2.3).
			r := e.copy(e.file, g, nfs4.CopyArgs{DstOffset: 5})
			if r.Status != nfs4.OK || r.Response.Count != uint64(len(data)) || r.Response.CallbackID != nil ||
				r.Response.Committed != nfs4.Unstable4 || r.Response.WriteVerf != e.s.writeVerf ||
				!r.Requirements.Consecutive || !r.Requirements.Synchronous {
				t.Fatalf("COPY: %+v", r)
			}
			var got []byte
			for off := uint64(0); ; {
				r := e.read(g, off, 1<<20)
				got, off = append(got, r.Data...), off+uint64(len(r.Data))
				if r.Status != nfs4.OK || r.EOF {
					break
				}
			}
			if !bytes.Equal(got[:5], make([]byte, 5)) || !bytes.Equal(got[5:], data) {
				t.Fatalf("copy differs: %d bytes", len(got))
			}
			// A middle range.
			r = e.copy(e.file, g, nfs4.CopyArgs{SrcOffset: 100, DstOffset: 0, Count: 1000})
			if r.Status != nfs4.OK || r.Response.Count != 1000 {
				t.Fatalf("COPY range: %+v", r)
			}
			if got := e.read(g, 0, 1005); !bytes.Equal(got.Data[:1000], data[100:1100]) || !bytes.Equal(got.Data[1000:], data[995:1000]) {
				t.Fatal("range copy wrote the wrong bytes")
			}
			// Same file, disjoint ranges: allowed; overlapping: INVAL.
			if r = e.copy(e.file, e.file, nfs4.CopyArgs{SrcOffset: 0, DstOffset: 4 << 20, Count: 10}); r.Status != nfs4.OK || r.Response.Count != 10 {
				t.Fatalf("same-file COPY: %+v", r)
			}
			if r = e.copy(e.file, e.file, nfs4.CopyArgs{SrcOffset: 0, DstOffset: 5, Count: 10}); r.Status != nfs4.ErrInval {
				t.Fatalf("overlapping COPY: %v", r.Status)
			}
			size := uint64(4<<20 + 10)
			for _, a := range []nfs4.CopyArgs{
				{SrcOffset: size + 1},             // offset past EOF
				{SrcOffset: size - 5, Count: 6},   // range past EOF
				{SrcOffset: 1, Count: ^uint64(0)}, // overflowing range
			} {
				if r = e.copy(e.file, g, a); r.Status != nfs4.ErrInval {
					t.Errorf("COPY %+v: %v, want INVAL", a, r.Status)
				}
			}
			if r = e.copy(e.file, g, nfs4.CopyArgs{SrcOffset: size}); r.Status != nfs4.OK || r.Response.Count != 0 {
				t.Fatalf("COPY at EOF: %+v", r)
			}
			if r = e.copy(e.file, g, nfs4.CopyArgs{DstOffset: 1 << 63, Count: 1}); r.Status != nfs4.ErrFBig {
				t.Fatalf("COPY past max size: %v", r.Status)
			}
			for _, tc := range []struct {
				src, dst fsadapters.FileHandle
				want     nfs4.Status
			}{
				{e.dir, g, nfs4.ErrIsDir}, {e.file, e.dir, nfs4.ErrIsDir},
				{e.link, g, nfs4.ErrWrongType}, {e.file, e.link, nfs4.ErrWrongType},
			} {
				if r = e.copy(tc.src, tc.dst, nfs4.CopyArgs{}); r.Status != tc.want {
					t.Errorf("COPY non-regular: %v, want %v", r.Status, tc.want)
				}
			}
			// Inter-server copy is not offered.
			r = e.copy(e.file, g, nfs4.CopyArgs{SourceServer: []nfs4.NetLoc{{Type: nfs4.NL4Name, Name: []byte("other")}}})
			if r.Status != nfs4.ErrNotSupp {
				t.Fatalf("inter-server COPY: %v", r.Status)
			}
			// An unknown stateid is refused like READ's.
			c := e.copyComp(e.file, g)
			bad := nfs4.StateID{SeqID: 1, Other: [12]byte{9, 9, 9}}
			if r = opCopy(c, &nfs4.CopyArgs{SrcStateID: bad, DstStateID: nfs4.AnonStateID}).(*nfs4.CopyRes); r.Status == nfs4.OK {
				t.Fatal("COPY with a bogus source stateid succeeded")
			}
			if r = opCopy(c, &nfs4.CopyArgs{SrcStateID: nfs4.AnonStateID, DstStateID: bad}).(*nfs4.CopyRes); r.Status == nfs4.OK {
				t.Fatal("COPY with a bogus destination stateid succeeded")
			}
		})
	}
}

// Source and destination on different exports: NFS4ERR_XDEV.
func TestCopyXDev(t *testing.T) {
	e := newIOEnv(t, mem.New(), 0)
	c := e.copyComp(e.file, e.mkfile("g"))
	c.saved.ex = 1
	if r := opCopy(c, &nfs4.CopyArgs{}).(*nfs4.CopyRes); r.Status != nfs4.ErrXDev {
		t.Fatalf("COPY across exports: %v", r.Status)
	}
	if r := opClone(c, &nfs4.CloneArgs{}).(*nfs4.CloneRes); r.Status != nfs4.ErrXDev {
		t.Fatalf("CLONE across exports: %v", r.Status)
	}
}

// One COPY moves at most copyMax bytes; the client loops on the rest.
func TestCopyCap(t *testing.T) {
	e := newIOEnv(t, mem.New(), 0)
	c := e.comp(e.file)
	if st := opAllocate(c, &nfs4.AllocateArgs{StateID: nfs4.AnonStateID, Length: copyMax + 4096}).GetStatus(); st != nfs4.OK {
		t.Fatal(st)
	}
	e.write(e.file, copyMax, []byte("tail"), nfs4.Unstable4)
	g := e.mkfile("g")
	r := e.copy(e.file, g, nfs4.CopyArgs{})
	if r.Status != nfs4.OK || r.Response.Count != copyMax {
		t.Fatalf("first COPY: %v count %d", r.Status, r.Response.Count)
	}
	r = e.copy(e.file, g, nfs4.CopyArgs{SrcOffset: copyMax, DstOffset: copyMax})
	if r.Status != nfs4.OK || r.Response.Count != 4096 {
		t.Fatalf("second COPY: %v count %d", r.Status, r.Response.Count)
	}
	if got := e.read(g, copyMax, 10); string(got.Data[:4]) != "tail" {
		t.Fatalf("tail: %q", got.Data)
	}
}

func TestClone(t *testing.T) {
	clone := func(e *ioEnv, src, dst fsadapters.FileHandle, a nfs4.CloneArgs) nfs4.Status {
		a.SrcStateID, a.DstStateID = nfs4.AnonStateID, nfs4.AnonStateID
		return opClone(e.copyComp(src, dst), &a).GetStatus()
	}
	e := newIOEnv(t, mem.New(), 0)
	e.write(e.file, 0, []byte("hello, world"), nfs4.Unstable4)
	g := e.mkfile("g")
	if st := clone(e, e.file, g, nfs4.CloneArgs{SrcOffset: 7, DstOffset: 1}); st != nfs4.OK {
		t.Fatal(st)
	}
	if got := e.read(g, 0, 100); string(got.Data) != "\x00world" {
		t.Fatalf("clone: %q", got.Data)
	}
	if st := clone(e, e.file, g, nfs4.CloneArgs{SrcOffset: 7, Count: 6}); st != nfs4.ErrInval {
		t.Fatalf("CLONE past EOF: %v", st)
	}
	if st := clone(e, e.file, e.file, nfs4.CloneArgs{SrcOffset: 0, DstOffset: 2, Count: 4}); st != nfs4.ErrInval {
		t.Fatalf("overlapping CLONE: %v", st)
	}
	// Backends without Cloner: NOTSUPP.
	e = newIOEnv(t, noCopyFS{mem.New()}, 0)
	e.write(e.file, 0, []byte("x"), nfs4.Unstable4)
	if st := clone(e, e.file, e.mkfile("g"), nfs4.CloneArgs{}); st != nfs4.ErrNotSupp {
		t.Fatalf("CLONE without Cloner: %v", st)
	}
}
