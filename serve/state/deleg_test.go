package state

import (
	"sync"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// delegEnv is env plus a record of the recalls OnRecall delivered.
type delegEnv struct {
	*env
	rmu     sync.Mutex
	recalls []Recall
}

func newDelegEnv(t *testing.T) *delegEnv {
	t.Helper()
	e := &delegEnv{env: newEnv(t)}
	e.m.cfg.OnRecall = func(r []Recall) {
		e.rmu.Lock()
		e.recalls = append(e.recalls, r...)
		e.rmu.Unlock()
	}
	return e
}

func (e *delegEnv) takeRecalls() []Recall {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	r := e.recalls
	e.recalls = nil
	return r
}

const fhA = "file-A"

func TestDelegGrantPolicy(t *testing.T) {
	e := newDelegEnv(t)
	c1 := e.client40(t, "one", "p1", 1)
	c2 := e.client40(t, "two", "p2", 2)

	// A write open with no other opener: write delegation.
	e.open40(t, c1, "o1", fhA, nfs4.ShareAccessBoth, nfs4.ShareDenyNone, nil)
	g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: fhA, Access: nfs4.ShareAccessBoth})
	if g.Type != nfs4.DelegateWrite {
		t.Fatalf("grant = %+v, want write delegation", g)
	}
	if !e.m.HasDelegations() || !e.m.ClientHasDelegations(c1) || e.m.ClientHasDelegations(c2) {
		t.Fatal("delegation bookkeeping wrong")
	}
	// A second one for the same client and file: none.
	if g2 := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: fhA, Access: nfs4.ShareAccessRead}); g2.Type != nfs4.DelegateNone {
		t.Fatalf("second grant = %+v", g2)
	}
	// Another client gets nothing while a write delegation exists.
	if g2 := e.m.GrantDelegation(GrantArgs{ClientID: c2, FHKey: fhA, Access: nfs4.ShareAccessRead}); g2.Type != nfs4.DelegateNone || g2.Why != nfs4.WNDContention {
		t.Fatalf("other client's grant = %+v", g2)
	}
	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(g.StateID, fhA, 0, 0), nil)
	wantErr(t, "second DELEGRETURN", e.m.ReturnDelegation(g.StateID, fhA, 0, 0), nfs4.ErrBadStateID)
	if e.m.HasDelegations() {
		t.Fatal("delegation count not back to zero")
	}

	// c1 has the file open for write: c2 may not have a read delegation.
	e.open40(t, c2, "o2", fhA, nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	if g := e.m.GrantDelegation(GrantArgs{ClientID: c2, FHKey: fhA, Access: nfs4.ShareAccessRead}); g.Type != nfs4.DelegateNone {
		t.Fatalf("read delegation despite another client's write open: %+v", g)
	}
	// Only readers on another file: both clients get read delegations.
	const fhB = "file-B"
	e.open40(t, c1, "o1", fhB, nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	e.open40(t, c2, "o2", fhB, nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	for _, cid := range []uint64{c1, c2} {
		if g := e.m.GrantDelegation(GrantArgs{ClientID: cid, FHKey: fhB, Access: nfs4.ShareAccessRead}); g.Type != nfs4.DelegateRead {
			t.Fatalf("client %x: grant %+v, want read", cid, g)
		}
	}
	// WANT_WRITE_DELEG with another opener: none.
	if g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: "file-C", Want: nfs4.ShareAccessWantWriteDeleg, Minor: 1}); g.Type != nfs4.DelegateWrite {
		t.Fatalf("WANT_WRITE_DELEG on an unopened file: %+v", g)
	}
}

