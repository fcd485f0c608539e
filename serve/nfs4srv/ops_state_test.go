package nfs4srv

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/fsadapters/mem"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/proto/rpc"
	"github.com/fsbridge/fsbridge/proto/xdr"
)

// Tests of the state ops (client registration, sessions, OPEN/CLOSE,
// locks) driven as whole COMPOUNDs through Server.Compound.

type stEnv struct {
	t testing.TB
	s *Server
}

func newStEnv(t *testing.T, lease time.Duration) *stEnv {
	s := New(Config{FS: mem.New(), LeaseTime: lease})
	t.Cleanup(s.Close)
	return &stEnv{t: t, s: s}
}

// call runs one COMPOUND as root from machine "test" on connection conn
// and returns the raw reply and its decoding.
func (e *stEnv) call(minor uint32, conn any, ops ...nfs4.ArgOp) ([]byte, *nfs4.CompoundRes) {
	e.t.Helper()
	var enc xdr.Encoder
	(&nfs4.CompoundArgs{Tag: []byte("st"), MinorVersion: minor, Ops: ops}).Encode(&enc)
	auth := rpc.NewAuthSys(rpc.AuthSysParams{MachineName: "test"})
	reply, release := e.s.Compound(context.Background(), &auth, conn, enc.Buf)
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
	return body, &res
}

// must checks the compound status and result count.
func (e *stEnv) must(r *nfs4.CompoundRes, st nfs4.Status, n int) {
	e.t.Helper()
	if r.Status != st || len(r.Results) != n {
		var got []string
		for _, x := range r.Results {
			got = append(got, fmt.Sprintf("%v:%d", x.Op, x.Res.GetStatus()))
		}
		e.t.Fatalf("status %d with %d results %v, want %d with %d", r.Status, len(r.Results), got, st, n)
	}
}

func stOp(op nfs4.Op, a nfs4.Args) nfs4.ArgOp { return nfs4.ArgOp{Op: op, Args: a} }

func stPutRoot() nfs4.ArgOp { return stOp(nfs4.OpPutRootFH, &nfs4.PutRootFHArgs{}) }
func stGetFH() nfs4.ArgOp   { return stOp(nfs4.OpGetFH, &nfs4.GetFHArgs{}) }
func stPutFH(fh []byte) nfs4.ArgOp {
	return stOp(nfs4.OpPutFH, &nfs4.PutFHArgs{Object: fh})
}

// client40 registers a confirmed 4.0 client.
func (e *stEnv) client40(name string) uint64 {
	e.t.Helper()
	_, r := e.call(0, nil, stOp(nfs4.OpSetClientID, &nfs4.SetClientIDArgs{
		Verifier: nfs4.Verifier{1}, ID: []byte(name),
		Callback: nfs4.CBClient{CBProgram: 0x40000000,
			CBLocation: nfs4.NetAddr{NetID: []byte("tcp"), Addr: []byte("127.0.0.1.3.4")}}}))
	e.must(r, nfs4.OK, 1)
	sc := r.Results[0].Res.(*nfs4.SetClientIDRes)
	_, r = e.call(0, nil, stOp(nfs4.OpSetClientIDConfirm, &nfs4.SetClientIDConfirmArgs{
		ClientID: sc.ClientID, SetClientIDConfirm: sc.SetClientIDConfirm}))
	e.must(r, nfs4.OK, 1)
	return sc.ClientID
}

func openOp(seqid uint32, clientID uint64, owner string, access, deny uint32, name string, how *nfs4.CreateHow) nfs4.ArgOp {
	a := &nfs4.OpenArgs{SeqID: seqid, ShareAccess: access, ShareDeny: deny,
		Owner: nfs4.OpenOwner{ClientID: clientID, Owner: []byte(owner)},
		Claim: nfs4.OpenClaim{Claim: nfs4.ClaimNull, File: []byte(name)}}
	if how != nil {
		a.OpenHow = nfs4.OpenFlag{OpenType: nfs4.OpenCreate, CreateHow: *how}
	}
	return stOp(nfs4.OpOpen, a)
}

