package nfs4client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/xdr"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// fakeServer answers COMPOUNDs with reply(args) and records what it saw.
type fakeServer struct {
	mu    sync.Mutex
	seen  []*nfs4.CompoundArgs
	reply func(n int, a *nfs4.CompoundArgs) *nfs4.CompoundRes
}

func (f *fakeServer) ServeRPC(ctx context.Context, c *rpcsrv.Call) rpcsrv.Reply {
	a := new(nfs4.CompoundArgs)
	d := xdr.NewDecoder(append([]byte(nil), c.Args...))
	a.Decode(d)
	f.mu.Lock()
	f.seen = append(f.seen, a)
	n := len(f.seen)
	f.mu.Unlock()
	var e xdr.Encoder
	f.reply(n, a).Encode(&e)
	return rpcsrv.Success(e.Buf)
}

func newFake(t *testing.T, f *fakeServer) *Client {
	srv := &rpcsrv.Server{Handler: f, Logf: func(string, ...any) {}}
	cc, sc := net.Pipe()
	go srv.ServeConn(sc)
	c := New(cc)
	t.Cleanup(func() { c.Close() })
	return c
}

func seqRes(st nfs4.Status) nfs4.ResOp {
	return nfs4.ResOp{Op: nfs4.OpSequence, Res: &nfs4.SequenceRes{Status: st}}
}

// SEQUENCE is prepended and stripped, a slot's seqid advances only when
// SEQUENCE succeeded, and NFS4ERR_DELAY is retried.
func TestSessionSequencing(t *testing.T) {
	f := &fakeServer{reply: func(n int, a *nfs4.CompoundArgs) *nfs4.CompoundRes {
		switch n {
		case 1: // SEQUENCE itself says DELAY: retried with the same seqid
			return &nfs4.CompoundRes{Status: nfs4.ErrDelay, Results: []nfs4.ResOp{seqRes(nfs4.ErrDelay)}}
		case 2: // an op after SEQUENCE says DELAY: retried with seqid+1
			return &nfs4.CompoundRes{Status: nfs4.ErrDelay, Results: []nfs4.ResOp{seqRes(nfs4.OK),
				{Op: nfs4.OpPutRootFH, Res: &nfs4.PutRootFHRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrDelay}}}}}
		}
		return &nfs4.CompoundRes{Results: []nfs4.ResOp{seqRes(nfs4.OK),
			{Op: nfs4.OpPutRootFH, Res: &nfs4.PutRootFHRes{}}}}
	}}
	c := newFake(t, f)
	c.Session = &Session{free: make(chan uint32, 1), seqids: []uint32{1}}
	c.Session.free <- 0
	c.Minor = 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Do(ctx, PutRootFH())
	if err != nil || len(res.Results) != 1 || res.Results[0].Op != nfs4.OpPutRootFH {
		t.Fatalf("Do: %+v %v", res, err)
	}
	var got []uint32
	for _, a := range f.seen {
		if a.Ops[0].Op != nfs4.OpSequence || len(a.Ops) != 2 {
			t.Fatalf("sent ops %v", a.Ops)
		}
		got = append(got, a.Ops[0].Args.(*nfs4.SequenceArgs).SequenceID)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("SEQUENCE ids sent: %v, want [1 1 2]", got)
	}
	if c.Session.seqids[0] != 3 {
		t.Fatalf("next seqid %d, want 3", c.Session.seqids[0])
	}
}

// A failed op becomes a *StatusError naming it, matching errors.Is.
func TestStatusError(t *testing.T) {
	f := &fakeServer{reply: func(int, *nfs4.CompoundArgs) *nfs4.CompoundRes {
		return &nfs4.CompoundRes{Status: nfs4.ErrNoEnt, Results: []nfs4.ResOp{
			{Op: nfs4.OpPutRootFH, Res: &nfs4.PutRootFHRes{}},
			{Op: nfs4.OpLookup, Res: &nfs4.LookupRes{StatusRes: nfs4.StatusRes{Status: nfs4.ErrNoEnt}}}}}
	}}
	c := newFake(t, f)
	_, err := c.LookupPath(context.Background(), "nope")
	se, ok := err.(*StatusError)
	if !ok || se.Op != nfs4.OpLookup || se.Status != nfs4.ErrNoEnt {
		t.Fatalf("err = %v", err)
	}
	if a := f.seen[0]; a.MinorVersion != 0 || len(a.Ops) != 3 || a.Ops[1].Args.(*nfs4.LookupArgs).ObjName == nil {
		t.Fatalf("sent %+v", a)
	}
}

