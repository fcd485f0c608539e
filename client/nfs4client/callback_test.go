package nfs4client

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// recordingHandler is a DelegHandler that records what it is told.
type recordingHandler struct {
	mu       sync.Mutex
	recalled []nfs4.StateID
	lost     []nfs4.StateID
}

func (h *recordingHandler) DelegRecall(ctx context.Context, d *Delegation) {
	h.mu.Lock()
	h.recalled = append(h.recalled, d.StateID)
	h.mu.Unlock()
}
func (h *recordingHandler) DelegLost(d *Delegation) {
	h.mu.Lock()
	h.lost = append(h.lost, d.StateID)
	h.mu.Unlock()
}

// cbClient is a 4.1 client with a session on a fake server that accepts
// every COMPOUND (DELEGRETURN included) and records them.
func cbClient(t *testing.T) (*Client, *fakeServer, *recordingHandler) {
	f := &fakeServer{reply: func(n int, a *nfs4.CompoundArgs) *nfs4.CompoundRes {
		res := &nfs4.CompoundRes{}
		for _, op := range a.Ops {
			r := nfs4.NewRes(op.Op)
			res.Results = append(res.Results, nfs4.ResOp{Op: op.Op, Res: r})
		}
		return res
	}}
	c := newFake(t, f)
	c.Minor = 1
	c.Session = newSession(nfs4.SessionID{1, 2, 3}, 4)
	c.setBackChannel(true)
	h := &recordingHandler{}
	c.EnableDelegations(h)
	return c, f, h
}

func sid(b byte) nfs4.StateID {
	s := nfs4.StateID{SeqID: 1}
	s.Other[0] = b
	return s
}

func cbSeq(c *Client, seq uint32) nfs4.CBArgOp {
	return nfs4.CBArgOp{Op: nfs4.CBOpSequence, Args: &nfs4.CBSequenceArgs{SessionID: c.Session.ID, SequenceID: seq}}
}

// rawCBOp is an op we have no codec for: its number and raw argument bytes.
type rawCBOp struct{ b []byte }

func (r *rawCBOp) Encode(e *xdr.Encoder) { e.Buf = append(e.Buf, r.b...) }
func (r *rawCBOp) Decode(d *xdr.Decoder) {}

// callCB sends a CB_COMPOUND through the callback handler and decodes the
// reply (results of ops without a codec are read as a bare status).
func callCB(t *testing.T, c *Client, minor uint32, ops ...nfs4.CBArgOp) (*nfs4.CBCompoundRes, []byte) {
	t.Helper()
	var e xdr.Encoder
	(&nfs4.CBCompoundArgs{Tag: []byte("t"), MinorVersion: minor, Ops: ops}).Encode(&e)
	st, body := c.handleCallback(context.Background(), &rpc.CallHeader{Prog: CBProgram, Vers: 1, Proc: nfs4.CBProcCompound}, e.Buf)
	if st != rpc.Success {
		t.Fatalf("accept status %v", st)
	}
	d := xdr.NewDecoder(body)
	res := &nfs4.CBCompoundRes{Status: nfs4.Status(d.Uint32()), Tag: d.Opaque("tag", 64)}
	n := d.Uint32()
	for range n {
		op := nfs4.CBOp(d.Uint32())
		r := nfs4.NewCBRes(op)
		if r == nil {
			r = &nfs4.StatusRes{}
		}
		r.Decode(d)
		res.Results = append(res.Results, nfs4.CBResOp{Op: op, Res: r})
	}
	if d.Err() != nil || string(res.Tag) != "t" {
		t.Fatalf("reply: %v, tag %q", d.Err(), res.Tag)
	}
	return res, body
}

func lastStatus(r *nfs4.CBCompoundRes) (nfs4.CBOp, nfs4.Status) {
	if len(r.Results) == 0 {
		return 0, r.Status
	}
	l := r.Results[len(r.Results)-1]
	return l.Op, l.Res.GetStatus()
}

