package nfs4srv

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// These tests drive whole COMPOUNDs (minor version 0) through
// Server.Compound and decode the replies as a client would.

type nsEnv struct {
	t  *testing.T
	s  *Server
	fs fsadapters.FS
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *nsEnv)) {
	for _, name := range []string{"mem", "dir"} {
		t.Run(name, func(t *testing.T) {
			var fs fsadapters.FS = mem.New()
			if name == "dir" {
				d, err := dir.New(t.TempDir(), dir.Options{})
				if err != nil {
					t.Fatal(err)
				}
				fs = d
			}
			s := New(Config{FS: fs})
			t.Cleanup(s.Close)
			fn(t, &nsEnv{t: t, s: s, fs: fs})
		})
	}
}

// run sends ops as uid (gid = uid) and returns the decoded reply.
func (e *nsEnv) run(uid uint32, ops ...nfs4.ArgOp) *nfs4.CompoundRes {
	e.t.Helper()
	return e.runMinor(0, uid, ops...)
}

func (e *nsEnv) runMinor(minor, uid uint32, ops ...nfs4.ArgOp) *nfs4.CompoundRes {
	e.t.Helper()
	var enc xdr.Encoder
	(&nfs4.CompoundArgs{Tag: []byte("t"), MinorVersion: minor, Ops: ops}).Encode(&enc)
	auth := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "test", UID: uid, GID: uid})
	reply, release := e.s.Compound(context.Background(), &auth, nil, enc.Buf)
	var body []byte
	for _, b := range reply {
		body = append(body, b...)
	}
	release()
	var res nfs4.CompoundRes
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if d.Err() != nil || d.Remaining() != 0 {
		e.t.Fatalf("decode reply: %v (%d bytes left)", d.Err(), d.Remaining())
	}
	return &res
}

// expect checks the compound status and the number of results.
func (e *nsEnv) expect(r *nfs4.CompoundRes, st nfs4.Status, n int) {
	e.t.Helper()
	if r.Status != st || len(r.Results) != n {
		var got []string
		for _, x := range r.Results {
			got = append(got, fmt.Sprintf("%v:%d", x.Op, x.Res.GetStatus()))
		}
		e.t.Fatalf("status %d with %d results %v, want %d with %d", r.Status, len(r.Results), got, st, n)
	}
}

func bm(attrs ...int) nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, a := range attrs {
		b.Set(a)
	}
	return b
}

// fattr encodes the values of a for mask as a client sends them.
func fattr(mask nfs4.Bitmap, a *nfs4.Attrs) nfs4.Fattr {
	var enc xdr.Encoder
	if err := nfs4.AppendAttrVals(&enc, mask, a); err != nil {
		panic(err)
	}
	return nfs4.Fattr{Mask: mask, Vals: enc.Buf}
}

func putRoot() nfs4.ArgOp { return nfs4.ArgOp{Op: nfs4.OpPutRootFH, Args: &nfs4.PutRootFHArgs{}} }
func putFH(fh []byte) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpPutFH, Args: &nfs4.PutFHArgs{Object: fh}}
}
func getFH() nfs4.ArgOp    { return nfs4.ArgOp{Op: nfs4.OpGetFH, Args: &nfs4.GetFHArgs{}} }
func saveFH() nfs4.ArgOp   { return nfs4.ArgOp{Op: nfs4.OpSaveFH, Args: &nfs4.SaveFHArgs{}} }
func lookupP() nfs4.ArgOp  { return nfs4.ArgOp{Op: nfs4.OpLookupP, Args: &nfs4.LookupPArgs{}} }
func readLink() nfs4.ArgOp { return nfs4.ArgOp{Op: nfs4.OpReadLink, Args: &nfs4.ReadLinkArgs{}} }
func lookup(name string) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpLookup, Args: &nfs4.LookupArgs{ObjName: []byte(name)}}
}
func getattr(attrs ...int) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: bm(attrs...)}}
}
func mkdirOp(name string, mode uint32) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{ObjType: nfs4.NF4DIR, ObjName: []byte(name),
		CreateAttrs: fattr(bm(nfs4.AttrMode), &nfs4.Attrs{Mode: mode})}}
}
func setattr(sid nfs4.StateID, mask nfs4.Bitmap, a *nfs4.Attrs) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpSetattr, Args: &nfs4.SetattrArgs{StateID: sid, ObjAttributes: fattr(mask, a)}}
}
func readdir(cookie uint64, verf nfs4.Verifier, dircount, maxcount uint32, attrs ...int) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpReadDir, Args: &nfs4.ReadDirArgs{Cookie: cookie, CookieVerf: verf,
		DirCount: dircount, MaxCount: maxcount, AttrRequest: bm(attrs...)}}
}

