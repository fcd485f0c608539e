package nfs4srv

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// OPEN creating a file on a backend that hands the new file back open
// (fsadapters.CreateOpener): the open uses it instead of opening the file
// again, and behaves as with the reopen.

// openCounter is the dir backend counting Open calls; it offers
// CreateOpen (promoted from *dir.FS).
type openCounter struct {
	*dir.FS
	opens atomic.Int32
}

func (o *openCounter) Open(ctx context.Context, cred *fsadapters.Cred, fh fsadapters.FileHandle, flags fsadapters.OpenFlags) (fsadapters.File, error) {
	o.opens.Add(1)
	return o.FS.Open(ctx, cred, fh, flags)
}

// plainFS hides CreateOpen: only the fsadapters.FS methods are promoted.
type plainFS struct {
	fsadapters.FS
}

// callAs is stEnv.call with the AUTH_SYS identity uid/gid.
func (e *stEnv) callAs(uid, gid uint32, conn any, ops ...nfs4.ArgOp) *nfs4.CompoundRes {
	e.t.Helper()
	var enc xdr.Encoder
	(&nfs4.CompoundArgs{Tag: []byte("co"), MinorVersion: 1, Ops: ops}).Encode(&enc)
	auth := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "test", UID: uid, GID: gid})
	reply, release := e.s.Compound(context.Background(), &auth, conn, enc.Buf)
	var body []byte
	for _, b := range reply {
		body = append(body, b...)
	}
	release()
	var res nfs4.CompoundRes
	d := xdr.NewDecoder(body)
	res.Decode(d)
	if d.Err() != nil {
		e.t.Fatalf("decode reply: %v", d.Err())
	}
	return &res
}

func newDirStEnv(t *testing.T, fs fsadapters.FS) *stEnv {
	s := New(Config{FS: fs})
	t.Cleanup(s.Close)
	return &stEnv{t: t, s: s}
}

// ioFDs counts this process's descriptors open for I/O (not O_PATH) on
// the file at path: the backend's handle cache keeps O_PATH ones. By
// inode: the /proc link of an O_TMPFILE descriptor does not show the name
// it was linked as.
func ioFDs(t *testing.T, path string) int {
	t.Helper()
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	n := 0
	for _, de := range ents {
		fd, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Dev != want.Dev || st.Ino != want.Ino {
			continue
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_PATH == 0 {
			n++
		}
	}
	return n
}

// A GUARDED4 create of a mode 0444 file by an unprivileged user: the
// OPEN's stateid writes and reads at once, in the same COMPOUND, with the
// file the backend created (no Open), or without CreateOpen with one Open.
// The file ends up owned by the caller with the mode asked.
func TestOpenCreateWritesReadOnlyMode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wrap      func(*openCounter) fsadapters.FS
		wantOpens int32
	}{
		{"createopen", func(o *openCounter) fsadapters.FS { return o }, 0},
		{"fallback", func(o *openCounter) fsadapters.FS { return plainFS{o} }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			export := t.TempDir()
			if err := os.Chmod(export, 0o777); err != nil {
				t.Fatal(err)
			}
			dfs, err := dir.New(export, dir.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dfs.Close() })
			oc := &openCounter{FS: dfs}
			e := newDirStEnv(t, tc.wrap(oc))
			conn := new(int)
			_, sess := e.session41("co", conn)
			how := &nfs4.CreateHow{Mode: nfs4.Guarded4, CreateAttrs: fattr(bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o444})}
			r := e.callAs(1000, 1000, conn, seqOp(sess, 1, 0), stPutRoot(),
				openOp(0, 0, "o", nfs4.ShareAccessWrite|nfs4.ShareAccessWantNoDeleg, nfs4.ShareDenyNone, "ro", how),
				stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: nfs4.StateID{SeqID: 1}, Data: []byte("hello"), Stable: nfs4.FileSync4}),
				stOp(nfs4.OpRead, &nfs4.ReadArgs{StateID: nfs4.StateID{SeqID: 1}, Count: 100}))
			e.must(r, nfs4.OK, 5)
			o := r.Results[2].Res.(*nfs4.OpenRes)
			if o.CInfo.Before == o.CInfo.After {
				t.Errorf("change_info %+v: the directory changed", o.CInfo)
			}
			if w := r.Results[3].Res.(*nfs4.WriteRes); w.Count != 5 {
				t.Errorf("WRITE count %d", w.Count)
			}
			if rd := r.Results[4].Res.(*nfs4.ReadRes); string(rd.Data) != "hello" {
				t.Errorf("READ through a write-only OPEN of a new file: %q", rd.Data)
			}
			if n := oc.opens.Load(); n != tc.wantOpens {
				t.Errorf("%d backend Opens, want %d", n, tc.wantOpens)
			}
			fi, err := os.Stat(filepath.Join(export, "ro"))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode().Perm() != 0o444 || st.Uid != 1000 || st.Gid != 1000 || fi.Size() != 5 {
				t.Errorf("file on disk: mode %v uid %d gid %d size %d", fi.Mode(), st.Uid, st.Gid, fi.Size())
			}
			// A second GUARDED4 create of the name: EXIST.
			r = e.callAs(1000, 1000, conn, seqOp(sess, 2, 0), stPutRoot(),
				openOp(0, 0, "o2", nfs4.ShareAccessBoth|nfs4.ShareAccessWantNoDeleg, nfs4.ShareDenyNone, "ro", how))
			e.must(r, nfs4.ErrExist, 3)
		})
	}
}