func seqOK(a *nfs4.CompoundArgs, target uint32) nfs4.ResOp {
	sa := a.Ops[0].Args.(*nfs4.SequenceArgs)
	return nfs4.ResOp{Op: nfs4.OpSequence, Res: &nfs4.SequenceRes{SessionID: sa.SessionID,
		SequenceID: sa.SequenceID, SlotID: sa.SlotID, HighestSlotID: 1, TargetHighestSlotID: target}}
}

// BADSLOT and SEQ_MISORDERED retire the slot and retry on another one;
// a lowered target_highest_slotid keeps higher slots out of use
// (RFC 8881 §2.10.6.1, §18.46.3).
func TestSlotRecovery(t *testing.T) {
	f := &fakeServer{reply: func(n int, a *nfs4.CompoundArgs) *nfs4.CompoundRes {
		slot := a.Ops[0].Args.(*nfs4.SequenceArgs).SlotID
		switch {
		case n == 1 && slot == 0:
			return &nfs4.CompoundRes{Status: nfs4.ErrBadSlot, Results: []nfs4.ResOp{seqRes(nfs4.ErrBadSlot)}}
		case n == 1:
			t.Errorf("first call on slot %d, want 0", slot)
		}
		return &nfs4.CompoundRes{Results: []nfs4.ResOp{seqOK(a, 1),
			{Op: nfs4.OpPutRootFH, Res: &nfs4.PutRootFHRes{}}}}
	}}
	c := newFake(t, f)
	s := newSession(nfs4.SessionID{1}, 3)
	// Hand out slot 0 first.
	for len(s.free) > 0 {
		<-s.free
	}
	for i := range uint32(3) {
		s.free <- i
	}
	c.Session, c.Minor = s, 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Do(ctx, PutRootFH()); err != nil {
		t.Fatal(err)
	}
	if len(f.seen) != 2 {
		t.Fatalf("%d calls, want 2 (BADSLOT, retry)", len(f.seen))
	}
	if got := f.seen[1].Ops[0].Args.(*nfs4.SequenceArgs).SlotID; got == 0 {
		t.Fatal("retried on the retired slot 0")
	}
	// The server said target_highest_slotid 1: slot 2 must not be used.
	for range 10 {
		if _, err := c.Do(ctx, PutRootFH()); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range f.seen[2:] {
		if slot := a.Ops[0].Args.(*nfs4.SequenceArgs).SlotID; slot != 1 {
			t.Fatalf("call %d on slot %d, want only slot 1", i+2, slot)
		}
	}
	if s.seqids[1] != 12 {
		t.Fatalf("slot 1 seqid %d, want 12 after 11 calls", s.seqids[1])
	}
}

// An idle client sends SEQUENCE-only COMPOUNDs to renew its lease.
func TestLeaseRenewal(t *testing.T) {
	f := &fakeServer{reply: func(n int, a *nfs4.CompoundArgs) *nfs4.CompoundRes {
		return &nfs4.CompoundRes{Results: []nfs4.ResOp{seqOK(a, 0)}}
	}}
	c := newFake(t, f)
	c.Session, c.Minor = newSession(nfs4.SessionID{1}, 1), 1
	c.StartRenewal(300 * time.Millisecond)
	time.Sleep(700 * time.Millisecond)
	c.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) < 3 {
		t.Fatalf("%d renewals in 700 ms with a 300 ms lease, want ≥ 3", len(f.seen))
	}
	for _, a := range f.seen {
		if len(a.Ops) != 1 || a.Ops[0].Op != nfs4.OpSequence {
			t.Fatalf("renewal sent %v", a.Ops)
		}
	}
}