var guarded = &nfs4.CreateHow{Mode: nfs4.Guarded4}

// open40 opens (creating if how is set) name in the root as a new owner and
// confirms it; it returns the file handle and the confirmed stateid.
func (e *stEnv) open40(clientID uint64, owner string, access, deny uint32, name string, how *nfs4.CreateHow) ([]byte, nfs4.StateID) {
	e.t.Helper()
	_, r := e.call(0, nil, stPutRoot(), openOp(1, clientID, owner, access, deny, name, how), stGetFH())
	e.must(r, nfs4.OK, 3)
	o := r.Results[1].Res.(*nfs4.OpenRes)
	fh := r.Results[2].Res.(*nfs4.GetFHRes).Object
	if o.RFlags&nfs4.OpenResultConfirm == 0 {
		e.t.Fatalf("new 4.0 owner: rflags %#x lack OPEN4_RESULT_CONFIRM", o.RFlags)
	}
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpOpenConfirm, &nfs4.OpenConfirmArgs{OpenStateID: o.StateID, SeqID: 2}))
	e.must(r, nfs4.OK, 2)
	sid := r.Results[1].Res.(*nfs4.OpenConfirmRes).StateID
	if sid.Other != o.StateID.Other || sid.SeqID != o.StateID.SeqID+1 {
		e.t.Fatalf("OPEN_CONFIRM stateid %+v after %+v", sid, o.StateID)
	}
	return fh, sid
}

func TestState40OpenConfirmClose(t *testing.T) {
	e := newStEnv(t, 0)
	cid := e.client40("c1")
	fh, sid := e.open40(cid, "o1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded)

	// WRITE through the open works: the backend File is attached.
	_, r := e.call(0, nil, stPutFH(fh), stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: sid, Stable: nfs4.FileSync4, Data: []byte("hello")}))
	e.must(r, nfs4.OK, 2)

	closeOp := stOp(nfs4.OpClose, &nfs4.CloseArgs{SeqID: 3, OpenStateID: sid})
	raw1, r := e.call(0, nil, stPutFH(fh), closeOp)
	e.must(r, nfs4.OK, 2)
	// A retransmitted CLOSE gets the cached reply, not BAD_STATEID.
	raw2, r := e.call(0, nil, stPutFH(fh), closeOp)
	e.must(r, nfs4.OK, 2)
	if !bytes.Equal(raw1, raw2) {
		t.Fatal("replayed CLOSE reply differs")
	}
	// The stateid is gone for I/O.
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpRead, &nfs4.ReadArgs{StateID: sid, Count: 5}))
	e.must(r, nfs4.ErrBadStateID, 2)
	// RENEW works in 4.0 and is NOTSUPP in 4.1 (RFC 8881 §18).
	_, r = e.call(0, nil, stOp(nfs4.OpRenew, &nfs4.RenewArgs{ClientID: cid}))
	e.must(r, nfs4.OK, 1)
}

