package state

import (
	"bytes"
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

const (
	rd   = nfs4.ShareAccessRead
	wr   = nfs4.ShareAccessWrite
	both = nfs4.ShareAccessBoth
)

func TestShareReservations(t *testing.T) {
	tests := []struct {
		name              string
		acc1, deny1       uint32
		acc2, deny2       uint32
		want              error
		sameOwnerUpgrades bool
	}{
		{"read/read", rd, 0, rd, 0, nil, false},
		{"deny write vs write", rd, nfs4.ShareDenyWrite, wr, 0, nfs4.ErrShareDenied, false},
		{"deny write vs read", rd, nfs4.ShareDenyWrite, rd, 0, nil, false},
		{"write vs deny write", wr, 0, rd, nfs4.ShareDenyWrite, nfs4.ErrShareDenied, false},
		{"deny both vs read", rd, nfs4.ShareDenyBoth, rd, 0, nfs4.ErrShareDenied, false},
		{"read vs deny read", rd, 0, rd, nfs4.ShareDenyRead, nfs4.ErrShareDenied, false},
		{"same owner: own deny refuses new access", rd, nfs4.ShareDenyBoth, wr, 0, nfs4.ErrShareDenied, true},
		{"same owner upgrade outside own deny", rd, nfs4.ShareDenyRead, wr, 0, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.client40(t, "a", "p", 1)
			o1, s1 := e.open40(t, id, "o1", "f", tc.acc1, tc.deny1, nil)
			o2 := o1
			if !tc.sameOwnerUpgrades {
				var err error
				o2, err = e.m.OpenOwner(id, []byte("o2"), 0)
				wantErr(t, "owner", err, nil)
			}
			r, err := e.m.Open(OpenArgs{Owner: o2, FHKey: "f", Access: tc.acc2, Deny: tc.deny2})
			wantErr(t, "second OPEN", err, tc.want)
			if tc.sameOwnerUpgrades && tc.want == nil {
				if r.StateID.Other != s1.Other || r.StateID.SeqID != s1.SeqID+1 || r.New {
					t.Fatalf("upgrade stateid %+v after %+v", r.StateID, s1)
				}
				if r.Access != both {
					t.Fatalf("upgrade access %d", r.Access)
				}
			}
			// Another file is unaffected.
			_, err = e.m.Open(OpenArgs{Owner: o2, FHKey: "g", Access: tc.acc2, Deny: tc.deny2})
			wantErr(t, "OPEN other file", err, nil)
		})
	}
}

func TestOpenUpgradeDowngradeClose(t *testing.T) {
	e := newEnv(t)
	id := e.client40(t, "a", "p", 1)
	o, s := e.open40(t, id, "o", "f", rd, 0, "h1")
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: wr, Deny: nfs4.ShareDenyWrite})
	wantErr(t, "upgrade", err, nil)
	if r.Handle != "h1" || r.Flags != 0 {
		t.Fatalf("upgrade result %+v", r)
	}
	if old, _ := e.m.SetOpenHandle(r.StateID, "h2"); old != "h1" {
		t.Fatalf("SetOpenHandle returned %v", old)
	}
	_, err = e.m.OpenDowngrade(s, rd, 0, 0)
	wantErr(t, "downgrade with old seqid", err, nfs4.ErrOldStateID)
	_, err = e.m.OpenDowngrade(r.StateID, both, nfs4.ShareDenyWrite, 0)
	wantErr(t, "downgrade to BOTH never opened", err, nfs4.ErrInval)
	_, err = e.m.OpenDowngrade(r.StateID, rd, nfs4.ShareDenyRead, 0)
	wantErr(t, "downgrade deny not held", err, nfs4.ErrInval)
	s2, err := e.m.OpenDowngrade(r.StateID, rd, 0, 0)
	wantErr(t, "downgrade to read", err, nil)
	if s2.SeqID != r.StateID.SeqID+1 {
		t.Fatalf("downgrade seqid %d", s2.SeqID)
	}
	_, err = e.m.CheckIO(s2, "f", true, 0)
	wantErr(t, "write after downgrade", err, nfs4.ErrOpenMode)
	_, err = e.m.OpenDowngrade(s2, wr, 0, 0)
	wantErr(t, "re-upgrade by downgrade", err, nfs4.ErrInval)

	cr, err := e.m.Close(s2, 0)
	wantErr(t, "CLOSE", err, nil)
	if cr.Handle != "h2" || cr.StateID.SeqID != s2.SeqID+1 || cr.StateID.Other != s2.Other {
		t.Fatalf("close result %+v", cr)
	}
	_, err = e.m.Close(s2, 0)
	wantErr(t, "CLOSE again", err, nfs4.ErrBadStateID)

	// 4.1 CLOSE returns the invalid special stateid.
	id41, _ := e.client41(t, "b", nil)
	o41, _ := e.m.OpenOwner(id41, []byte("o"), 1)
	r41, err := e.m.Open(OpenArgs{Owner: o41, FHKey: "f", Access: rd})
	wantErr(t, "4.1 OPEN", err, nil)
	if r41.Flags&nfs4.OpenResultConfirm != 0 {
		t.Fatal("4.1 OPEN asked for OPEN_CONFIRM")
	}
	cr, err = e.m.Close(nfs4.StateID{Other: r41.StateID.Other}, 1) // seqid 0 = current
	wantErr(t, "4.1 CLOSE", err, nil)
	if cr.StateID != nfs4.InvalidStateID {
		t.Fatalf("4.1 close stateid %+v", cr.StateID)
	}
}

