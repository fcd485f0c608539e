package nfs4srv

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Directory delegations (dirdeleg.go) with real clients; callbacks are
// answered by the test (cbCatcher, deleg_test.go; CB_NOTIFY by
// notifyCatcher).

func getDirDeleg(t *testing.T, c *nfs4client.Client, dir []byte, notify nfs4.Bitmap) *nfs4.GetDirDelegationRes {
	t.Helper()
	res, err := c.Do(ctx10(t), nfs4client.PutFH(dir), nfs4.ArgOp{Op: nfs4.OpGetDirDelegation,
		Args: &nfs4.GetDirDelegationArgs{NotificationTypes: notify, ChildAttributes: nfs4.Bitmap{}, DirAttributes: nfs4.Bitmap{}}})
	if err != nil {
		t.Fatalf("GET_DIR_DELEGATION: %v", err)
	}
	return res.Results[1].Res.(*nfs4.GetDirDelegationRes)
}

func mustDirDeleg(t *testing.T, c *nfs4client.Client, dir []byte, notify nfs4.Bitmap) nfs4.StateID {
	t.Helper()
	r := getDirDeleg(t, c, dir, notify)
	if r.NonFatal != nfs4.GDD4OK {
		t.Fatalf("GET_DIR_DELEGATION: unavailable (%+v)", r)
	}
	return r.StateID
}

func delegReturn(t *testing.T, c *nfs4client.Client, fh []byte, sid nfs4.StateID) {
	t.Helper()
	if _, err := c.Do(ctx10(t), nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: sid}}); err != nil {
		t.Fatalf("DELEGRETURN: %v", err)
	}
}

// doAsync runs ops from c in the background (the client retries
// NFS4ERR_DELAY by itself).
func doAsync(c *nfs4client.Client, ops ...nfs4.ArgOp) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Do(ctx, ops...)
		done <- err
	}()
	return done
}

func removeOp(name string) nfs4.ArgOp {
	return nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte(name)}}
}

// expectRecallWait: the change in done waits for the recall of sid on dir,
// proceeds after the holder's DELEGRETURN.
func expectRecallWait(t *testing.T, what string, k *cbCatcher, a *nfs4client.Client, dir []byte, sid nfs4.StateID, done <-chan error) {
	t.Helper()
	r := k.wait(t)
	if r.args.StateID != sid || !bytes.Equal(r.args.FH, dir) {
		t.Fatalf("%s: CB_RECALL %+v, want stateid %v fh %x", what, r.args, sid, dir)
	}
	select {
	case err := <-done:
		t.Fatalf("%s finished (%v) before DELEGRETURN", what, err)
	case <-time.After(300 * time.Millisecond):
	}
	delegReturn(t, a, dir, sid)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s still waiting after DELEGRETURN", what)
	}
}

