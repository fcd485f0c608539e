package state

import (
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

const dirA = "dir-A"

const notifyAdd = 3 // NOTIFY4_ADD_ENTRY

func TestDirDelegGrantAndConflicts(t *testing.T) {
	e := newDelegEnv(t)
	c1, _ := e.client41(t, "one", "conn1")
	c2, _ := e.client41(t, "two", "conn2")
	c40 := e.client40(t, "old", "p", 3)

	if _, ok := e.m.GrantDirDelegation(c40, dirA, 0, 1); ok {
		t.Fatal("directory delegation granted to a 4.0 client")
	}
	// Granted in a 4.2 COMPOUND: its callbacks are 4.2 too (the client
	// record says 4.1, the minor version of EXCHANGE_ID).
	sid, ok := e.m.GrantDirDelegation(c1, dirA, 0, 2)
	if !ok || !e.m.HasDelegations() || !e.m.FileDelegated(dirA) || !e.m.ClientHasDelegations(c1) {
		t.Fatalf("grant: ok=%v", ok)
	}
	if _, ok := e.m.GrantDirDelegation(c1, dirA, 0, 1); ok {
		t.Fatal("second delegation of one directory to one client")
	}
	// The holder's own changes conflict with nothing (RFC 8881 §10.9.1).
	if n, err := e.m.BreakDirDelegations(dirA, c1, notifyAdd); err != nil || n != nil {
		t.Fatalf("holder's change: %v %v", n, err)
	}
	if r := e.takeRecalls(); len(r) != 0 {
		t.Fatalf("holder's change recalled %+v", r)
	}
	// Another client's change: recall, DELAY until the return.
	_, err := e.m.BreakDirDelegations(dirA, c2, notifyAdd)
	wantErr(t, "other client's create", err, nfs4.ErrDelay)
	if r := e.takeRecalls(); len(r) != 1 || r[0].StateID != sid || r[0].FHKey != dirA || r[0].ClientID != c1 || r[0].Minor != 2 {
		t.Fatalf("recalls %+v", r)
	}
	_, err = e.m.BreakDirDelegations(dirA, c2, -1)
	wantErr(t, "retry while recalled", err, nfs4.ErrDelay)
	if r := e.takeRecalls(); len(r) != 0 {
		t.Fatalf("recalled twice: %+v", r)
	}
	if _, ok := e.m.GrantDirDelegation(c2, dirA, 0, 1); ok {
		t.Fatal("granted while another delegation of the directory is recalled")
	}
	wantErr(t, "DELEGRETURN wrong dir", e.m.ReturnDelegation(sid, "dir-B", c1, 1), nfs4.ErrBadStateID)
	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(sid, dirA, c1, 1), nil)
	if _, err := e.m.BreakDirDelegations(dirA, c2, -1); err != nil {
		t.Fatalf("change after the return: %v", err)
	}
	if e.m.HasDelegations() || e.m.FileDelegated(dirA) {
		t.Fatal("delegation left after DELEGRETURN")
	}

	// A SETATTR of the directory (BreakDelegations) recalls it too.
	sid, _ = e.m.GrantDirDelegation(c1, dirA, 1<<notifyAdd, 1)
	wantErr(t, "SETATTR of the directory", e.m.BreakDelegations(dirA, c2, true), nfs4.ErrDelay)
	if r := e.takeRecalls(); len(r) != 1 || r[0].StateID != sid {
		t.Fatalf("recalls %+v", r)
	}
	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(sid, dirA, c1, 1), nil)
}

// A holder granted NOTIFY4_ADD_ENTRY is notified of an addition instead of
// losing its delegation; any other change still recalls.
func TestDirDelegNotify(t *testing.T) {
	e := newDelegEnv(t)
	c1, _ := e.client41(t, "one", "conn1")
	c2, _ := e.client41(t, "two", "conn2")
	sid, ok := e.m.GrantDirDelegation(c1, dirA, 1<<notifyAdd, 1)
	if !ok {
		t.Fatal("no grant")
	}
	n, err := e.m.BreakDirDelegations(dirA, c2, notifyAdd)
	if err != nil || len(n) != 1 || n[0].StateID != sid || n[0].ClientID != c1 || n[0].FHKey != dirA {
		t.Fatalf("add: notices %+v, %v", n, err)
	}
	if r := e.takeRecalls(); len(r) != 0 {
		t.Fatalf("notified change recalled: %+v", r)
	}
	_, err = e.m.BreakDirDelegations(dirA, c2, 2) // NOTIFY4_REMOVE_ENTRY: not granted
	wantErr(t, "remove", err, nfs4.ErrDelay)
	if r := e.takeRecalls(); len(r) != 1 {
		t.Fatalf("recalls %+v", r)
	}
	// Under recall, even a notifiable change waits.
	_, err = e.m.BreakDirDelegations(dirA, c2, notifyAdd)
	wantErr(t, "add while recalled", err, nfs4.ErrDelay)
}