func TestState40OpenReplay(t *testing.T) {
	e := newStEnv(t, 0)
	cid := e.client40("c1")
	// Confirm the owner first so its seqids are strict.
	_, sid := e.open40(cid, "o1", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "a", guarded)
	_ = sid
	ops := []nfs4.ArgOp{stPutRoot(), openOp(3, cid, "o1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "b", guarded), stGetFH()}
	raw1, r := e.call(0, nil, ops...)
	e.must(r, nfs4.OK, 3)
	// Same seqid again: the cached result, including the filehandle the
	// OPEN left current — not NFS4ERR_EXIST from a second GUARDED create.
	raw2, r := e.call(0, nil, ops...)
	e.must(r, nfs4.OK, 3)
	if !bytes.Equal(raw1, raw2) {
		t.Fatal("replayed OPEN reply differs from the original")
	}
	// Skipping a seqid is BAD_SEQID; the next one runs and finds the file.
	_, r = e.call(0, nil, stPutRoot(), openOp(5, cid, "o1", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "b", guarded))
	e.must(r, nfs4.ErrBadSeqID, 2)
	_, r = e.call(0, nil, stPutRoot(), openOp(4, cid, "o1", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "b", guarded))
	e.must(r, nfs4.ErrExist, 2)
	// The EXIST consumed seqid 4 (RFC 7530 §9.1.7): 5 is next.
	_, r = e.call(0, nil, stPutRoot(), openOp(5, cid, "o1", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "b", nil))
	e.must(r, nfs4.OK, 2)
	if rf := r.Results[1].Res.(*nfs4.OpenRes).RFlags; rf&nfs4.OpenResultConfirm != 0 {
		t.Fatalf("confirmed owner got OPEN4_RESULT_CONFIRM (rflags %#x)", rf)
	}
}

func TestState40ExclusiveRetransmit(t *testing.T) {
	e := newStEnv(t, 0)
	cid := e.client40("c1")
	excl := &nfs4.CreateHow{Mode: nfs4.Exclusive4, CreateVerf: nfs4.Verifier{9, 9, 9}}
	_, r := e.call(0, nil, stPutRoot(), openOp(1, cid, "o1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "x", excl), stGetFH())
	e.must(r, nfs4.OK, 3)
	fh1 := r.Results[2].Res.(*nfs4.GetFHRes).Object
	// A retransmission that missed the owner's replay cache (another
	// owner here) still succeeds on the same file: the verifier matches.
	_, r = e.call(0, nil, stPutRoot(), openOp(1, cid, "o2", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "x", excl), stGetFH())
	e.must(r, nfs4.OK, 3)
	if fh2 := r.Results[2].Res.(*nfs4.GetFHRes).Object; !bytes.Equal(fh1, fh2) {
		t.Fatal("exclusive retransmission opened another file")
	}
	other := &nfs4.CreateHow{Mode: nfs4.Exclusive4, CreateVerf: nfs4.Verifier{1}}
	_, r = e.call(0, nil, stPutRoot(), openOp(1, cid, "o3", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "x", other))
	e.must(r, nfs4.ErrExist, 2)
}

func TestState40ShareDeny(t *testing.T) {
	e := newStEnv(t, 0)
	c1, c2 := e.client40("c1"), e.client40("c2")
	e.open40(c1, "o", nfs4.ShareAccessRead, nfs4.ShareDenyWrite, "f", guarded)
	_, r := e.call(0, nil, stPutRoot(), openOp(1, c2, "o", nfs4.ShareAccessWrite, nfs4.ShareDenyNone, "f", nil))
	e.must(r, nfs4.ErrShareDenied, 2)
	_, r = e.call(0, nil, stPutRoot(), openOp(2, c2, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "f", nil))
	e.must(r, nfs4.OK, 2)
	// Opening a directory or a missing name.
	_, r = e.call(0, nil, stPutRoot(), stOp(nfs4.OpCreate, &nfs4.CreateArgs{ObjType: nfs4.NF4DIR, ObjName: []byte("d")}))
	e.must(r, nfs4.OK, 2)
	_, r = e.call(0, nil, stPutRoot(), openOp(3, c2, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "d", nil))
	e.must(r, nfs4.ErrIsDir, 2)
	_, r = e.call(0, nil, stPutRoot(), openOp(4, c2, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "nope", nil))
	e.must(r, nfs4.ErrNoEnt, 2)
	_, r = e.call(0, nil, stPutRoot(), openOp(5, c2, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "", nil))
	e.must(r, nfs4.ErrInval, 2)
}

func lockNew(openSeq uint32, osid nfs4.StateID, cid uint64, owner string, typ uint32, off, n uint64) nfs4.ArgOp {
	return stOp(nfs4.OpLock, &nfs4.LockArgs{LockType: typ, Offset: off, Length: n, Locker: nfs4.Locker{
		NewLockOwner: true, OpenSeqID: openSeq, OpenStateID: osid, LockSeqID: 0,
		LockOwner: nfs4.LockOwner{ClientID: cid, Owner: []byte(owner)}}})
}

func TestState40LockConflict(t *testing.T) {
	e := newStEnv(t, 0)
	c1, c2 := e.client40("c1"), e.client40("c2")
	fh, s1 := e.open40(c1, "o", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded)
	_, s2 := e.open40(c2, "o", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", nil)

	_, r := e.call(0, nil, stPutFH(fh), lockNew(3, s1, c1, "L1", nfs4.WriteLT, 0, 100))
	e.must(r, nfs4.OK, 2)
	l1 := r.Results[1].Res.(*nfs4.LockRes).LockStateID

	_, r = e.call(0, nil, stPutFH(fh), lockNew(3, s2, c2, "L2", nfs4.ReadLT, 50, 10))
	e.must(r, nfs4.ErrDenied, 2)
	d := r.Results[1].Res.(*nfs4.LockRes).Denied
	if d.Owner.ClientID != c1 || string(d.Owner.Owner) != "L1" || d.Offset != 0 || d.Length != 100 || d.LockType != nfs4.WriteLT {
		t.Fatalf("LOCK4denied %+v", d)
	}
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpLockT, &nfs4.LockTArgs{LockType: nfs4.ReadLT, Offset: 99, Length: 1,
		Owner: nfs4.LockOwner{ClientID: c2, Owner: []byte("L2")}}))
	e.must(r, nfs4.ErrDenied, 2)

	// The owner unlocks; now the other gets its lock (DENIED consumed
	// open seqid 3, so 4 is next).
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpLockU, &nfs4.LockUArgs{LockType: nfs4.WriteLT, SeqID: 1,
		LockStateID: l1, Offset: 0, Length: 100}))
	e.must(r, nfs4.OK, 2)
	_, r = e.call(0, nil, stPutFH(fh), lockNew(4, s2, c2, "L2", nfs4.ReadLT, 50, 10))
	e.must(r, nfs4.OK, 2)
	// CLOSE with a lock held releases it (RFC 7530 §16.2.4: the server
	// MAY free outstanding locks on CLOSE): c1's owner can then lock the
	// range that c2's read lock covered.
	lockT := stOp(nfs4.OpLockT, &nfs4.LockTArgs{LockType: nfs4.WriteLT, Offset: 50, Length: 10,
		Owner: nfs4.LockOwner{ClientID: c1, Owner: []byte("L9")}})
	_, r = e.call(0, nil, stPutFH(fh), lockT)
	e.must(r, nfs4.ErrDenied, 2)
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpClose, &nfs4.CloseArgs{SeqID: 5, OpenStateID: s2}))
	e.must(r, nfs4.OK, 2)
	_, r = e.call(0, nil, stPutFH(fh), lockT)
	e.must(r, nfs4.OK, 2)
}

