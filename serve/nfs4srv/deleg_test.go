package nfs4srv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// Delegation tests with real clients over loopback TCP: client/nfs4client
// sends the fore-channel requests; the callbacks are answered by a handler
// of the test's own (cbCatcher), so the test sees exactly what the server
// sends and decides when to return.

func startDelegServer(t *testing.T, lease time.Duration) (string, *Server) {
	t.Helper()
	return serveTCP(t, Config{FS: mem.New(), LeaseTime: lease, Log: slog.New(slog.DiscardHandler)})
}

// serveTCP serves a Server with cfg on a loopback port until the test
// ends, and returns the address.
func serveTCP(tb testing.TB, cfg Config) (string, *Server) {
	tb.Helper()
	s := New(cfg)
	srv := &rpcsrv.Server{Handler: s, Logf: func(string, ...any) {}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(l)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		s.Close()
	})
	return l.Addr().String(), s
}

func dialDeleg(t *testing.T, addr string, minor uint32) *nfs4client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nfs4client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if minor >= 1 {
		if err := c.SetupSession(ctx, minor); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// cbRecall is one CB_RECALL received, with its CB_COMPOUND header.
type cbRecall struct {
	args   nfs4.CBRecallArgs
	minor  uint32
	ident  uint32
	flavor rpc.AuthFlavor
}

// cbCatcher answers callbacks: CB_NULL, CB_SEQUENCE and CB_RECALL (OK),
// and reports each recall on ch.
type cbCatcher struct{ ch chan cbRecall }

func newCatcher() *cbCatcher { return &cbCatcher{ch: make(chan cbRecall, 8)} }

func (k *cbCatcher) answer(cred rpc.Auth, proc uint32, body []byte) (rpc.AcceptStat, []byte) {
	switch proc {
	case nfs4.CBProcNull:
		return rpc.Success, nil
	case nfs4.CBProcCompound:
	default:
		return rpc.ProcUnavail, nil
	}
	var a nfs4.CBCompoundArgs
	d := xdr.NewDecoder(body)
	a.Decode(d)
	if d.Err() != nil {
		return rpc.GarbageArgs, nil
	}
	res := nfs4.CBCompoundRes{Tag: a.Tag}
	for _, op := range a.Ops {
		switch x := op.Args.(type) {
		case *nfs4.CBSequenceArgs:
			res.Results = append(res.Results, nfs4.CBResOp{Op: op.Op, Res: &nfs4.CBSequenceRes{
				SessionID: x.SessionID, SequenceID: x.SequenceID, SlotID: x.SlotID}})
		case *nfs4.CBRecallArgs:
			r := cbRecall{args: *x, minor: a.MinorVersion, ident: a.CallbackIdent, flavor: cred.Flavor}
			r.args.FH = bytes.Clone(x.FH)
			k.ch <- r
			res.Results = append(res.Results, nfs4.CBResOp{Op: op.Op, Res: &nfs4.CBRecallRes{}})
		default:
			res.Status = nfs4.ErrNotSupp
			res.Results = append(res.Results, nfs4.CBResOp{Op: nfs4.CBOpIllegal,
				Res: &nfs4.CBRecallRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNotSupp}}})
		}
		if res.Status != nfs4.OK {
			break
		}
	}
	var e xdr.Encoder
	res.Encode(&e)
	return rpc.Success, e.Buf
}

func (k *cbCatcher) wait(t *testing.T) cbRecall {
	t.Helper()
	select {
	case r := <-k.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no CB_RECALL received")
	}
	panic("unreachable")
}

func openArgs(minor uint32, clientID uint64, owner string, seq, access uint32, name string, create bool) nfs4.ArgOp {
	how := nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate}
	if create {
		how = nfs4.OpenFlag{OpenType: nfs4.OpenCreate, CreateHow: nfs4.CreateHow{Mode: nfs4.Unchecked4,
			CreateAttrs: nfs4.Fattr{Mask: nfs4.Bitmap{}}}}
	}
	return nfs4.ArgOp{Op: nfs4.OpOpen, Args: &nfs4.OpenArgs{SeqID: seq, ShareAccess: access,
		Owner:   nfs4.OpenOwner{ClientID: clientID, Owner: []byte(owner)},
		OpenHow: how, Claim: nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte(name)}}}
}

