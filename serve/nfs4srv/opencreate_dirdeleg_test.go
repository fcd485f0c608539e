package nfs4srv

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
)

// lookupCounter counts Lookup calls of a backend.
type lookupCounter struct {
	fsadapters.FS
	lookups atomic.Int32
}

func (l *lookupCounter) Lookup(ctx context.Context, cred *fsadapters.Cred, d fsadapters.FileHandle, name string) (fsadapters.FileHandle, fsadapters.Attr, error) {
	l.lookups.Add(1)
	return l.FS.Lookup(ctx, cred, d, name)
}

func guardedOpen(name string) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpOpen, Args: &nfs4.OpenArgs{ShareAccess: nfs4.ShareAccessWrite | nfs4.ShareAccessWantNoDeleg,
		Owner:   nfs4.OpenOwner{Owner: []byte("g-" + name)},
		OpenHow: nfs4.OpenFlag{OpenType: nfs4.OpenCreate, CreateHow: nfs4.CreateHow{Mode: nfs4.Guarded4, CreateAttrs: nfs4.Fattr{Mask: nfs4.Bitmap{}}}},
		Claim:   nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte(name)}}}
}

// An OPEN creating a name looks it up first only when a directory
// delegation exists (to tell whether the directory changes). A GUARDED4
// create of an existing name in a directory another client holds a
// delegation of answers NFS4ERR_EXIST at once: no recall, no CB_NOTIFY.
func TestOpenCreateDirDelegLookup(t *testing.T) {
	lc := &lookupCounter{FS: mem.New()}
	addr, _, _ := startLocalServer(t, lc, 20*time.Second)
	a := dialDeleg(t, addr, 1)
	n := &notifyCatcher{k: newCatcher(), ch: make(chan nfs4.CBNotifyArgs, 8)}
	a.RPC.HandleCallbacks(func(ctx context.Context, h *rpc.CallHeader, args []byte) (rpc.AcceptStat, []byte) {
		return n.answer(h.Cred, h.Proc, args)
	})
	ctx := ctx10(t)
	root, err := a.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A file delegation only: no lookup.
	res, err := a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "w", 0, nfs4.ShareAccessBoth|nfs4.ShareAccessWantWriteDeleg, "f", true))
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Results[1].Res.(*nfs4.OpenRes).Delegation; d.DelegationType != nfs4.DelegateWrite {
		t.Fatalf("no write delegation: %+v", d)
	}
	b := dialDeleg(t, addr, 1)
	lc.lookups.Store(0)
	if _, err := b.Do(ctx, nfs4client.PutFH(root), guardedOpen("new1")); err != nil {
		t.Fatal(err)
	}
	if l := lc.lookups.Load(); l != 0 {
		t.Errorf("%d Lookups by a GUARDED4 create with no directory delegation", l)
	}
	for _, notify := range []nfs4.Bitmap{{1 << nfs4.NotifyAddEntry}, nil} {
		sid := mustDirDeleg(t, a, root, notify)
		lc.lookups.Store(0)
		_, err := b.Do(ctx, nfs4client.PutFH(root), guardedOpen("new1"))
		if !errors.Is(err, nfs4.ErrExist) {
			t.Fatalf("GUARDED4 create of an existing name (notify %v): %v", notify, err)
		}
		if l := lc.lookups.Load(); l != 1 {
			t.Errorf("%d Lookups with a directory delegation, want 1", l)
		}
		select {
		case na := <-n.ch:
			t.Fatalf("CB_NOTIFY of a failed create: %+v", na)
		default:
		}
		noRecall(t, n.k, "failed create")
		// A new name is an addition: notified or recalled.
		if notify != nil {
			if _, err := b.Do(ctx, nfs4client.PutFH(root), guardedOpen("new2")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-n.ch:
			case <-time.After(10 * time.Second):
				t.Fatal("no CB_NOTIFY of a create")
			}
		} else {
			expectRecallWait(t, "create", n.k, a, root, sid, doAsync(b, nfs4client.PutFH(root), guardedOpen("new3")))
			continue
		}
		delegReturn(t, a, root, sid)
	}
}