// An unreturned directory delegation is revoked a lease after the recall;
// a client's expiry takes its directory delegations along.
func TestDirDelegRevokeAndExpiry(t *testing.T) {
	e := newDelegEnv(t)
	c1, _ := e.client41(t, "one", "conn1")
	c2, _ := e.client41(t, "two", "conn2")
	sid, _ := e.m.GrantDirDelegation(c1, dirA, 0, 1)
	_, err := e.m.BreakDirDelegations(dirA, c2, -1)
	wantErr(t, "break", err, nfs4.ErrDelay)
	e.clk.Advance(lease - time.Second)
	if r := e.m.RevokeRecalled(e.clk.Now()); len(r) != 0 {
		t.Fatalf("revoked too early: %+v", r)
	}
	e.clk.Advance(time.Second)
	if r := e.m.RevokeRecalled(e.clk.Now()); len(r) != 1 || r[0].StateID != sid {
		t.Fatalf("revoked %+v", r)
	}
	if _, err := e.m.BreakDirDelegations(dirA, c2, -1); err != nil {
		t.Fatalf("change after revocation: %v", err)
	}
	if st := e.m.TestStateIDs(c1, []nfs4.StateID{sid}); st[0] != nfs4.ErrDelegRevoked {
		t.Fatalf("TEST_STATEID = %v", st[0])
	}
	wantErr(t, "FREE_STATEID", e.m.FreeStateID(c1, sid), nil)

	if _, ok := e.m.GrantDirDelegation(c1, "dir-B", 0, 1); !ok {
		t.Fatal("no grant")
	}
	e.clk.Advance(2 * lease)
	e.m.Reap(e.clk.Now())
	if e.m.HasDelegations() || e.m.FileDelegated("dir-B") {
		t.Fatal("expired client's directory delegation survives")
	}
}

func TestRecallDelegation(t *testing.T) {
	e := newDelegEnv(t)
	c1, _ := e.client41(t, "one", "conn1")
	c2, _ := e.client41(t, "two", "conn2")
	sid, _ := e.m.GrantDirDelegation(c1, dirA, 1<<notifyAdd, 1)
	e.m.RecallDelegation(sid)
	e.m.RecallDelegation(sid) // once only
	if r := e.takeRecalls(); len(r) != 1 || r[0].StateID != sid || r[0].ClientID != c1 {
		t.Fatalf("recalls %+v", r)
	}
	_, err := e.m.BreakDirDelegations(dirA, c2, notifyAdd)
	wantErr(t, "add after the recall", err, nfs4.ErrDelay)
	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(sid, dirA, c1, 1), nil)
	e.m.RecallDelegation(sid) // gone: nothing
	if r := e.takeRecalls(); len(r) != 0 {
		t.Fatalf("recall of a returned delegation: %+v", r)
	}
}

// HasDirDelegations counts live directory delegations only: file
// delegations do not count; a return, a revocation and an expiry end
// the count (BreakDirDelegations and OPEN creating skip their lookups
// on it).
func TestHasDirDelegations(t *testing.T) {
	e := newDelegEnv(t)
	c1, _ := e.client41(t, "one", "conn1")
	c2, _ := e.client41(t, "two", "conn2")
	c40 := e.client40(t, "old", "p", 3)
	e.open40(t, c40, "o1", fhA, nfs4.ShareAccessBoth, nfs4.ShareDenyNone, nil)
	if g := e.m.GrantDelegation(GrantArgs{ClientID: c40, FHKey: fhA, Access: nfs4.ShareAccessBoth}); g.Type == nfs4.DelegateNone {
		t.Fatalf("no file delegation: %+v", g)
	}
	if !e.m.HasDelegations() || e.m.HasDirDelegations() {
		t.Fatal("a file delegation counted as a directory delegation")
	}
	sid, ok := e.m.GrantDirDelegation(c1, dirA, 0, 1)
	if !ok || !e.m.HasDirDelegations() {
		t.Fatalf("grant: ok=%v, counted %v", ok, e.m.HasDirDelegations())
	}
	wantErr(t, "DELEGRETURN", e.m.ReturnDelegation(sid, dirA, c1, 1), nil)
	if e.m.HasDirDelegations() || !e.m.HasDelegations() {
		t.Fatal("count after DELEGRETURN")
	}
	// Recalled, then revoked.
	sid, _ = e.m.GrantDirDelegation(c1, dirA, 0, 1)
	_, err := e.m.BreakDirDelegations(dirA, c2, -1)
	wantErr(t, "break", err, nfs4.ErrDelay)
	if !e.m.HasDirDelegations() {
		t.Fatal("a recalled directory delegation no longer counted")
	}
	e.clk.Advance(lease)
	if r := e.m.RevokeRecalled(e.clk.Now()); len(r) != 1 || r[0].StateID != sid {
		t.Fatalf("revoked %+v", r)
	}
	if e.m.HasDirDelegations() {
		t.Fatal("a revoked directory delegation still counted")
	}
	// Expiry of the holder.
	e.m.GrantDirDelegation(c2, "dir-B", 0, 1)
	e.clk.Advance(2 * lease)
	e.m.Reap(e.clk.Now())
	if e.m.HasDirDelegations() || e.m.HasDelegations() {
		t.Fatal("an expired client's delegations still counted")
	}
}