// openAsync opens name for write from c in the background (the client
// retries NFS4ERR_DELAY by itself) and reports the outcome.
func openAsync(c *nfs4client.Client, root []byte, name string) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Do(ctx, nfs4client.PutFH(root),
			openArgs(c.Minor, c.ClientID, "writer", 0, nfs4.ShareAccessWrite|wantNone(c.Minor), name, false))
		done <- err
	}()
	return done
}

func wantNone(minor uint32) uint32 {
	if minor == 0 {
		return 0
	}
	return nfs4.ShareAccessWantNoDeleg
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestDeleg41RecallAndReturn: a read delegation over the 4.1 back
// channel, recalled by another client's write open, which waits until the
// holder returns it.
func TestDeleg41RecallAndReturn(t *testing.T) {
	addr, _ := startDelegServer(t, 20*time.Second)
	ctx := ctx10(t)
	a, k, root := delegClient(t, addr)
	// WANT_NO_DELEG: none, and NONE_EXT says why.
	res, err := a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "nd", 0, nfs4.ShareAccessRead|nfs4.ShareAccessWantNoDeleg, "f", true))
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Results[1].Res.(*nfs4.OpenRes).Delegation; d.DelegationType != nfs4.DelegateNoneExt || d.Why != nfs4.WNDNotWanted {
		t.Fatalf("WANT_NO_DELEG gave %+v", d)
	}
	res, err = a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "rd", 0, nfs4.ShareAccessRead|nfs4.ShareAccessWantReadDeleg, "f", false), nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	deleg := res.Results[1].Res.(*nfs4.OpenRes).Delegation
	fh := res.Results[2].Res.(*nfs4.GetFHRes).Object
	if deleg.DelegationType != nfs4.DelegateRead {
		t.Fatalf("no read delegation: %+v", deleg)
	}
	// Reading with the delegation stateid works.
	if _, err := a.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpRead,
		Args: &nfs4.ReadArgs{StateID: deleg.StateID, Count: 10}}); err != nil {
		t.Fatalf("READ with delegation stateid: %v", err)
	}

	b := dialDeleg(t, addr, 1)
	done := openAsync(b, root, "f")
	r := k.wait(t)
	if r.args.StateID != deleg.StateID || !bytes.Equal(r.args.FH, fh) || r.minor != 1 {
		t.Fatalf("CB_RECALL %+v, want stateid %v fh %x", r, deleg.StateID, fh)
	}
	if r.flavor != rpc.AuthSys {
		t.Fatalf("callback credential flavour %v, want the AUTH_SYS the client offered", r.flavor)
	}
	waitsForReturn(ctx, t, a, fh, deleg.StateID, "conflicting OPEN", done)
	// The returned stateid is gone.
	_, err = a.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: deleg.StateID}})
	if !errors.Is(err, nfs4.ErrBadStateID) {
		t.Fatalf("second DELEGRETURN: %v, want BAD_STATEID", err)
	}
}