func TestRevertOpen(t *testing.T) {
	e := newEnv(t)
	id := e.client40(t, "a", "p", 1)
	o, s := e.open40(t, id, "o", "f", rd, 0, "h")
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: wr, Deny: nfs4.ShareDenyRead})
	wantErr(t, "upgrade", err, nil)
	e.m.RevertOpen(r)
	if _, err := e.m.CheckIO(s, "f", false, 0); err != nil {
		t.Fatalf("reverted stateid not current: %v", err)
	}
	_, err = e.m.CheckIO(s, "f", true, 0)
	wantErr(t, "write after revert", err, nfs4.ErrOpenMode)
	o2, _ := e.m.OpenOwner(id, []byte("o2"), 0)
	r2, err := e.m.Open(OpenArgs{Owner: o2, FHKey: "f", Access: rd})
	wantErr(t, "deny read reverted", err, nil)
	if h := e.m.RevertOpen(r2); h != nil {
		t.Fatalf("handle %v", h)
	}
	_, err = e.m.LookupStateID(r2.StateID, 0)
	wantErr(t, "reverted new open", err, nfs4.ErrBadStateID)
}

func TestCheckIO(t *testing.T) {
	e := newEnv(t)
	id := e.client40(t, "a", "p", 1)
	_, sr := e.open40(t, id, "o1", "f", rd, nfs4.ShareDenyWrite, "hr")
	_, sw := e.open40(t, id, "o2", "g", wr, 0, "hw")
	tests := []struct {
		name   string
		sid    nfs4.StateID
		fh     string
		write  bool
		want   error
		handle any
	}{
		{"read via read open", sr, "f", false, nil, "hr"},
		{"write via read open", sr, "f", true, nfs4.ErrOpenMode, nil},
		{"read via write open", sw, "g", false, nil, "hw"},
		{"wrong file", sr, "g", false, nfs4.ErrBadStateID, nil},
		{"anonymous read", nfs4.AnonStateID, "f", false, nil, nil},
		{"anonymous write vs deny write", nfs4.AnonStateID, "f", true, nfs4.ErrLocked, nil},
		{"bypass write vs deny write", nfs4.BypassStateID, "f", true, nfs4.ErrLocked, nil},
		{"anonymous write, no opens", nfs4.AnonStateID, "x", true, nil, nil},
		{"old seqid", nfs4.StateID{SeqID: sr.SeqID - 1, Other: sr.Other}, "f", false, nfs4.ErrOldStateID, nil},
		{"future seqid", nfs4.StateID{SeqID: sr.SeqID + 1, Other: sr.Other}, "f", false, nfs4.ErrBadStateID, nil},
		{"seqid 0 in 4.0", nfs4.StateID{Other: sr.Other}, "f", false, nfs4.ErrOldStateID, nil},
		{"unknown", nfs4.StateID{SeqID: 1, Other: [12]byte{1, 2, 3}}, "f", false, nfs4.ErrStaleStateID, nil},
		{"current stateid unresolved", nfs4.CurrentStateID, "f", false, nfs4.ErrBadStateID, nil},
		{"reserved other, odd seqid", nfs4.StateID{SeqID: 7}, "f", false, nfs4.ErrBadStateID, nil},
	}
	for _, tc := range tests {
		h, err := e.m.CheckIO(tc.sid, tc.fh, tc.write, 0)
		wantErr(t, tc.name, err, tc.want)
		if h != tc.handle {
			t.Fatalf("%s: handle %v, want %v", tc.name, h, tc.handle)
		}
	}
	unknown := sr
	unknown.Other[11] ^= 0xff
	_, err := e.m.CheckIO(unknown, "f", false, 0)
	wantErr(t, "unknown this boot", err, nfs4.ErrBadStateID)
	// Deny-read blocks anonymous reads but not bypass reads.
	_, _ = e.open40(t, id, "o3", "d", rd, nfs4.ShareDenyRead, nil)
	_, err = e.m.CheckIO(nfs4.AnonStateID, "d", false, 0)
	wantErr(t, "anonymous read vs deny read", err, nfs4.ErrLocked)
	_, err = e.m.CheckIO(nfs4.BypassStateID, "d", false, 0)
	wantErr(t, "bypass read vs deny read", err, nil)
}