// attrsOf decodes the GETATTR result at index i.
func attrsOf(t *testing.T, r *nfs4.CompoundRes, i int) *nfs4.Attrs {
	t.Helper()
	g := r.Results[i].Res.(*nfs4.GetattrRes)
	a, err := nfs4.DecodeAttrs(&g.ObjAttributes)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mkfile creates a regular file in the root through the backend.
func (e *nsEnv) mkfile(name string, mode uint32) fsadapters.FileHandle {
	h, _, _, err := e.fs.Create(context.Background(), &fsadapters.Root, e.fs.Root(), name,
		&fsadapters.CreateReq{Attrs: fsadapters.SetAttr{Valid: fsadapters.SetMode, Mode: mode}})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func TestNSRootGetattr(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		r := e.run(0, putRoot(), getFH(), getattr(nfs4.AttrSupportedAttrs, nfs4.AttrType, nfs4.AttrFileHandle,
			nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrSpaceTotal, nfs4.AttrACL))
		e.expect(r, nfs4.OK, 3)
		fh := r.Results[1].Res.(*nfs4.GetFHRes).Object
		a := attrsOf(t, r, 2)
		if a.Type != nfs4.NF4DIR || !bytes.Equal(a.FileHandle, fh) || a.SpaceTotal == 0 {
			t.Fatalf("root attrs: type %d fh %x (getfh %x) space %d", a.Type, a.FileHandle, fh, a.SpaceTotal)
		}
		// acl only where the backend stores ACLs (the dir backend on a
		// filesystem with POSIX ACLs).
		_, hasACL := fsadapters.ACLerOf(e.fs)
		if a.Present.Has(nfs4.AttrACL) != hasACL || !a.Present.Has(nfs4.AttrOwner) || string(a.Owner) != "0" {
			t.Fatalf("present %v owner %q", a.Present, a.Owner)
		}
		// Write-only attributes cannot be read; no FH → NOFILEHANDLE.
		e.expect(e.run(0, putRoot(), getattr(nfs4.AttrTimeModifySet)), nfs4.ErrInval, 2)
		e.expect(e.run(0, getattr(nfs4.AttrType)), nfs4.ErrNoFileHandle, 1)
		// Unknown attributes are left out (pynfs GATT4).
		r = e.run(0, putRoot(), getattr(1000))
		e.expect(r, nfs4.OK, 2)
		if g := r.Results[1].Res.(*nfs4.GetattrRes); len(g.ObjAttributes.Mask) != 0 || len(g.ObjAttributes.Vals) != 0 {
			t.Fatalf("attribute 1000: %+v", g.ObjAttributes)
		}
	})
}

func TestNSCreateLookup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		r := e.run(0, putRoot(), mkdirOp("d", 0o700), getFH(), getattr(nfs4.AttrType, nfs4.AttrMode))
		e.expect(r, nfs4.OK, 4)
		cr := r.Results[1].Res.(*nfs4.CreateRes)
		if cr.CInfo.After == cr.CInfo.Before || !cr.AttrSet.Has(nfs4.AttrMode) {
			t.Fatalf("create cinfo %+v attrset %v", cr.CInfo, cr.AttrSet)
		}
		fh := r.Results[2].Res.(*nfs4.GetFHRes).Object
		if a := attrsOf(t, r, 3); a.Type != nfs4.NF4DIR || a.Mode != 0o700 {
			t.Fatalf("new dir: type %d mode %o", a.Type, a.Mode)
		}
		r = e.run(0, putRoot(), lookup("d"), getFH(), lookupP(), getFH())
		e.expect(r, nfs4.OK, 5)
		if got := r.Results[2].Res.(*nfs4.GetFHRes).Object; !bytes.Equal(got, fh) {
			t.Fatalf("LOOKUP fh %x, CREATE gave %x", got, fh)
		}
		if got := r.Results[4].Res.(*nfs4.GetFHRes).Object; !bytes.Equal(got, e.s.table.Load().root.root) {
			t.Fatalf("LOOKUPP fh %x, want root", got)
		}
		// Existing name, regular-file type, symlink and fifo.
		e.expect(e.run(0, putRoot(), mkdirOp("d", 0o755)), nfs4.ErrExist, 2)
		e.expect(e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{ObjType: nfs4.NF4REG,
			ObjName: []byte("r")}}), nfs4.ErrBadType, 2)
		r = e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{ObjType: nfs4.NF4LNK,
			LinkData: []byte("d/target"), ObjName: []byte("sl")}}, readLink())
		e.expect(r, nfs4.OK, 3)
		if l := r.Results[2].Res.(*nfs4.ReadLinkRes).Link; string(l) != "d/target" {
			t.Fatalf("READLINK %q", l)
		}
		r = e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{ObjType: nfs4.NF4FIFO,
			ObjName: []byte("fifo")}}, getattr(nfs4.AttrType))
		e.expect(r, nfs4.OK, 3)
		if a := attrsOf(t, r, 2); a.Type != nfs4.NF4FIFO {
			t.Fatalf("fifo type %d", a.Type)
		}
		// A read-only attribute in createattrs.
		e.expect(e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpCreate, Args: &nfs4.CreateArgs{ObjType: nfs4.NF4DIR,
			ObjName: []byte("x"), CreateAttrs: fattr(bm(nfs4.AttrType), &nfs4.Attrs{Type: 2})}}), nfs4.ErrInval, 2)
	})
}