// TestDeleg41GetattrRecallsWriteDeleg: another client's GETATTR of the
// mode of a file under a write delegation recalls it and waits (the
// holder may have data or attribute changes the server has not seen;
// heldAttrs); the holder's own GETATTR does not, nor does another
// client's GETATTR of attributes the holder cannot change.
func TestDeleg41GetattrRecallsWriteDeleg(t *testing.T) {
	addr, _ := startDelegServer(t, 20*time.Second)
	ctx := ctx10(t)
	a, k, root := delegClient(t, addr)
	res, err := a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "w", 0, nfs4.ShareAccessBoth|nfs4.ShareAccessWantWriteDeleg, "g", true), nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	deleg := res.Results[1].Res.(*nfs4.OpenRes).Delegation
	fh := res.Results[2].Res.(*nfs4.GetFHRes).Object
	if deleg.DelegationType != nfs4.DelegateWrite {
		t.Fatalf("no write delegation: %+v", deleg)
	}
	getattr := func(c *nfs4client.Client, attrs ...int) error {
		var want nfs4.Bitmap
		for _, at := range attrs {
			want.Set(at)
		}
		_, err := c.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpGetattr,
			Args: &nfs4.GetattrArgs{AttrRequest: want}})
		return err
	}
	if err := getattr(a, nfs4.AttrSize, nfs4.AttrChange); err != nil {
		t.Fatalf("the holder's GETATTR: %v", err)
	}
	b := dialDeleg(t, addr, 1)
	if err := getattr(b, nfs4.AttrType, nfs4.AttrFileID); err != nil {
		t.Fatalf("another client's GETATTR of type and fileid: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- getattr(b, nfs4.AttrMode) }()
	if r := k.wait(t); r.args.StateID != deleg.StateID {
		t.Fatalf("CB_RECALL of %v, want %v", r.args.StateID, deleg.StateID)
	}
	waitsForReturn(ctx, t, a, fh, deleg.StateID, "GETATTR of the mode", done)
}

// waitsForReturn checks that the call whose outcome done delivers is still
// waiting 300 ms after the recall of sid, returns sid from holder, and
// then wants the call to succeed.
func waitsForReturn(ctx context.Context, t *testing.T, holder *nfs4client.Client, fh []byte, sid nfs4.StateID, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s finished (%v) before DELEGRETURN", what, err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := holder.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: sid}}); err != nil {
		t.Fatalf("DELEGRETURN: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s still waiting after DELEGRETURN", what)
	}
}

// TestDeleg41Revoke: a delegation not returned is revoked a lease after
// the recall; the conflicting open then proceeds and the holder sees
// NFS4ERR_DELEG_REVOKED.
func TestDeleg41Revoke(t *testing.T) {
	const lease = 2 * time.Second
	addr, _ := startDelegServer(t, lease)
	ctx := ctx10(t)
	a, k, root := delegClient(t, addr) // k acknowledges recalls, never returns
	a.StartRenewal(lease)
	res, err := a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "w", 0, nfs4.ShareAccessBoth, "g", true), nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	deleg := res.Results[1].Res.(*nfs4.OpenRes).Delegation
	fh := res.Results[2].Res.(*nfs4.GetFHRes).Object
	if deleg.DelegationType != nfs4.DelegateWrite {
		t.Fatalf("write open without others: %+v, want a write delegation", deleg)
	}
	b := dialDeleg(t, addr, 1)
	b.StartRenewal(lease)
	start := time.Now()
	done := openAsync(b, root, "g")
	k.wait(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("OPEN after revocation: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("conflicting OPEN never proceeded")
	}
	if el := time.Since(start); el < lease-100*time.Millisecond {
		t.Fatalf("delegation revoked after %v, before the lease (%v)", el, lease)
	}
	_, err = a.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpRead,
		Args: &nfs4.ReadArgs{StateID: deleg.StateID, Count: 10}})
	if !errors.Is(err, nfs4.ErrDelegRevoked) {
		t.Fatalf("READ with revoked delegation: %v, want DELEG_REVOKED", err)
	}
	res, err = a.Do(ctx, nfs4.ArgOp{Op: nfs4.OpTestStateID, Args: &nfs4.TestStateIDArgs{StateIDs: []nfs4.StateID{deleg.StateID}}})
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Results[0].Res.(*nfs4.TestStateIDRes).StatusCodes[0]; st != nfs4.ErrDelegRevoked {
		t.Fatalf("TEST_STATEID: %v", st)
	}
	if _, err := a.Do(ctx, nfs4.ArgOp{Op: nfs4.OpFreeStateID, Args: &nfs4.FreeStateIDArgs{StateID: deleg.StateID}}); err != nil {
		t.Fatalf("FREE_STATEID: %v", err)
	}
}