func TestSeqID40(t *testing.T) {
	e := newEnv(t)
	id := e.client40(t, "a", "p", 1)
	o, err := e.m.OpenOwner(id, []byte("o"), 0)
	wantErr(t, "owner", err, nil)

	// First OPEN: any seqid; needs OPEN_CONFIRM.
	c, _, err := e.m.CheckSeqID(o, 100)
	if err != nil || c != SeqNew {
		t.Fatalf("first seqid: %v %v", c, err)
	}
	_, _, err = e.m.CheckSeqID(o, 100)
	wantErr(t, "while busy", err, nfs4.ErrDelay)
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: rd})
	wantErr(t, "OPEN", err, nil)
	if r.Flags&nfs4.OpenResultConfirm == 0 {
		t.Fatal("new 4.0 owner not asked to confirm")
	}
	e.m.SeqIDDone(o, 100, nfs4.OK, []byte("open reply"))
	_, err = e.m.CheckIO(r.StateID, "f", false, 0)
	wantErr(t, "I/O before OPEN_CONFIRM", err, nfs4.ErrBadStateID)

	// Replay of the OPEN returns its cached reply.
	c, reply, err := e.m.CheckSeqID(o, 100)
	if err != nil || c != SeqReplay || !bytes.Equal(reply, []byte("open reply")) {
		t.Fatalf("replay: %v %q %v", c, reply, err)
	}

	// OPEN_CONFIRM with seqid 101.
	ow, err := e.m.StateOwner(r.StateID)
	if err != nil || ow != o {
		t.Fatalf("StateOwner: %v %v", ow, err)
	}
	if c, _, err := e.m.CheckSeqID(o, 101); err != nil || c != SeqNew {
		t.Fatalf("confirm seqid: %v %v", c, err)
	}
	s, err := e.m.OpenConfirm(r.StateID)
	wantErr(t, "OPEN_CONFIRM", err, nil)
	e.m.SeqIDDone(o, 101, nfs4.OK, []byte("confirm reply"))
	if s.SeqID != r.StateID.SeqID+1 {
		t.Fatalf("confirm seqid %d", s.SeqID)
	}
	_, err = e.m.OpenConfirm(s)
	wantErr(t, "confirm twice", err, nfs4.ErrBadStateID)

	// Bad seqids.
	for _, bad := range []uint32{99, 103, 0} {
		_, _, err := e.m.CheckSeqID(o, bad)
		wantErr(t, "bad seqid", err, nfs4.ErrBadSeqID)
	}
	// A non-advancing error does not consume the seqid.
	e.m.CheckSeqID(o, 102)
	e.m.SeqIDDone(o, 102, nfs4.ErrBadStateID, []byte("x"))
	if c, _, err := e.m.CheckSeqID(o, 102); err != nil || c != SeqNew {
		t.Fatalf("seqid after BAD_STATEID: %v %v", c, err)
	}
	// CLOSE, then its retransmission finds the owner and the cached reply.
	_, err = e.m.Close(s, 0)
	wantErr(t, "CLOSE", err, nil)
	e.m.SeqIDDone(o, 102, nfs4.OK, []byte("close reply"))
	ow, err = e.m.StateOwner(s)
	if err != nil || ow != o {
		t.Fatalf("StateOwner of closed stateid: %v %v", ow, err)
	}
	c, reply, err = e.m.CheckSeqID(o, 102)
	if err != nil || c != SeqReplay || string(reply) != "close reply" {
		t.Fatalf("close replay: %v %q %v", c, reply, err)
	}
	// Idle owners are forgotten after a lease.
	e.clk.Advance(lease)
	e.m.Renew(id)
	e.m.Reap(e.clk.Now())
	_, err = e.m.StateOwner(s)
	wantErr(t, "StateOwner after reap", err, nfs4.ErrBadStateID)
}