func TestDelegRecallOnConflictingOpen(t *testing.T) {
	e := newDelegEnv(t)
	c1 := e.client40(t, "one", "p1", 1)
	c2 := e.client40(t, "two", "p2", 2)
	e.open40(t, c1, "o1", fhA, nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: fhA, Access: nfs4.ShareAccessRead})
	if g.Type != nfs4.DelegateRead {
		t.Fatalf("grant %+v", g)
	}
	// The holder's own write open does not conflict.
	e.open40(t, c1, "o1b", fhA, nfs4.ShareAccessWrite, nfs4.ShareDenyNone, nil)
	// Another client's read open does not conflict with a read delegation.
	e.open40(t, c2, "o2r", fhA, nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	if r := e.takeRecalls(); len(r) != 0 {
		t.Fatalf("unexpected recalls %+v", r)
	}
	// Another client's write open: DELAY and one recall, however often
	// it retries.
	o2, err := e.m.OpenOwner(c2, []byte("o2w"), 0)
	wantErr(t, "OpenOwner", err, nil)
	for range 3 {
		_, err = e.m.Open(OpenArgs{Owner: o2, FHKey: fhA, Access: nfs4.ShareAccessWrite})
		wantErr(t, "conflicting OPEN", err, nfs4.ErrDelay)
	}
	r := e.takeRecalls()
	if len(r) != 1 || r[0].ClientID != c1 || r[0].StateID != g.StateID || r[0].FHKey != fhA {
		t.Fatalf("recalls = %+v", r)
	}
	// No new delegation on a file under recall.
	if g := e.m.GrantDelegation(GrantArgs{ClientID: c2, FHKey: fhA, Access: nfs4.ShareAccessRead}); g.Type != nfs4.DelegateNone {
		t.Fatalf("grant during recall: %+v", g)
	}
	// The holder may still use its delegation stateid to open
	// (CLAIM_DELEGATE_CUR); another client may not.
	wantErr(t, "CheckDelegation", e.m.CheckDelegation(g.StateID, fhA, c1, 0), nil)
	wantErr(t, "CheckDelegation other", e.m.CheckDelegation(g.StateID, fhA, c2, 0), nfs4.ErrBadStateID)
	wantErr(t, "CheckDelegation file", e.m.CheckDelegation(g.StateID, "x", c1, 0), nfs4.ErrBadStateID)
	// Reads with the delegation stateid are allowed, writes are not.
	if _, err := e.m.CheckIO(g.StateID, fhA, false, 0); err != nil {
		t.Fatalf("READ with read delegation: %v", err)
	}
	_, err = e.m.CheckIO(g.StateID, fhA, true, 0)
	wantErr(t, "WRITE with read delegation", err, nfs4.ErrOpenMode)

	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(g.StateID, fhA, 0, 0), nil)
	_, err = e.m.Open(OpenArgs{Owner: o2, FHKey: fhA, Access: nfs4.ShareAccessWrite})
	wantErr(t, "OPEN after return", err, nil)
}

func TestDelegBreakNamespaceAndAnonymousIO(t *testing.T) {
	e := newDelegEnv(t)
	c1, _ := e.client41(t, "one", "conn1")
	g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: fhA, Want: nfs4.ShareAccessWantReadDeleg, Minor: 1})
	if g.Type != nfs4.DelegateRead {
		t.Fatalf("grant %+v", g)
	}
	// The holder's own REMOVE (4.1 knows the client) does not conflict.
	wantErr(t, "own break", e.m.BreakDelegations(fhA, c1, true), nil)
	// A reader with an anonymous stateid does not disturb a read delegation.
	if _, err := e.m.CheckIO(nfs4.AnonStateID, fhA, false, 1); err != nil {
		t.Fatalf("anonymous READ: %v", err)
	}
	if len(e.takeRecalls()) != 0 {
		t.Fatal("recall without conflict")
	}
	_, err := e.m.CheckIO(nfs4.AnonStateID, fhA, true, 1)
	wantErr(t, "anonymous WRITE", err, nfs4.ErrDelay)
	wantErr(t, "4.0 REMOVE", e.m.BreakDelegations(fhA, 0, true), nfs4.ErrDelay)
	if r := e.takeRecalls(); len(r) != 1 || r[0].Minor != 1 {
		t.Fatalf("recalls = %+v", r)
	}
	wantErr(t, "DELEGRETURN of other client", e.m.ReturnDelegation(g.StateID, fhA, c1+1, 1), nfs4.ErrBadStateID)
	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(g.StateID, fhA, c1, 1), nil)
	wantErr(t, "REMOVE after return", e.m.BreakDelegations(fhA, 0, true), nil)
}