// TestDeleg40Callback: a 4.0 client with a callback address: CB_NULL
// probe, a delegation once its owner is confirmed, CB_RECALL over the
// connection the server dials (with the callback_ident), and a REMOVE of
// the file that waits for the return.
func TestDeleg40Callback(t *testing.T) {
	addr, s := startDelegServer(t, 20*time.Second)
	ctx := ctx10(t)
	const cbProg = 0x40000123
	k := newCatcher()
	cbs := &rpcsrv.Server{Logf: func(string, ...any) {}, Handler: rpcsrv.HandlerFunc(func(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
		if c.Prog != cbProg || c.Vers != 1 {
			return rpcsrv.Accepted(rpc.ProgUnavail)
		}
		st, body := k.answer(c.Cred, c.Proc, c.Args)
		if st != rpc.Success {
			return rpcsrv.Accepted(st)
		}
		return rpcsrv.Success(body)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go cbs.Serve(l)
	t.Cleanup(func() { cbs.Shutdown(context.Background()) })
	port := l.Addr().(*net.TCPAddr).Port

	a := dialDeleg(t, addr, 0)
	res, err := a.Compound(ctx, 0, []nfs4.ArgOp{{Op: nfs4.OpSetClientID, Args: &nfs4.SetClientIDArgs{
		Verifier: nfs4.Verifier{1}, ID: []byte("deleg40-a"), CallbackIdent: 7,
		Callback: nfs4.CBClient{CBProgram: cbProg, CBLocation: nfs4.NetAddr{NetID: []byte("tcp"),
			Addr: fmt.Appendf(nil, "127.0.0.1.%d.%d", port>>8, port&255)}},
	}}})
	if err != nil || res.Status != nfs4.OK {
		t.Fatalf("SETCLIENTID: %v %v", err, res)
	}
	sc := res.Results[0].Res.(*nfs4.SetClientIDRes)
	if _, err := a.Do(ctx, nfs4.ArgOp{Op: nfs4.OpSetClientIDConfirm, Args: &nfs4.SetClientIDConfirmArgs{
		ClientID: sc.ClientID, SetClientIDConfirm: sc.SetClientIDConfirm}}); err != nil {
		t.Fatal(err)
	}
	a.ClientID = sc.ClientID
	for i := 0; !s.cb.pathOK(a.ClientID, 0); i++ {
		if i > 100 {
			t.Fatal("CB_NULL probe did not confirm the callback path")
		}
		time.Sleep(20 * time.Millisecond)
	}
	root, err := a.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create(ctx, root, "h", nfs4client.CreateHow{Mode: nfs4.Unchecked4, Access: nfs4.ShareAccessRead})
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Res.Delegation.DelegationType; d != nfs4.DelegateNone {
		t.Fatalf("delegation %d on an unconfirmed owner's OPEN", d)
	}
	f2, err := a.Open(ctx, root, "h", nfs4.ShareAccessRead)
	if err != nil {
		t.Fatal(err)
	}
	deleg := f2.Res.Delegation
	if deleg.DelegationType != nfs4.DelegateRead {
		t.Fatalf("no read delegation: %+v", deleg)
	}

	// A REMOVE (from anyone: 4.0 REMOVE carries no client identity)
	// recalls it and waits.
	b := dialDeleg(t, addr, 0)
	if err := b.SetupClientID(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := b.Do(ctx, nfs4client.PutFH(root), nfs4.ArgOp{Op: nfs4.OpRemove, Args: &nfs4.RemoveArgs{Target: []byte("h")}})
		done <- err
	}()
	r := k.wait(t)
	if r.args.StateID != deleg.StateID || !bytes.Equal(r.args.FH, f2.FH) || r.minor != 0 || r.ident != 7 {
		t.Fatalf("CB_RECALL %+v (ident %d), want stateid %v ident 7", r.args, r.ident, deleg.StateID)
	}
	select {
	case err := <-done:
		t.Fatalf("REMOVE finished (%v) before DELEGRETURN", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := a.Do(ctx, nfs4client.PutFH(f2.FH), nfs4.ArgOp{Op: nfs4.OpDelegReturn,
		Args: &nfs4.DelegReturnArgs{DelegStateID: deleg.StateID}}); err != nil {
		t.Fatalf("DELEGRETURN: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("REMOVE: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("REMOVE still waiting after DELEGRETURN")
	}
}

func TestParseUaddr(t *testing.T) {
	for _, c := range []struct {
		netid, in, want string
	}{
		{"tcp", "127.0.0.1.8.1", "127.0.0.1:2049"},
		{"tcp6", "::1.0.80", "[::1]:80"},
		{"tcp", "0.0.0.0.0.0", ""},
		{"tcp", "127.0.0.1.0.0", ""},
		{"tcp", "127.0.0.1.300.1", ""},
		{"tcp", "::1.0.80", ""},
		{"tcp", "garbage", ""},
	} {
		got, ok := parseUaddr(c.netid, c.in)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("parseUaddr(%q, %q) = %q, %v; want %q", c.netid, c.in, got, ok, c.want)
		}
	}
}

// TestDeleg41WantDelegation: WANT_DELEGATION (RFC 8881 §18.49) and an
// OPEN under the delegation it gave (CLAIM_DELEG_CUR_FH).
func TestDeleg41WantDelegation(t *testing.T) {
	addr, _ := startDelegServer(t, 20*time.Second)
	ctx := ctx10(t)
	a := dialDeleg(t, addr, 1)
	root, err := a.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Do(ctx, nfs4client.PutFH(root),
		openArgs(1, 0, "c", 0, nfs4.ShareAccessRead|nfs4.ShareAccessWantNoDeleg, "w", true), nfs4client.GetFH())
	if err != nil {
		t.Fatal(err)
	}
	fh := res.Results[2].Res.(*nfs4.GetFHRes).Object
	want := func(fh []byte, w uint32) nfs4.OpenDelegation {
		t.Helper()
		res, err := a.Do(ctx, nfs4client.PutFH(fh), nfs4.ArgOp{Op: nfs4.OpWantDelegation,
			Args: &nfs4.WantDelegationArgs{Want: w, Claim: nfs4.DelegClaim{Claim: nfs4.ClaimFH}}})
		if err != nil {
			t.Fatalf("WANT_DELEGATION %#x: %v", w, err)
		}
		return res.Results[1].Res.(*nfs4.WantDelegationRes).Delegation
	}
	if d := want(root, nfs4.ShareAccessWantReadDeleg); d.DelegationType != nfs4.DelegateNoneExt || d.Why != nfs4.WNDIsDir {
		t.Fatalf("directory: %+v", d)
	}
	if d := want(fh, nfs4.ShareAccessWantCancel); d.DelegationType != nfs4.DelegateNoneExt || d.Why != nfs4.WNDCancelled {
		t.Fatalf("cancel: %+v", d)
	}
	d := want(fh, nfs4.ShareAccessWantReadDeleg)
	if d.DelegationType != nfs4.DelegateRead {
		t.Fatalf("WANT_READ_DELEG: %+v", d)
	}
	if d2 := want(fh, nfs4.ShareAccessWantReadDeleg); d2.DelegationType != nfs4.DelegateNoneExt {
		t.Fatalf("second WANT_READ_DELEG: %+v, want none", d2)
	}
	claim := nfs4.ArgOp{Op: nfs4.OpOpen, Args: &nfs4.OpenArgs{ShareAccess: nfs4.ShareAccessRead,
		Owner:   nfs4.OpenOwner{Owner: []byte("dc")},
		OpenHow: nfs4.OpenFlag{OpenType: nfs4.OpenNoCreate},
		Claim:   nfs4.OpenClaim{Claim: nfs4.ClaimDelegCurFH, DelegateStateID: d.StateID}}}
	if _, err := a.Do(ctx, nfs4client.PutFH(fh), claim); err != nil {
		t.Fatalf("OPEN CLAIM_DELEG_CUR_FH: %v", err)
	}
	claim.Args.(*nfs4.OpenArgs).Claim.DelegateStateID.Other[11] ^= 1
	if _, err := a.Do(ctx, nfs4client.PutFH(fh), claim); !errors.Is(err, nfs4.ErrBadStateID) {
		t.Fatalf("OPEN CLAIM_DELEG_CUR_FH with a bad stateid: %v", err)
	}
}