func TestNSFilehandleOps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		f := e.mkfile("f", 0o644)
		ctx := context.Background()
		if _, _, err := e.fs.Symlink(ctx, &fsadapters.Root, e.fs.Root(), "sl", "f", &fsadapters.SetAttr{}); err != nil {
			t.Fatal(err)
		}
		// LOOKUP of a missing name stops the compound at LOOKUP.
		e.expect(e.run(0, putRoot(), lookup("nope"), getFH()), nfs4.ErrNoEnt, 2)
		e.expect(e.run(0, putRoot(), lookup("f"), lookup("x")), nfs4.ErrNotDir, 3)
		e.expect(e.run(0, putRoot(), lookup("sl"), lookup("x")), nfs4.ErrSymlink, 3)
		e.expect(e.run(0, putRoot(), lookup("f"), lookupP()), nfs4.ErrNotDir, 3)
		e.expect(e.run(0, putRoot(), lookupP()), nfs4.ErrNoEnt, 2)
		e.expect(e.run(0, putRoot(), lookup("f"), readLink()), nfs4.ErrInval, 3)
		e.expect(e.run(0, nfs4.ArgOp{Op: nfs4.OpRestoreFH, Args: &nfs4.RestoreFHArgs{}}), nfs4.ErrRestoreFH, 1)
		e.expect(e.run(0, putFH([]byte("abc"))), nfs4.ErrBadHandle, 1)
		e.expect(e.run(0, getFH()), nfs4.ErrNoFileHandle, 1)

		// SAVEFH/RESTOREFH swap back to the saved handle.
		r := e.run(0, putRoot(), saveFH(), lookup("f"), nfs4.ArgOp{Op: nfs4.OpRestoreFH, Args: &nfs4.RestoreFHArgs{}}, getFH())
		e.expect(r, nfs4.OK, 5)
		if got := r.Results[4].Res.(*nfs4.GetFHRes).Object; !bytes.Equal(got, e.s.table.Load().root.root) {
			t.Fatalf("RESTOREFH gave %x", got)
		}
		// PUTFH of a removed file is STALE.
		fh := wireFH(0, f)
		e.expect(e.run(0, putFH(fh), getFH()), nfs4.OK, 2)
		if err := e.fs.Remove(ctx, &fsadapters.Root, e.fs.Root(), "f"); err != nil {
			t.Fatal(err)
		}
		e.expect(e.run(0, putFH(fh)), nfs4.ErrStale, 1)
	})
}

func TestNSNames(t *testing.T) {
	long := strings.Repeat("n", 256)
	cases := []struct {
		name string
		want nfs4.Status
	}{
		{"", nfs4.ErrInval},
		{".", nfs4.ErrBadName},
		{"..", nfs4.ErrBadName},
		{"a/b", nfs4.ErrBadChar},
		{"a\x00b", nfs4.ErrBadChar},
		{"\xff\xfe", nfs4.ErrInval},
		{"\xef\xbf\xbe", nfs4.ErrInval}, // U+FFFE, a noncharacter
		{"\xed\xa0\x80", nfs4.ErrInval}, // UTF-16 surrogate
		{long, nfs4.ErrNameTooLong},
	}
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.mkfile("f", 0o644)
		for _, tc := range cases {
			e.expect(e.run(0, putRoot(), lookup(tc.name)), tc.want, 2)
			e.expect(e.run(0, putRoot(), mkdirOp(tc.name, 0o755)), tc.want, 2)
			e.expect(e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte(tc.name)}}), tc.want, 2)
			e.expect(e.run(0, putRoot(), saveFH(), nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{
				OldName: []byte("f"), NewName: []byte(tc.name)}}), tc.want, 3)
			e.expect(e.run(0, putRoot(), lookup("f"), saveFH(), putRoot(),
				nfs4.ArgOp{Op: nfs4.OpLink, Args: &nfs4.LinkArgs{NewName: []byte(tc.name)}}), tc.want, 5)
		}
		// 255 bytes is fine.
		e.expect(e.run(0, putRoot(), mkdirOp(long[:255], 0o755), getFH()), nfs4.OK, 3)
	})
}