func TestState40LeaseExpiry(t *testing.T) {
	e := newStEnv(t, 300*time.Millisecond)
	c1 := e.client40("c1")
	fh, sid := e.open40(c1, "o", nfs4.ShareAccessBoth, nfs4.ShareDenyBoth, "f", guarded)
	c2 := e.client40("c2")
	_, r := e.call(0, nil, stPutRoot(), openOp(1, c2, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "f", nil))
	e.must(r, nfs4.ErrShareDenied, 2)
	// c2 keeps renewing while c1 stays silent for several lease periods
	// (the reaper runs every 100ms): c1's open and its deny go away.
	for range 12 {
		time.Sleep(100 * time.Millisecond)
		_, r = e.call(0, nil, stOp(nfs4.OpRenew, &nfs4.RenewArgs{ClientID: c2}))
		e.must(r, nfs4.OK, 1)
	}
	_, r = e.call(0, nil, stOp(nfs4.OpRenew, &nfs4.RenewArgs{ClientID: c1}))
	e.must(r, nfs4.ErrExpired, 1)
	_, r = e.call(0, nil, stPutFH(fh), stOp(nfs4.OpClose, &nfs4.CloseArgs{SeqID: 3, OpenStateID: sid}))
	e.must(r, nfs4.ErrExpired, 2)
	_, r = e.call(0, nil, stPutRoot(), openOp(2, c2, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "f", nil))
	e.must(r, nfs4.OK, 2)
}