// CB_SEQUENCE: the one slot's sequence, the reply cache, and the
// position and session rules (RFC 8881 §20.9.3, §20.2.3).
func TestCallbackSequence(t *testing.T) {
	c, _, _ := cbClient(t)
	recallAny := nfs4.CBArgOp{Op: nfs4.CBOpRecallAny, Args: &nfs4.CBRecallAnyArgs{ObjectsToKeep: 10}}

	r, first := callCB(t, c, 1, cbSeq(c, 1), recallAny)
	if r.Status != nfs4.OK || len(r.Results) != 2 {
		t.Fatalf("seq 1: %v %d results", r.Status, len(r.Results))
	}
	if sr := r.Results[0].Res.(*nfs4.CBSequenceRes); sr.SequenceID != 1 || sr.SessionID != c.Session.ID {
		t.Fatalf("CB_SEQUENCE result %+v", sr)
	}
	// A retransmission gets the cached reply byte for byte.
	if _, again := callCB(t, c, 1, cbSeq(c, 1), recallAny); !bytes.Equal(again, first) {
		t.Fatal("replay of seqid 1 not answered from the reply cache")
	}
	if r, _ := callCB(t, c, 1, cbSeq(c, 3)); r.Status != nfs4.ErrSeqMisordered {
		t.Fatalf("seq 3 after 1: %v", r.Status)
	}
	if r, _ := callCB(t, c, 1, cbSeq(c, 2)); r.Status != nfs4.OK {
		t.Fatalf("seq 2: %v", r.Status)
	}
	other := nfs4.CBArgOp{Op: nfs4.CBOpSequence, Args: &nfs4.CBSequenceArgs{SessionID: nfs4.SessionID{9}, SequenceID: 3}}
	if r, _ := callCB(t, c, 1, other); r.Status != nfs4.ErrBadSession {
		t.Fatalf("unknown session: %v", r.Status)
	}
	slot1 := nfs4.CBArgOp{Op: nfs4.CBOpSequence, Args: &nfs4.CBSequenceArgs{SessionID: c.Session.ID, SequenceID: 1, SlotID: 1, HighestSlotID: 1}}
	if r, _ := callCB(t, c, 1, slot1); r.Status != nfs4.ErrBadSlot {
		t.Fatalf("slot 1: %v", r.Status)
	}
	if r, _ := callCB(t, c, 1, recallAny); r.Status != nfs4.ErrOpNotInSession {
		t.Fatalf("no CB_SEQUENCE: %v", r.Status)
	}
	if r, _ := callCB(t, c, 1, cbSeq(c, 3), cbSeq(c, 4)); r.Status != nfs4.ErrSequencePos {
		t.Fatalf("second CB_SEQUENCE: %v", r.Status)
	}
	// seqid 3 was used by the request above (its CB_SEQUENCE succeeded).
	lr := nfs4.CBArgOp{Op: nfs4.CBOpLayoutRecall, Args: &rawCBOp{}}
	r, _ = callCB(t, c, 1, cbSeq(c, 4), lr)
	if op, st := lastStatus(r); op != nfs4.CBOpLayoutRecall || st != nfs4.ErrNotSupp {
		t.Fatalf("CB_LAYOUTRECALL: %v %v", op, st)
	}
	bogus := nfs4.CBArgOp{Op: 77, Args: &rawCBOp{}}
	r, _ = callCB(t, c, 1, cbSeq(c, 5), bogus)
	if op, st := lastStatus(r); op != nfs4.CBOpIllegal || st != nfs4.ErrOpIllegal || r.Status != nfs4.ErrOpIllegal {
		t.Fatalf("unknown op: %v %v", op, st)
	}
	nt := nfs4.CBArgOp{Op: nfs4.CBOpNotify, Args: &nfs4.CBNotifyArgs{StateID: sid(7)}}
	r, _ = callCB(t, c, 1, cbSeq(c, 6), nt)
	if _, st := lastStatus(r); st != nfs4.ErrBadStateID {
		t.Fatalf("CB_NOTIFY without a directory delegation: %v", st)
	}
	if r, _ := callCB(t, c, 0, recallAny); r.Status != nfs4.ErrMinorVersMismatch || len(r.Results) != 0 {
		t.Fatalf("minor 0: %v", r.Status)
	}
	// Truncated args of a known op: BADXDR, not a panic.
	trunc := nfs4.CBArgOp{Op: nfs4.CBOpRecall, Args: &rawCBOp{b: []byte{0, 0}}}
	r, _ = callCB(t, c, 1, cbSeq(c, 7), trunc)
	if _, st := lastStatus(r); st != nfs4.ErrBadXDR {
		t.Fatalf("truncated CB_RECALL: %v", st)
	}

	// CB_NULL, wrong program, undecodable header.
	h := &rpc.CallHeader{Prog: CBProgram, Vers: 1, Proc: nfs4.CBProcNull}
	if st, _ := c.handleCallback(context.Background(), h, nil); st != rpc.Success {
		t.Fatalf("CB_NULL: %v", st)
	}
	h = &rpc.CallHeader{Prog: 100003, Vers: 1, Proc: 1}
	if st, _ := c.handleCallback(context.Background(), h, nil); st != rpc.ProgUnavail {
		t.Fatalf("wrong program: %v", st)
	}
	h = &rpc.CallHeader{Prog: CBProgram, Vers: 1, Proc: nfs4.CBProcCompound}
	if st, _ := c.handleCallback(context.Background(), h, []byte{0, 0, 0, 200}); st != rpc.GarbageArgs {
		t.Fatalf("garbage: %v", st)
	}
}