func TestDirDelegGrantAndRecall(t *testing.T) {
	addr, s := startDelegServer(t, 20*time.Second)
	a, k, root := delegClient(t, addr)
	b := dialDeleg(t, addr, 1)
	ctx := ctx10(t)

	r := getDirDeleg(t, a, root, nfs4.Bitmap{1<<nfs4.NotifyRemoveEntry | 1<<nfs4.NotifyChangeChildAttrs})
	if r.NonFatal != nfs4.GDD4OK {
		t.Fatalf("GET_DIR_DELEGATION: %+v", r)
	}
	if len(r.Notification) != 1 || r.Notification[0] != 0 || len(r.ChildAttributes) != 0 {
		t.Fatalf("granted notifications %v, child attrs %v: we send none of those", r.Notification, r.ChildAttributes)
	}
	sid := r.StateID
	if st := s.state.Stats(); st.Delegations != 1 {
		t.Fatalf("stats: %d delegations", st.Delegations)
	}
	// A second request of the holder: unavailable, not a second stateid.
	if r2 := getDirDeleg(t, a, root, nil); r2.NonFatal != nfs4.GDD4Unavail || r2.WillSignalDelegAvail {
		t.Fatalf("second GET_DIR_DELEGATION: %+v", r2)
	}

	// The holder's own changes recall nothing (RFC 8881 §10.9.1).
	if _, err := a.Do(ctx, nfs4client.PutFH(root), mkdirOp("own", 0o755)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Do(ctx, nfs4client.PutFH(root), openArgs(1, 0, "own", 0, nfs4.ShareAccessWrite|nfs4.ShareAccessWantNoDeleg, "ownfile", true)); err != nil {
		t.Fatal(err)
	}
	noRecall(t, k, "holder's own CREATE and OPEN")

	// Another client's CREATE, REMOVE, RENAME, OPEN-create, LINK and
	// SETATTR of the directory each recall and wait for the return.
	for _, tc := range []struct {
		name string
		ops  []nfs4.ArgOp
	}{
		{"CREATE", []nfs4.ArgOp{nfs4client.PutFH(root), mkdirOp("b1", 0o755)}},
		{"REMOVE", []nfs4.ArgOp{nfs4client.PutFH(root), removeOp("b1")}},
		{"RENAME", []nfs4.ArgOp{nfs4client.PutFH(root), saveFH(), nfs4client.PutFH(root),
			{Op: nfs4.OpRename, Args: &nfs4.RenameArgs{OldName: []byte("ownfile"), NewName: []byte("moved")}}}},
		{"OPEN create", []nfs4.ArgOp{nfs4client.PutFH(root),
			openArgs(1, 0, "b", 0, nfs4.ShareAccessWrite|nfs4.ShareAccessWantNoDeleg, "bfile", true)}},
		{"LINK", []nfs4.ArgOp{nfs4client.PutFH(root), nfs4client.Lookup("moved"), saveFH(),
			nfs4client.PutFH(root), {Op: nfs4.OpLink, Args: &nfs4.LinkArgs{NewName: []byte("linked")}}}},
		{"SETATTR of the directory", []nfs4.ArgOp{nfs4client.PutFH(root), setattr(nfs4.StateID{}, bm(nfs4.AttrMode), &nfs4.Attrs{Mode: 0o700})}},
	} {
		if sid.Other == ([nfs4.OtherSize]byte{}) {
			sid = mustDirDeleg(t, a, root, nil)
		}
		expectRecallWait(t, tc.name, k, a, root, sid, doAsync(b, tc.ops...))
		sid = nfs4.StateID{}
	}
	// Opening an existing file does not change the directory.
	sid = mustDirDeleg(t, a, root, nil)
	if _, err := b.Do(ctx, nfs4client.PutFH(root), openArgs(1, 0, "b", 0, nfs4.ShareAccessRead|nfs4.ShareAccessWantNoDeleg, "bfile", true)); err != nil {
		t.Fatal(err)
	}
	noRecall(t, k, "OPEN of an existing file")
	delegReturn(t, a, root, sid)
	if st := s.state.Stats(); st.Delegations != 0 {
		t.Fatalf("stats: %d delegations after the returns", st.Delegations)
	}
}

// A directory delegation not returned is revoked a lease after the recall,
// and the waiting change proceeds.
func TestDirDelegRevoke(t *testing.T) {
	const lease = 2 * time.Second
	addr, _ := startDelegServer(t, lease)
	a, k, root := delegClient(t, addr)
	a.StartRenewal(lease)
	b := dialDeleg(t, addr, 1)
	b.StartRenewal(lease)
	sid := mustDirDeleg(t, a, root, nil)
	start := time.Now()
	done := doAsync(b, nfs4client.PutFH(root), mkdirOp("x", 0o755))
	k.wait(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("CREATE after revocation: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("CREATE never proceeded")
	}
	if el := time.Since(start); el < lease-100*time.Millisecond {
		t.Fatalf("revoked after %v, before the lease (%v)", el, lease)
	}
	_, err := a.Do(ctx10(t), nfs4client.PutFH(root), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: sid}})
	if !errors.Is(err, nfs4.ErrDelegRevoked) {
		t.Fatalf("DELEGRETURN of a revoked delegation: %v, want DELEG_REVOKED", err)
	}
}

func TestDirDelegNotDirAndUnavailable(t *testing.T) {
	addr, s := startDelegServer(t, 20*time.Second)
	a, _, root := delegClient(t, addr)
	ctx := ctx10(t)
	res, err := a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "o", 0, nfs4.ShareAccessWrite|nfs4.ShareAccessWantNoDeleg, "file", true), nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	fh := res.Results[2].Res.(*nfs4.GetFHRes).Object
	_, err = a.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpGetDirDelegation, Args: &nfs4.GetDirDelegationArgs{}})
	if !errors.Is(err, nfs4.ErrNotDir) {
		t.Fatalf("GET_DIR_DELEGATION of a file: %v, want NOTDIR", err)
	}
	// A change of the directory under way (past its conflict check):
	// unavailable, and nothing left granted.
	ch := s.beginDirChange(string(root))
	r := getDirDeleg(t, a, root, nil)
	ch.end()
	if r.NonFatal != nfs4.GDD4Unavail || s.state.HasDelegations() {
		t.Fatalf("with a change under way: %+v", r)
	}
	sid := mustDirDeleg(t, a, root, nil)
	delegReturn(t, a, root, sid)
	// A back channel we cannot call (RPCSEC_GSS only): unavailable.
	if _, err := a.Do(ctx, nfs4.ArgOp{Op: nfs4.OpBackchannelCtl, Args: &nfs4.BackchannelCtlArgs{
		CBProgram: nfs4client.CBProgram, SecParms: []nfs4.CallbackSecParms{{Flavor: 6}}}}); err != nil {
		t.Fatalf("BACKCHANNEL_CTL: %v", err)
	}
	if r := getDirDeleg(t, a, root, nil); r.NonFatal != nfs4.GDD4Unavail || r.WillSignalDelegAvail {
		t.Fatalf("without a usable back channel: %+v", r)
	}
}

// notifyCatcher answers CB_NOTIFY (OK, reported on ch) and passes
// everything else to k.
type notifyCatcher struct {
	k  *cbCatcher
	ch chan nfs4.CBNotifyArgs
}