// session41 runs EXCHANGE_ID and CREATE_SESSION and returns the client
// and session IDs.
func (e *stEnv) session41(name string, conn any) (uint64, nfs4.SessionID) {
	e.t.Helper()
	_, r := e.call(1, conn, stOp(nfs4.OpExchangeID, &nfs4.ExchangeIDArgs{
		ClientOwner: nfs4.ClientOwner{Verifier: nfs4.Verifier{7}, OwnerID: []byte(name)},
		Flags:       0, StateProtect: nfs4.StateProtectA{How: nfs4.SP4None}}))
	e.must(r, nfs4.OK, 1)
	x := r.Results[0].Res.(*nfs4.ExchangeIDRes)
	if x.Flags&nfs4.ExchGIDFlagUseNonPNFS == 0 || x.ServerImplID == nil || len(x.ServerOwner.MajorID) == 0 {
		e.t.Fatalf("EXCHANGE_ID result %+v", x)
	}
	ch := nfs4.ChannelAttrs{MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20, MaxResponseSizeCached: 8192,
		MaxOperations: 16, MaxRequests: 4}
	_, r = e.call(1, conn, stOp(nfs4.OpCreateSession, &nfs4.CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID,
		ForeChanAttrs: ch, BackChanAttrs: ch, CBProgram: 0x40000000}))
	e.must(r, nfs4.OK, 1)
	cs := r.Results[0].Res.(*nfs4.CreateSessionRes)
	if cs.ForeChanAttrs.MaxRequests != 4 || cs.ForeChanAttrs.MaxOperations != 16 {
		e.t.Fatalf("negotiated fore channel %+v", cs.ForeChanAttrs)
	}
	// New opens need RECLAIM_COMPLETE first (RFC 8881 §18.51.3); slot 3 is
	// kept for it so the tests' own slot numbering is unchanged.
	_, r = e.call(1, conn, seqOp(cs.SessionID, 1, 3), stOp(nfs4.OpReclaimComplete, &nfs4.ReclaimCompleteArgs{}))
	e.must(r, nfs4.OK, 2)
	return x.ClientID, cs.SessionID
}

func seqOp(sid nfs4.SessionID, seq, slot uint32) nfs4.ArgOp {
	return stOp(nfs4.OpSequence, &nfs4.SequenceArgs{SessionID: sid, SequenceID: seq, SlotID: slot, HighestSlotID: 3})
}

func TestState41SessionOpenReplay(t *testing.T) {
	e := newStEnv(t, 0)
	conn := new(int)
	_, sess := e.session41("c41", conn)

	ops := []nfs4.ArgOp{seqOp(sess, 1, 0), stPutRoot(),
		openOp(0, 0, "o", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded), stGetFH()}
	raw1, r := e.call(1, conn, ops...)
	e.must(r, nfs4.OK, 4)
	o := r.Results[2].Res.(*nfs4.OpenRes)
	if o.RFlags&nfs4.OpenResultConfirm != 0 || o.Delegation.DelegationType != nfs4.DelegateNone {
		t.Fatalf("4.1 OPEN result %+v", o)
	}
	// Retransmission (same slot and seqid, sa_cachethis false): the
	// cached reply, byte for byte, and no second GUARDED create.
	raw2, r := e.call(1, conn, ops...)
	e.must(r, nfs4.OK, 4)
	if !bytes.Equal(raw1, raw2) {
		t.Fatal("SEQUENCE replay differs from the original reply")
	}
	// Misordered slot seqid.
	_, r = e.call(1, conn, seqOp(sess, 5, 0), stPutRoot())
	e.must(r, nfs4.ErrSeqMisordered, 1)
	// The current stateid (seqid 1, other 0) reaches CLOSE; the 4.0-only
	// ops are NOTSUPP.
	fh := r0fh(t, raw1)
	_, r = e.call(1, conn, seqOp(sess, 2, 0), stPutFH(fh),
		stOp(nfs4.OpClose, &nfs4.CloseArgs{OpenStateID: o.StateID}))
	e.must(r, nfs4.OK, 3)
	_, r = e.call(1, conn, seqOp(sess, 3, 0), stOp(nfs4.OpRenew, &nfs4.RenewArgs{}))
	e.must(r, nfs4.ErrNotSupp, 2)
	// EXCHANGE_ID must stand alone without SEQUENCE.
	_, r = e.call(1, conn, stOp(nfs4.OpExchangeID, &nfs4.ExchangeIDArgs{
		ClientOwner: nfs4.ClientOwner{OwnerID: []byte("z")}}), stPutRoot())
	e.must(r, nfs4.ErrNotOnlyOp, 1)
	// A stateful op without SEQUENCE first.
	_, r = e.call(1, conn, stPutRoot())
	e.must(r, nfs4.ErrOpNotInSession, 1)
}