// waitFor polls cond for up to 2 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// delegReturns lists the stateids of the DELEGRETURNs the server saw.
func delegReturns(f *fakeServer) []nfs4.StateID {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l []nfs4.StateID
	for _, a := range f.seen {
		for _, op := range a.Ops {
			if op.Op == nfs4.OpDelegReturn {
				l = append(l, op.Args.(*nfs4.DelegReturnArgs).DelegStateID)
			}
		}
	}
	return l
}

// CB_RECALL: answered at once, then the holder's DelegRecall and
// DELEGRETURN; a recall that overtakes the OPEN granting the delegation
// returns it as soon as it is known.
func TestCallbackRecall(t *testing.T) {
	c, f, h := cbClient(t)
	fh := []byte("file-1")
	c.gotDelegation(fh, &nfs4.OpenDelegation{DelegationType: nfs4.DelegateRead, StateID: sid(1)}, nil)
	if d := c.Delegation(fh); d == nil || d.Write() {
		t.Fatalf("delegation not recorded: %+v", d)
	}
	// The wrong file handle for the stateid: BADHANDLE, nothing returned.
	r, _ := callCB(t, c, 1, cbSeq(c, 1), nfs4.CBArgOp{Op: nfs4.CBOpRecall, Args: &nfs4.CBRecallArgs{StateID: sid(1), FH: []byte("other")}})
	if _, st := lastStatus(r); st != nfs4.ErrBadHandle {
		t.Fatalf("recall with wrong fh: %v", st)
	}
	r, _ = callCB(t, c, 1, cbSeq(c, 2), nfs4.CBArgOp{Op: nfs4.CBOpRecall, Args: &nfs4.CBRecallArgs{StateID: sid(1), FH: fh}})
	if r.Status != nfs4.OK {
		t.Fatalf("recall: %v", r.Status)
	}
	waitFor(t, "DELEGRETURN", func() bool { return len(delegReturns(f)) == 1 })
	if got := delegReturns(f)[0]; got != sid(1) {
		t.Fatalf("returned %v", got)
	}
	h.mu.Lock()
	if len(h.recalled) != 1 || h.recalled[0] != sid(1) {
		t.Fatalf("handler saw %v", h.recalled)
	}
	h.mu.Unlock()
	waitFor(t, "table entry gone", func() bool { return len(c.Delegations()) == 0 })

	// Early recall: unknown stateid 2, granted afterwards.
	r, _ = callCB(t, c, 1, cbSeq(c, 3), nfs4.CBArgOp{Op: nfs4.CBOpRecall, Args: &nfs4.CBRecallArgs{StateID: sid(2), FH: fh}})
	if r.Status != nfs4.OK {
		t.Fatalf("early recall: %v", r.Status)
	}
	c.gotDelegation(fh, &nfs4.OpenDelegation{DelegationType: nfs4.DelegateRead, StateID: sid(2)}, nil)
	if c.Delegation(fh) != nil {
		t.Fatal("a delegation recalled before it was granted is in use")
	}
	waitFor(t, "DELEGRETURN of the early-recalled delegation", func() bool { return len(delegReturns(f)) == 2 })
}

