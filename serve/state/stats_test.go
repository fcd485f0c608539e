package state

import (
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// TestStats: Stats counts clients, sessions, opens, locks and
// delegations as they come and go.
func TestStats(t *testing.T) {
	e := newDelegEnv(t)
	if st := e.m.Stats(); st != (Stats{}) {
		t.Fatalf("empty manager: %+v", st)
	}
	c1 := e.client40(t, "one", "p1", 1)
	_, err := e.m.SetClientID(SetClientIDArgs{Name: []byte("unconf"), Verifier: verf(9), Principal: "p9"})
	wantErr(t, "SETCLIENTID", err, nil)
	e.client41(t, "four-one", "conn")
	_, s1 := e.open40(t, c1, "o1", fhA, nfs4.ShareAccessBoth, nfs4.ShareDenyNone, nil)
	e.open40(t, c1, "o2", "file-B", nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	lo, _ := e.m.LockOwner(c1, []byte("L1"), 0)
	ls, err := e.m.Lock(LockArgs{StateID: s1, NewOwner: lo, FHKey: fhA, Type: nfs4.WriteLT, Offset: 0, Length: 10})
	wantErr(t, "LOCK", err, nil)
	_, err = e.m.Lock(LockArgs{StateID: ls, FHKey: fhA, Type: nfs4.WriteLT, Offset: 100, Length: 10})
	wantErr(t, "LOCK 2", err, nil)
	if g := e.m.GrantDelegation(GrantArgs{ClientID: c1, FHKey: "file-B", Access: nfs4.ShareAccessRead}); g.Type != nfs4.DelegateRead {
		t.Fatalf("grant %+v", g)
	}
	want := Stats{Clients: 2, Unconfirmed: 1, Sessions: 1, Opens: 2, LockStates: 1, LockRanges: 2, Delegations: 1}
	if st := e.m.Stats(); st != want {
		t.Fatalf("Stats = %+v\nwant    %+v", st, want)
	}

	// The lease runs out with no courtesy configured: c1's state goes.
	e.clk.Advance(2 * lease)
	e.m.Reap(e.clk.Now())
	if st := e.m.Stats(); st.Opens != 0 || st.LockStates != 0 || st.Delegations != 0 {
		t.Fatalf("after expiry: %+v", st)
	}
}