func TestDelegRevokeAfterLease41(t *testing.T) {
	e := newDelegEnv(t)
	c1, s1 := e.client41(t, "one", "conn1")
	c2, _ := e.client41(t, "two", "conn2")
	g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: fhA, Want: nfs4.ShareAccessWantReadDeleg, Minor: 1})
	if g.Type != nfs4.DelegateRead {
		t.Fatalf("grant %+v", g)
	}
	o2, err := e.m.OpenOwner(c2, []byte("o2"), 1)
	wantErr(t, "OpenOwner", err, nil)
	_, err = e.m.Open(OpenArgs{Owner: o2, FHKey: fhA, Access: nfs4.ShareAccessWrite})
	wantErr(t, "conflicting OPEN", err, nfs4.ErrDelay)

	e.clk.Advance(lease - time.Second)
	if r := e.m.RevokeRecalled(e.clk.Now()); len(r) != 0 {
		t.Fatalf("revoked too early: %+v", r)
	}
	e.clk.Advance(time.Second)
	if r := e.m.RevokeRecalled(e.clk.Now()); len(r) != 1 || r[0].StateID != g.StateID {
		t.Fatalf("revoked %+v", r)
	}
	_, err = e.m.Open(OpenArgs{Owner: o2, FHKey: fhA, Access: nfs4.ShareAccessWrite})
	wantErr(t, "OPEN after revocation", err, nil)

	// The holder learns of it: DELEG_REVOKED on use, the SEQUENCE flag,
	// TEST_STATEID; FREE_STATEID clears it.
	_, err = e.m.CheckIO(g.StateID, fhA, false, 1)
	wantErr(t, "READ with revoked delegation", err, nfs4.ErrDelegRevoked)
	wantErr(t, "DELEGRETURN revoked", e.m.ReturnDelegation(g.StateID, fhA, c1, 1), nfs4.ErrDelegRevoked)
	seq := func(id uint32) SequenceResult {
		r, err := e.m.Sequence(SequenceArgs{SessionID: s1, SeqID: id, SlotID: 0, Conn: "conn1"})
		wantErr(t, "SEQUENCE", err, nil)
		r.Slot.StoreReply(nil)
		return r
	}
	if f := seq(1).StatusFlags; f&nfs4.SeqStatusRecallableStateRevoked == 0 {
		t.Fatalf("SEQUENCE flags %#x lack RECALLABLE_STATE_REVOKED", f)
	}
	if st := e.m.TestStateIDs(c1, []nfs4.StateID{g.StateID}); st[0] != nfs4.ErrDelegRevoked {
		t.Fatalf("TEST_STATEID = %v", st[0])
	}
	wantErr(t, "FREE_STATEID", e.m.FreeStateID(c1, g.StateID), nil)
	if f := seq(2).StatusFlags; f&nfs4.SeqStatusRecallableStateRevoked != 0 {
		t.Fatalf("SEQUENCE flags %#x still say revoked", f)
	}
	if e.m.HasDelegations() {
		t.Fatal("delegation count not zero")
	}
}

func TestDelegRevoke40AndExpiry(t *testing.T) {
	e := newDelegEnv(t)
	c1 := e.client40(t, "one", "p1", 1)
	c2 := e.client40(t, "two", "p2", 2)
	e.open40(t, c1, "o1", fhA, nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: fhA, Access: nfs4.ShareAccessRead})
	wantErr(t, "break", e.m.BreakDelegations(fhA, c2, true), nfs4.ErrDelay)
	e.clk.Advance(lease)
	wantErr(t, "RENEW", e.m.Renew(c1), nil)
	if r := e.m.RevokeRecalled(e.clk.Now()); len(r) != 1 {
		t.Fatalf("revoked %+v", r)
	}
	// 4.0 has no DELEG_REVOKED: the stateid is simply gone.
	_, err := e.m.CheckIO(g.StateID, fhA, false, 0)
	wantErr(t, "READ with revoked 4.0 delegation", err, nfs4.ErrBadStateID)
	if e.m.ClientHasDelegations(c1) {
		t.Fatal("revoked delegation still counted")
	}

	// A client's expiry takes its delegations along.
	g = e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: "file-B", Access: nfs4.ShareAccessRead})
	if g.Type != nfs4.DelegateRead || !e.m.HasDelegations() {
		t.Fatalf("grant %+v", g)
	}
	e.clk.Advance(2 * lease)
	e.m.Reap(e.clk.Now())
	if e.m.HasDelegations() {
		t.Fatal("expired client's delegation survives")
	}
	wantErr(t, "break after expiry", e.m.BreakDelegations("file-B", 0, true), nil)
}