// CB_GETATTR answers size and change for a write delegation only
// (RFC 8881 §20.1.3); CB_RECALL_ANY returns all but the kept ones.
func TestCallbackGetattrRecallAny(t *testing.T) {
	c, f, _ := cbClient(t)
	c.gotDelegation([]byte("w"), &nfs4.OpenDelegation{DelegationType: nfs4.DelegateWrite, StateID: sid(1)},
		&nfs4.Attrs{Size: 10, Change: 5})
	c.Delegation([]byte("w")).SetAttrs(4096, 6)
	for i := byte(2); i < 5; i++ {
		c.gotDelegation([]byte{'r', i}, &nfs4.OpenDelegation{DelegationType: nfs4.DelegateRead, StateID: sid(i)}, nil)
	}
	want := bitmap(nfs4.AttrSize, nfs4.AttrChange)
	r, _ := callCB(t, c, 1, cbSeq(c, 1), nfs4.CBArgOp{Op: nfs4.CBOpGetattr, Args: &nfs4.CBGetattrArgs{FH: []byte("w"), AttrRequest: want}})
	if r.Status != nfs4.OK {
		t.Fatalf("CB_GETATTR: %v", r.Status)
	}
	ga := r.Results[1].Res.(*nfs4.CBGetattrRes)
	a, err := nfs4.DecodeAttrs(&ga.ObjAttributes)
	if err != nil || a.Size != 4096 || a.Change != 6 {
		t.Fatalf("CB_GETATTR attrs %+v %v", a, err)
	}
	r, _ = callCB(t, c, 1, cbSeq(c, 2), nfs4.CBArgOp{Op: nfs4.CBOpGetattr, Args: &nfs4.CBGetattrArgs{FH: []byte{'r', 2}, AttrRequest: want}})
	if _, st := lastStatus(r); st != nfs4.ErrBadHandle {
		t.Fatalf("CB_GETATTR on a read delegation: %v", st)
	}
	var mask nfs4.Bitmap
	mask.Set(rcaReadDeleg)
	r, _ = callCB(t, c, 1, cbSeq(c, 3), nfs4.CBArgOp{Op: nfs4.CBOpRecallAny, Args: &nfs4.CBRecallAnyArgs{ObjectsToKeep: 1, TypeMask: mask}})
	if r.Status != nfs4.OK {
		t.Fatalf("CB_RECALL_ANY: %v", r.Status)
	}
	waitFor(t, "two DELEGRETURNs", func() bool { return len(delegReturns(f)) == 2 })
	time.Sleep(20 * time.Millisecond)
	if n := len(delegReturns(f)); n != 2 {
		t.Fatalf("%d delegations returned, want 2", n)
	}
	for _, s := range delegReturns(f) {
		if s == sid(1) {
			t.Fatal("the write delegation was returned for a read-only CB_RECALL_ANY")
		}
	}
}

// OPEN asks for a delegation only when enabled and a back channel exists.
func TestDelegWantBits(t *testing.T) {
	c, _, _ := cbClient(t)
	if w := c.wantBits(nfs4.ShareAccessRead, nfs4.ClaimFH); w != nfs4.ShareAccessWantReadDeleg {
		t.Fatalf("read open: %#x", w)
	}
	if w := c.wantBits(nfs4.ShareAccessBoth, nfs4.ClaimNull); w != nfs4.ShareAccessWantNoPreference {
		t.Fatalf("write open: %#x", w)
	}
	if w := c.wantBits(nfs4.ShareAccessRead, nfs4.ClaimDelegCurFH); w != nfs4.ShareAccessWantNoDeleg {
		t.Fatalf("open under a delegation: %#x", w)
	}
	c.setBackChannel(false)
	if w := c.wantBits(nfs4.ShareAccessRead, nfs4.ClaimFH); w != nfs4.ShareAccessWantNoDeleg {
		t.Fatalf("no back channel: %#x", w)
	}
	c2, _, _ := cbClient(t)
	c2.dg.want = false
	if w := c2.wantBits(nfs4.ShareAccessRead, nfs4.ClaimFH); w != nfs4.ShareAccessWantNoDeleg {
		t.Fatalf("not enabled: %#x", w)
	}
}