func TestNSRenameLinkRemove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.mkfile("f", 0o644)
		e.expect(e.run(0, putRoot(), mkdirOp("d2", 0o755)), nfs4.OK, 2)

		// RENAME root/f → d2/g.
		r := e.run(0, putRoot(), saveFH(), lookup("d2"),
			nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("f"), NewName: []byte("g")}})
		e.expect(r, nfs4.OK, 4)
		rr := r.Results[3].Res.(*nfs4.RenameRes)
		if rr.SourceCInfo.Before == rr.SourceCInfo.After || rr.TargetCInfo.Before == rr.TargetCInfo.After {
			t.Fatalf("rename cinfo %+v", rr)
		}
		e.expect(e.run(0, putRoot(), lookup("f")), nfs4.ErrNoEnt, 2)
		e.expect(e.run(0, putRoot(), lookup("d2"), lookup("g")), nfs4.OK, 3)
		e.expect(e.run(0, putRoot(), saveFH(),
			nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("nope"), NewName: []byte("x")}}), nfs4.ErrNoEnt, 3)
		// Source dir not a directory.
		e.expect(e.run(0, putRoot(), lookup("d2"), lookup("g"), saveFH(), putRoot(),
			nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("a"), NewName: []byte("b")}}), nfs4.ErrNotDir, 6)

		// LINK d2/g as root/h.
		r = e.run(0, putRoot(), lookup("d2"), lookup("g"), saveFH(), putRoot(),
			nfs4.ArgOp{Op: nfs4.OpLink, Args: &nfs4.LinkArgs{NewName: []byte("h")}}, lookup("h"), getattr(nfs4.AttrNumLinks))
		e.expect(r, nfs4.OK, 8)
		if lr := r.Results[5].Res.(*nfs4.LinkRes); lr.CInfo.Before == lr.CInfo.After {
			t.Fatalf("link cinfo %+v", lr.CInfo)
		}
		if a := attrsOf(t, r, 7); a.NumLinks != 2 {
			t.Fatalf("nlink %d", a.NumLinks)
		}
		// Renaming onto the same name or another link of the same file: OK, nothing changes.
		r = e.run(0, putRoot(), saveFH(),
			nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("h"), NewName: []byte("h")}})
		e.expect(r, nfs4.OK, 3)
		e.expect(e.run(0, putRoot(), lookup("d2"), saveFH(), putRoot(),
			nfs4.ArgOp{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("g"), NewName: []byte("h")}}), nfs4.OK, 5)
		e.expect(e.run(0, putRoot(), lookup("d2"), lookup("g")), nfs4.OK, 3)
		// Hard link to a directory; link onto an existing name.
		e.expect(e.run(0, putRoot(), lookup("d2"), saveFH(), putRoot(),
			nfs4.ArgOp{Op: nfs4.OpLink, Args: &nfs4.LinkArgs{NewName: []byte("dl")}}), nfs4.ErrIsDir, 5)
		e.expect(e.run(0, putRoot(), lookup("h"), saveFH(), putRoot(),
			nfs4.ArgOp{Op: nfs4.OpLink, Args: &nfs4.LinkArgs{NewName: []byte("d2")}}), nfs4.ErrExist, 5)

		// REMOVE h, then the non-empty d2 fails, then its content and d2.
		r = e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte("h")}})
		e.expect(r, nfs4.OK, 2)
		if rm := r.Results[1].Res.(*nfs4.RemoveRes); rm.CInfo.Before == rm.CInfo.After {
			t.Fatalf("remove cinfo %+v", rm.CInfo)
		}
		e.expect(e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte("d2")}}), nfs4.ErrNotEmpty, 2)
		e.expect(e.run(0, putRoot(), lookup("d2"), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte("g")}}), nfs4.OK, 3)
		e.expect(e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte("d2")}}), nfs4.OK, 2)
		e.expect(e.run(0, putRoot(), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte("d2")}}), nfs4.ErrNoEnt, 2)
	})
}

func TestNSReadDirPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		const n = 300
		for i := range n {
			e.mkfile(fmt.Sprintf("file-%03d", i), 0o644)
		}
		seen := map[string]int{}
		var cookie uint64
		var verf nfs4.Verifier
		calls := 0
		for {
			calls++
			if calls > n {
				t.Fatal("READDIR does not make progress")
			}
			r := e.run(0, putRoot(), readdir(cookie, verf, 0, 1024, nfs4.AttrType, nfs4.AttrFileID, nfs4.AttrFileHandle,
				nfs4.AttrMountedOnFileID, nfs4.AttrSpaceFree))
			e.expect(r, nfs4.OK, 2)
			rd := r.Results[1].Res.(*nfs4.ReadDirRes)
			if len(rd.Entries) == 0 && !rd.EOF {
				t.Fatal("empty non-eof page")
			}
			for _, en := range rd.Entries {
				seen[string(en.Name)]++
				a, err := nfs4.DecodeAttrs(&en.Attrs)
				if err != nil {
					t.Fatal(err)
				}
				if a.Type != nfs4.NF4REG || a.FileID != a.MountedOnFileID || len(a.FileHandle) == 0 || !a.Present.Has(nfs4.AttrSpaceFree) {
					t.Fatalf("entry %s attrs %+v", en.Name, a)
				}
				// The handle in the entry works.
				e.expect(e.run(0, putFH(a.FileHandle), getattr(nfs4.AttrFileID)), nfs4.OK, 2)
				cookie = en.Cookie
			}
			verf = rd.CookieVerf
			if rd.EOF {
				break
			}
		}
		if len(seen) != n || calls < 5 {
			t.Fatalf("saw %d names in %d calls", len(seen), calls)
		}
		for name, k := range seen {
			if k != 1 {
				t.Fatalf("%s seen %d times", name, k)
			}
		}
		// dircount limits a page too, but never below one entry.
		r := e.run(0, putRoot(), readdir(0, nfs4.Verifier{}, 1, 1<<16, nfs4.AttrType))
		e.expect(r, nfs4.OK, 2)
		if rd := r.Results[1].Res.(*nfs4.ReadDirRes); len(rd.Entries) != 1 || rd.EOF {
			t.Fatalf("dircount=1: %d entries eof %v", len(rd.Entries), rd.EOF)
		}
	})
}

func TestNSReadDirLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.expect(e.run(0, putRoot(), mkdirOp("empty", 0o755)), nfs4.OK, 2)
		e.expect(e.run(0, putRoot(), lookup("empty"), readdir(0, nfs4.Verifier{}, 0, 15)), nfs4.ErrTooSmall, 3)
		r := e.run(0, putRoot(), lookup("empty"), readdir(0, nfs4.Verifier{}, 0, 16))
		e.expect(r, nfs4.OK, 3)
		if rd := r.Results[2].Res.(*nfs4.ReadDirRes); len(rd.Entries) != 0 || !rd.EOF {
			t.Fatalf("empty dir: %+v", rd)
		}
		// Root holds "empty": 16 bytes cannot carry an entry.
		e.expect(e.run(0, putRoot(), readdir(0, nfs4.Verifier{}, 0, 40, nfs4.AttrType)), nfs4.ErrTooSmall, 2)
		e.expect(e.run(0, putRoot(), readdir(0, nfs4.Verifier{}, 0, 0)), nfs4.ErrTooSmall, 2)
		for _, ck := range []uint64{1, 2} {
			e.expect(e.run(0, putRoot(), readdir(ck, nfs4.Verifier{}, 0, 4096)), nfs4.ErrBadCookie, 2)
		}
		e.expect(e.run(0, putRoot(), readdir(0, nfs4.Verifier{}, 0, 4096, nfs4.AttrTimeAccessSet)), nfs4.ErrInval, 2)
		e.mkfile("f", 0o644)
		e.expect(e.run(0, putRoot(), lookup("f"), readdir(0, nfs4.Verifier{}, 0, 4096)), nfs4.ErrNotDir, 3)
	})
}