func TestUnconfirmedOwnerRestarts(t *testing.T) {
	e := newEnv(t)
	id := e.client40(t, "a", "p", 1)
	o, _ := e.m.OpenOwner(id, []byte("o"), 0)
	e.m.CheckSeqID(o, 5)
	r, _ := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: rd, Deny: nfs4.ShareDenyBoth})
	e.m.SetOpenHandle(r.StateID, "h")
	e.m.SeqIDDone(o, 5, nfs4.OK, []byte("r"))
	// The client never confirmed and starts over with another seqid.
	if c, _, err := e.m.CheckSeqID(o, 1); err != nil || c != SeqNew {
		t.Fatalf("restart of unconfirmed owner: %v %v", c, err)
	}
	e.m.SeqIDDone(o, 1, nfs4.OK, nil)
	if hs := e.releasedHandles(); len(hs) != 1 || hs[0] != "h" {
		t.Fatalf("released %v", hs)
	}
	_, err := e.m.LookupStateID(r.StateID, 0)
	wantErr(t, "old unconfirmed open", err, nfs4.ErrBadStateID)
}

func TestTestAndFreeStateID(t *testing.T) {
	e := newEnv(t)
	id, _ := e.client41(t, "a", nil)
	other, _ := e.client41(t, "b", nil)
	o, _ := e.m.OpenOwner(id, []byte("o"), 1)
	r, _ := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: both})
	lo, _ := e.m.LockOwner(id, []byte("l"), 1)
	ls, err := e.m.Lock(LockArgs{StateID: r.StateID, NewOwner: lo, FHKey: "f", Type: nfs4.WriteLT,
		Offset: 0, Length: 10, Minor: 1})
	wantErr(t, "LOCK", err, nil)

	st := e.m.TestStateIDs(id, []nfs4.StateID{r.StateID, {Other: r.StateID.Other},
		{SeqID: 9, Other: r.StateID.Other}, ls, nfs4.AnonStateID})
	want := []nfs4.Status{nfs4.OK, nfs4.OK, nfs4.ErrBadStateID, nfs4.OK, nfs4.ErrBadStateID}
	for i := range want {
		if st[i] != want[i] {
			t.Fatalf("TEST_STATEID[%d] = %v, want %v", i, st[i], want[i])
		}
	}
	if st := e.m.TestStateIDs(other, []nfs4.StateID{r.StateID}); st[0] != nfs4.ErrBadStateID {
		t.Fatalf("other client's stateid: %v", st[0])
	}
	wantErr(t, "free open", e.m.FreeStateID(id, r.StateID), nfs4.ErrLocksHeld)
	wantErr(t, "free lock with locks", e.m.FreeStateID(id, ls), nfs4.ErrLocksHeld)
	ls, err = e.m.LockU(ls, "f", nfs4.WriteLT, 0, 10, 1)
	wantErr(t, "LOCKU", err, nil)
	wantErr(t, "free other client's", e.m.FreeStateID(other, ls), nfs4.ErrBadStateID)
	wantErr(t, "free lock", e.m.FreeStateID(id, ls), nil)
	if st := e.m.TestStateIDs(id, []nfs4.StateID{ls}); st[0] != nfs4.ErrBadStateID {
		t.Fatalf("freed lock stateid: %v", st[0])
	}
	wantErr(t, "revoke", e.m.RevokeState(r.StateID, nfs4.ErrAdminRevoked), nil)
	_, err = e.m.CheckIO(r.StateID, "f", false, 1)
	wantErr(t, "revoked", err, nfs4.ErrAdminRevoked)
	wantErr(t, "free revoked", e.m.FreeStateID(id, r.StateID), nil)
}
