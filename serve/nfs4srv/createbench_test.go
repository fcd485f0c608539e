package nfs4srv

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// BenchmarkOpenCreateClose is the server side of a create as the mount
// does it for open(O_CREAT|O_EXCL) + close: one COMPOUND SEQUENCE, PUTFH,
// OPEN (GUARDED4, mode 0644), GETFH, GETATTR, then one SEQUENCE, PUTFH,
// CLOSE, run in process (no RPC, no delegation) on the dir backend in a
// temporary directory. Each iteration creates a new name.
func BenchmarkOpenCreateClose(b *testing.B) {
	dfs, err := dir.New(b.TempDir(), dir.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dfs.Close() })
	s := New(Config{FS: dfs})
	b.Cleanup(s.Close)
	e := &stEnv{t: b, s: s}
	conn := new(int)
	_, sess := e.session41("bench", conn)
	how := &nfs4.CreateHow{Mode: nfs4.Guarded4, CreateAttrs: fattr(bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o644})}
	attrs := bm(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFileID, nfs4.AttrMode,
		nfs4.AttrNumLinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrTimeModify)
	seq := uint32(1)
	i := 0
	for b.Loop() {
		_, r := e.call(1, conn, seqOp(sess, seq, 0), stPutRoot(),
			openOp(0, 0, "o", nfs4.ShareAccessBoth|nfs4.ShareAccessWantNoDeleg, nfs4.ShareDenyNone, fmt.Sprintf("f%07d", i), how),
			stGetFH(), stOp(nfs4.OpGetattr, &nfs4.GetattrArgs{AttrRequest: attrs}))
		if r.Status != nfs4.OK {
			b.Fatalf("OPEN: %v", r.Status)
		}
		fh := r.Results[3].Res.(*nfs4.GetFHRes).Object
		sid := r.Results[2].Res.(*nfs4.OpenRes).StateID
		_, r = e.call(1, conn, seqOp(sess, seq+1, 0), stPutFH(fh), stOp(nfs4.OpClose, &nfs4.CloseArgs{OpenStateID: sid}))
		if r.Status != nfs4.OK {
			b.Fatalf("CLOSE: %v", r.Status)
		}
		seq += 2
		i++
	}
}

// BenchmarkOpenCreateCloseDeleg is BenchmarkOpenCreateClose through a
// real client over loopback TCP with delegations on, as the mount runs
// (each create gets a write delegation, and with it a watch of the file):
// client, RPC and server together.
func BenchmarkOpenCreateCloseDeleg(b *testing.B) {
	dfs, err := dir.New(b.TempDir(), dir.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dfs.Close() })
	addr, _ := serveTCP(b, Config{FS: dfs, Log: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	c, err := nfs4client.Dial(ctx, addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	c.EnableDelegations(nopDelegHandler{})
	if err := c.SetupSession(ctx, 1); err != nil {
		b.Fatal(err)
	}
	root, err := c.RootFH(ctx)
	if err != nil {
		b.Fatal(err)
	}
	a := &nfs4.Attrs{Mode: 0o644}
	a.Present.Set(nfs4.AttrMode)
	i := 0
	for b.Loop() {
		f, err := c.Create(ctx, root, fmt.Sprintf("f%07d", i), nfs4client.CreateHow{Mode: nfs4.Guarded4, Attrs: a})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 && f.Res.Delegation.DelegationType != nfs4.DelegateWrite {
			b.Fatalf("no write delegation: %+v", f.Res.Delegation)
		}
		if err := c.CloseFile(ctx, f); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

type nopDelegHandler struct{}

func (nopDelegHandler) DelegRecall(context.Context, *nfs4client.Delegation) {}
func (nopDelegHandler) DelegLost(*nfs4client.Delegation)                    {}