func TestNSVerify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.mkfile("f", 0o640)
		mask := bm(nfs4.AttrType, nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrFileID)
		r := e.run(0, putRoot(), lookup("f"), nfs4.ArgOp{Op: nfs4.OpGetattr, Args: &nfs4.GetattrArgs{AttrRequest: mask}})
		e.expect(r, nfs4.OK, 3)
		same := r.Results[2].Res.(*nfs4.GetattrRes).ObjAttributes
		a := attrsOf(t, r, 2)
		a.Size++
		differ := fattr(mask, a)
		verify := func(f nfs4.Fattr) nfs4.ArgOp {
			return nfs4.ArgOp{Op: nfs4.OpVerify, Args: &nfs4.VerifyArgs{ObjAttributes: f}}
		}
		nverify := func(f nfs4.Fattr) nfs4.ArgOp {
			return nfs4.ArgOp{Op: nfs4.OpNVerify, Args: &nfs4.NVerifyArgs{ObjAttributes: f}}
		}
		e.expect(e.run(0, putRoot(), lookup("f"), verify(same), getFH()), nfs4.OK, 4)
		e.expect(e.run(0, putRoot(), lookup("f"), verify(differ)), nfs4.ErrNotSame, 3)
		e.expect(e.run(0, putRoot(), lookup("f"), nverify(same)), nfs4.ErrSame, 3)
		e.expect(e.run(0, putRoot(), lookup("f"), nverify(differ), getFH()), nfs4.OK, 4)
		// Write-only and rdattr_error → INVAL; unsupported → ATTRNOTSUPP;
		// malformed values → BADXDR.
		e.expect(e.run(0, putRoot(), verify(fattr(bm(nfs4.AttrTimeModifySet), &nfs4.Attrs{}))), nfs4.ErrInval, 2)
		e.expect(e.run(0, putRoot(), verify(fattr(bm(nfs4.AttrRdAttrError), &nfs4.Attrs{}))), nfs4.ErrInval, 2)
		e.expect(e.run(0, putRoot(), nverify(nfs4.Fattr{Mask: bm(nfs4.AttrArchive), Vals: []byte{0, 0, 0, 1}})), nfs4.ErrAttrNotSupp, 2)
		e.expect(e.run(0, putRoot(), verify(nfs4.Fattr{Mask: bm(nfs4.AttrSize), Vals: []byte{0, 0, 0, 1}})), nfs4.ErrBadXDR, 2)
	})
}

func TestNSAccess(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.mkfile("f", 0o600)
		access := func(bits uint32) nfs4.ArgOp {
			return nfs4.ArgOp{Op: nfs4.OpAccess, Args: &nfs4.AccessArgs{Access: bits}}
		}
		all := uint32(0x3f)
		check := func(uid uint32, path []nfs4.ArgOp, want, wantSupp, wantAcc uint32) {
			t.Helper()
			ops := append(append([]nfs4.ArgOp{putRoot()}, path...), access(want))
			r := e.run(uid, ops...)
			e.expect(r, nfs4.OK, len(ops))
			ar := r.Results[len(ops)-1].Res.(*nfs4.AccessRes)
			if ar.Supported != wantSupp || ar.Access != wantAcc {
				t.Fatalf("uid %d ACCESS %#x: supported %#x access %#x, want %#x %#x", uid, want, ar.Supported, ar.Access, wantSupp, wantAcc)
			}
		}
		fileBits := uint32(nfs4.AccessRead | nfs4.AccessModify | nfs4.AccessExtend | nfs4.AccessExecute)
		check(1000, []nfs4.ArgOp{lookup("f")}, all, fileBits, 0)
		check(0, []nfs4.ArgOp{lookup("f")}, all, fileBits, nfs4.AccessRead|nfs4.AccessModify|nfs4.AccessExtend)
		check(1000, []nfs4.ArgOp{lookup("f")}, nfs4.AccessRead, nfs4.AccessRead, 0)
		dirBits := uint32(nfs4.AccessRead | nfs4.AccessLookup | nfs4.AccessModify | nfs4.AccessExtend | nfs4.AccessDelete)
		check(1000, nil, all, dirBits, nfs4.AccessRead|nfs4.AccessLookup) // root dir 0755
		check(0, nil, all, dirBits, dirBits)
		for _, bad := range []uint32{0x40, 0x41, 0x80, 0x100} {
			e.expect(e.run(0, putRoot(), access(bad)), nfs4.ErrInval, 2)
		}
	})
}