// r0fh extracts the GETFH result of a SEQUENCE, PUTROOTFH, OPEN, GETFH reply.
func r0fh(t *testing.T, raw []byte) []byte {
	var res nfs4.CompoundRes
	res.Decode(xdr.NewDecoder(raw))
	return res.Results[3].Res.(*nfs4.GetFHRes).Object
}

func TestState41Lock(t *testing.T) {
	e := newStEnv(t, 0)
	conn := new(int)
	cid, sess := e.session41("c41", conn)
	_, r := e.call(1, conn, seqOp(sess, 1, 0), stPutRoot(),
		openOp(0, 0, "o", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded),
		// open_to_lock_owner with the current stateid
		lockNew(0, nfs4.CurrentStateID, 0, "L", nfs4.WriteLT, 0, 10),
		// LOCKU through the current (lock) stateid
		stOp(nfs4.OpLockU, &nfs4.LockUArgs{LockType: nfs4.WriteLT, LockStateID: nfs4.CurrentStateID, Offset: 0, Length: 10}))
	e.must(r, nfs4.OK, 5)
	// TEST_STATEID knows the lock stateid; FREE_STATEID frees it (no locks).
	lsid := r.Results[4].Res.(*nfs4.LockURes).StateID
	_, r = e.call(1, conn, seqOp(sess, 2, 0), stOp(nfs4.OpTestStateID, &nfs4.TestStateIDArgs{StateIDs: []nfs4.StateID{lsid, {SeqID: 1, Other: [12]byte{1}}}}),
		stOp(nfs4.OpFreeStateID, &nfs4.FreeStateIDArgs{StateID: lsid}))
	e.must(r, nfs4.OK, 3)
	if codes := r.Results[1].Res.(*nfs4.TestStateIDRes).StatusCodes; len(codes) != 2 || codes[0] != nfs4.OK || codes[1] == nfs4.OK {
		t.Fatalf("TEST_STATEID codes %v", codes)
	}
	// RECLAIM_COMPLETE only once (session41 sent the first one).
	_, r = e.call(1, conn, seqOp(sess, 3, 0))
	e.must(r, nfs4.OK, 1)
	_, r = e.call(1, conn, seqOp(sess, 4, 0), stOp(nfs4.OpReclaimComplete, &nfs4.ReclaimCompleteArgs{}))
	e.must(r, nfs4.ErrCompleteAlready, 2)
	// DESTROY_SESSION, then the client ID (no state left but the open).
	_, r = e.call(1, conn, stOp(nfs4.OpDestroySession, &nfs4.DestroySessionArgs{SessionID: sess}))
	e.must(r, nfs4.OK, 1)
	_, r = e.call(1, conn, seqOp(sess, 5, 0))
	e.must(r, nfs4.ErrBadSession, 1)
	_, r = e.call(1, conn, stOp(nfs4.OpDestroyClientID, &nfs4.DestroyClientIDArgs{ClientID: cid}))
	e.must(r, nfs4.ErrClientIDBusy, 1) // the open is still held
}