func (n *notifyCatcher) answer(cred rpc.Auth, proc uint32, body []byte) (rpc.AcceptStat, []byte) {
	var a nfs4.CBCompoundArgs
	d := xdr.NewDecoder(body)
	a.Decode(d)
	if proc != nfs4.CBProcCompound || d.Err() != nil || len(a.Ops) != 2 || a.Ops[1].Op != nfs4.CBOpNotify {
		return n.k.answer(cred, proc, body)
	}
	x := a.Ops[0].Args.(*nfs4.CBSequenceArgs)
	na := *a.Ops[1].Args.(*nfs4.CBNotifyArgs)
	na.FH = bytes.Clone(na.FH)
	for i := range na.Changes {
		na.Changes[i].Vals = bytes.Clone(na.Changes[i].Vals)
	}
	n.ch <- na
	res := nfs4.CBCompoundRes{Tag: a.Tag, Results: []nfs4.CBResOp{
		{Op: nfs4.CBOpSequence, Res: &nfs4.CBSequenceRes{SessionID: x.SessionID, SequenceID: x.SequenceID, SlotID: x.SlotID}},
		{Op: nfs4.CBOpNotify, Res: &nfs4.CBNotifyRes{}}}}
	var e xdr.Encoder
	res.Encode(&e)
	return rpc.Success, e.Buf
}

// With NOTIFY4_ADD_ENTRY granted, another client's CREATE and OPEN-create
// are notified, not recalled; a REMOVE still recalls.
func TestDirDelegNotifyAdd(t *testing.T) {
	addr, _ := startDelegServer(t, 20*time.Second)
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
	r := getDirDeleg(t, a, root, nfs4.Bitmap{1<<nfs4.NotifyAddEntry | 1<<nfs4.NotifyRemoveEntry})
	if r.NonFatal != nfs4.GDD4OK || !r.Notification.Has(nfs4.NotifyAddEntry) || r.Notification.Has(nfs4.NotifyRemoveEntry) {
		t.Fatalf("GET_DIR_DELEGATION: %+v", r)
	}
	b := dialDeleg(t, addr, 1)
	for _, tc := range []struct {
		name string
		op   nfs4.ArgOp
	}{
		{"d1", mkdirOp("d1", 0o755)},
		{"f1", openArgs(1, 0, "b", 0, nfs4.ShareAccessWrite|nfs4.ShareAccessWantNoDeleg, "f1", true)},
	} {
		if _, err := b.Do(ctx, nfs4client.PutFH(root), tc.op); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		select {
		case na := <-n.ch:
			if na.StateID != r.StateID || !bytes.Equal(na.FH, root) || len(na.Changes) != 1 {
				t.Fatalf("CB_NOTIFY %+v", na)
			}
			v, err := na.Changes[0].Values()
			if err != nil || v.Add == nil || string(v.Add.NewEntry.Name) != tc.name || v.Remove != nil {
				t.Fatalf("CB_NOTIFY values %+v, %v; want an addition of %s", v, err, tc.name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no CB_NOTIFY", tc.name)
		}
	}
	noRecall(t, n.k, "notified additions")
	expectRecallWait(t, "REMOVE", n.k, a, root, r.StateID, doAsync(b, nfs4client.PutFH(root), removeOp("d1")))
}

// A local process creating a file in a delegated directory recalls the
// delegation (dir backend, fanotify directory watch).
func TestDirDelegLocalChange(t *testing.T) {
	addr, export, s := startDirServer(t, 20*time.Second)
	a, k, root := delegClient(t, addr)
	sid := mustDirDeleg(t, a, root, nil)
	if n := s.localWatchCount(); n != 1 {
		t.Fatalf("%d watches with one delegated directory", n)
	}
	localSh(t, export, "cat f > /dev/null; echo x >> f")
	noRecall(t, k, "local read and write of a child")
	localSh(t, export, "touch newfile")
	r := k.wait(t)
	if r.args.StateID != sid || !bytes.Equal(r.args.FH, root) {
		t.Fatalf("CB_RECALL %+v, want stateid %v fh %x", r.args, sid, root)
	}
	delegReturn(t, a, root, sid)
	if n := s.localWatchCount(); n != 0 {
		t.Fatalf("%d watches left after DELEGRETURN", n)
	}
}

// A CB_NOTIFY the holder refuses recalls the delegation.
func TestDirDelegNotifyRefusedRecalls(t *testing.T) {
	addr, _ := startDelegServer(t, 20*time.Second)
	a, k, root := delegClient(t, addr) // cbCatcher answers CB_NOTIFY with NFS4ERR_NOTSUPP
	sid := mustDirDeleg(t, a, root, nfs4.Bitmap{1 << nfs4.NotifyAddEntry})
	b := dialDeleg(t, addr, 1)
	if _, err := b.Do(ctx10(t), nfs4client.PutFH(root), mkdirOp("n", 0o755)); err != nil {
		t.Fatalf("notified CREATE: %v", err)
	}
	r := k.wait(t)
	if r.args.StateID != sid || !bytes.Equal(r.args.FH, root) {
		t.Fatalf("CB_RECALL %+v, want stateid %v", r.args, sid)
	}
	delegReturn(t, a, root, sid)
}