func TestNSSetattr(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.mkfile("f", 0o644)
		f := func(ops ...nfs4.ArgOp) []nfs4.ArgOp {
			return append([]nfs4.ArgOp{putRoot(), lookup("f")}, ops...)
		}
		anon := nfs4.AnonStateID
		r := e.run(0, f(setattr(anon, bm(nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup),
			&nfs4.Attrs{Mode: 0o4751, Owner: []byte("1000"), OwnerGroup: []byte("1001")}),
			getattr(nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup))...)
		e.expect(r, nfs4.OK, 4)
		if sr := r.Results[2].Res.(*nfs4.SetattrRes); !sr.AttrsSet.Has(nfs4.AttrMode) || !sr.AttrsSet.Has(nfs4.AttrOwnerGroup) {
			t.Fatalf("attrsset %v", sr.AttrsSet)
		}
		if a := attrsOf(t, r, 3); a.Mode != 0o4751 || string(a.Owner) != "1000" || string(a.OwnerGroup) != "1001" {
			t.Fatalf("after SETATTR: mode %o owner %q group %q", a.Mode, a.Owner, a.OwnerGroup)
		}
		// Names resolve through the user database ("root" exists everywhere).
		r = e.run(0, f(setattr(anon, bm(nfs4.AttrOwner, nfs4.AttrOwnerGroup),
			&nfs4.Attrs{Owner: []byte("root@example.org"), OwnerGroup: []byte("root")}), getattr(nfs4.AttrOwner))...)
		e.expect(r, nfs4.OK, 4)
		if a := attrsOf(t, r, 3); string(a.Owner) != "0" {
			t.Fatalf("owner %q", a.Owner)
		}
		r = e.run(0, f(setattr(anon, bm(nfs4.AttrOwner), &nfs4.Attrs{Owner: []byte("no-such-user-xyz@example.org")}))...)
		e.expect(r, nfs4.ErrBadOwner, 3)
		if sr := r.Results[2].Res.(*nfs4.SetattrRes); len(sr.AttrsSet.And(bm(nfs4.AttrOwner))) != 0 {
			t.Fatalf("attrsset on error %v", sr.AttrsSet)
		}
		e.expect(e.run(0, f(setattr(anon, bm(nfs4.AttrOwner), &nfs4.Attrs{Owner: []byte{}}))...), nfs4.ErrInval, 3)

		// Size with the anonymous stateid.
		r = e.run(0, f(setattr(anon, bm(nfs4.AttrSize), &nfs4.Attrs{Size: 10}), getattr(nfs4.AttrSize))...)
		e.expect(r, nfs4.OK, 4)
		if a := attrsOf(t, r, 3); a.Size != 10 {
			t.Fatalf("size %d", a.Size)
		}
		e.expect(e.run(0, putRoot(), setattr(anon, bm(nfs4.AttrSize), &nfs4.Attrs{Size: 1})), nfs4.ErrIsDir, 2)
		e.expect(e.run(0, f(setattr(anon, bm(nfs4.AttrSize), &nfs4.Attrs{Size: 1<<64 - 1}))...), nfs4.ErrFBig, 3)
		// Not the owner: chmod is refused.
		e.expect(e.run(1234, f(setattr(anon, bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o777}))...), nfs4.ErrPerm, 3)

		// Invalid values and attributes.
		e.expect(e.run(0, f(setattr(anon, bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o10000}))...), nfs4.ErrInval, 3)
		e.expect(e.run(0, f(setattr(anon, bm(nfs4.AttrType), &nfs4.Attrs{Type: 1}))...), nfs4.ErrInval, 3)
		e.expect(e.run(0, f(nfs4.ArgOp{Op: nfs4.OpSetattr, Args: &nfs4.SetattrArgs{ObjAttributes: nfs4.Fattr{
			Mask: bm(nfs4.AttrArchive), Vals: []byte{0, 0, 0, 1}}}})...), nfs4.ErrAttrNotSupp, 3)
		e.expect(e.run(0, f(nfs4.ArgOp{Op: nfs4.OpSetattr, Args: &nfs4.SetattrArgs{ObjAttributes: nfs4.Fattr{
			Mask: bm(nfs4.AttrMode)}}})...), nfs4.ErrBadXDR, 3)
		bad := &nfs4.Attrs{TimeModifySet: nfs4.SetTime{How: nfs4.SetToClientTime, Time: nfs4.Time{Seconds: 5, NSeconds: 1e9}}}
		e.expect(e.run(0, f(setattr(anon, bm(nfs4.AttrTimeModifySet), bad))...), nfs4.ErrInval, 3)

		// Times: client time, then server time.
		ct := &nfs4.Attrs{TimeModifySet: nfs4.SetTime{How: nfs4.SetToClientTime, Time: nfs4.Time{Seconds: 1000000000, NSeconds: 5000}}}
		r = e.run(0, f(setattr(anon, bm(nfs4.AttrTimeModifySet), ct), getattr(nfs4.AttrTimeModify))...)
		e.expect(r, nfs4.OK, 4)
		if a := attrsOf(t, r, 3); a.TimeModify.Seconds != 1000000000 {
			t.Fatalf("mtime %+v", a.TimeModify)
		}
		st := &nfs4.Attrs{TimeModifySet: nfs4.SetTime{How: nfs4.SetToServerTime}}
		r = e.run(0, f(setattr(anon, bm(nfs4.AttrTimeModifySet), st), getattr(nfs4.AttrTimeModify))...)
		e.expect(r, nfs4.OK, 4)
		if a := attrsOf(t, r, 3); a.TimeModify.Seconds < 1700000000 {
			t.Fatalf("server-time mtime %+v", a.TimeModify)
		}
	})
}