// EXCLUSIVE4_1 creates keep the O_TMPFILE descriptor; a retransmission
// opens the existing file; an OPEN that fails after the backend made the
// file (here: an owner the caller may not give away) leaves no
// descriptor open.
func TestOpenCreateExclusiveAndFailure(t *testing.T) {
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	dfs, err := dir.New(export, dir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dfs.Close() })
	oc := &openCounter{FS: dfs}
	e := newDirStEnv(t, oc)
	conn := new(int)
	_, sess := e.session41("co", conn)
	excl := &nfs4.CreateHow{Mode: nfs4.Exclusive4_1, CreateVerf: nfs4.Verifier{1, 2, 3},
		CreateAttrs: fattr(bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o400})}
	ops := func(seq uint32) []nfs4.ArgOp {
		return []nfs4.ArgOp{seqOp(sess, seq, 0), stPutRoot(),
			openOp(0, 0, "x", nfs4.ShareAccessBoth|nfs4.ShareAccessWantNoDeleg, nfs4.ShareDenyNone, "x", excl),
			stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: nfs4.StateID{SeqID: 1}, Data: []byte("x"), Stable: nfs4.FileSync4}),
			stOp(nfs4.OpClose, &nfs4.CloseArgs{OpenStateID: nfs4.StateID{SeqID: 1}})}
	}
	r := e.callAs(1000, 1000, conn, ops(1)...)
	e.must(r, nfs4.OK, 5)
	if n := oc.opens.Load(); n != 0 {
		t.Errorf("%d backend Opens after an EXCLUSIVE4_1 create", n)
	}
	// The same verifier again (a retransmission outside the slot cache)
	// opens the existing file: not created now, so its mode (0400)
	// applies to the write access asked.
	r = e.callAs(1000, 1000, conn, ops(2)...)
	e.must(r, nfs4.ErrAccess, 3)

	bad := &nfs4.CreateHow{Mode: nfs4.Exclusive4_1, CreateVerf: nfs4.Verifier{9},
		CreateAttrs: fattr(bm(nfs4.AttrOwner), &nfs4.Attrs{Owner: []byte("0")})}
	r = e.callAs(1000, 1000, conn, seqOp(sess, 3, 0), stPutRoot(),
		openOp(0, 0, "y", nfs4.ShareAccessBoth|nfs4.ShareAccessWantNoDeleg, nfs4.ShareDenyNone, "y", bad))
	e.must(r, nfs4.ErrPerm, 3)
	if n := ioFDs(t, filepath.Join(export, "y")); n != 0 {
		t.Errorf("%d descriptors open on the file after a failed OPEN", n)
	}
	if n := ioFDs(t, filepath.Join(export, "x")); n != 0 {
		t.Errorf("%d descriptors open on a closed file", n)
	}
}