func TestNSSecinfo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		e.mkfile("f", 0o644)
		secinfo := func(name string) nfs4.ArgOp {
			return nfs4.ArgOp{Op: nfs4.OpSecInfo, Args: &nfs4.SecInfoArgs{Name: []byte(name)}}
		}
		r := e.run(0, putRoot(), secinfo("f"), getFH())
		e.expect(r, nfs4.ErrNoFileHandle, 3) // SECINFO consumes the FH
		si := r.Results[1].Res.(*nfs4.SecInfoRes)
		if len(si.Flavors) != 2 || si.Flavors[0].Flavor != nfs4.AuthSys || si.Flavors[1].Flavor != nfs4.AuthNone {
			t.Fatalf("flavors %+v", si.Flavors)
		}
		e.expect(e.run(0, putRoot(), secinfo("nope")), nfs4.ErrNoEnt, 2)
		e.expect(e.run(0, putRoot(), secinfo("")), nfs4.ErrInval, 2)
		e.expect(e.run(0, putRoot(), lookup("f"), secinfo("x")), nfs4.ErrNotDir, 3)

		// SECINFO_NO_NAME (4.1 only: called directly, without a session).
		c := &compound{s: e.s, ctx: context.Background(), minor: 1, cred: fsadapters.Root}
		c.setRoot()
		res := opSecInfoNoName(c, &nfs4.SecInfoNoNameArgs{Style: nfs4.SecInfoStyleParent}).(*nfs4.SecInfoNoNameRes)
		if res.Status != nfs4.ErrNoEnt {
			t.Fatalf("SECINFO_NO_NAME parent of root: %d", res.Status)
		}
		res = opSecInfoNoName(c, &nfs4.SecInfoNoNameArgs{Style: nfs4.SecInfoStyleCurrentFH}).(*nfs4.SecInfoNoNameRes)
		if res.Status != nfs4.OK || len(res.Flavors) != 2 || c.cur.valid() {
			t.Fatalf("SECINFO_NO_NAME current: %+v, FH still set %v", res, c.cur.valid())
		}
	})
}

// TestNSGetattrAllocs keeps GETATTR and READDIR allocation-light.
func TestNSGetattrAllocs(t *testing.T) {
	s := New(Config{FS: mem.New()})
	defer s.Close()
	c := &compound{s: s, ctx: context.Background(), cred: fsadapters.Root}
	c.setRoot()
	args := &nfs4.GetattrArgs{AttrRequest: bm(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFileID,
		nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrTimeModify, nfs4.AttrFileHandle)}
	c.enc.Buf = make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		c.enc.Buf = c.enc.Buf[:0]
		c.result(nfs4.OpGetattr, opGetattr(c, args))
	})
	if n > 2 {
		t.Fatalf("GETATTR: %v allocations", n)
	}
}

// TestNSSetattrSymlinkMode: chmod of a symlink succeeds (and is ignored
// where the backend cannot apply it), as pynfs's tree cleanup needs.
func TestNSSetattrSymlinkMode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *nsEnv) {
		if _, _, err := e.fs.Symlink(context.Background(), &fsadapters.Root, e.fs.Root(), "sl", "x", &fsadapters.SetAttr{}); err != nil {
			t.Fatal(err)
		}
		e.expect(e.run(0, putRoot(), lookup("sl"), setattr(nfs4.AnonStateID, bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o700})), nfs4.OK, 3)
	})
}
