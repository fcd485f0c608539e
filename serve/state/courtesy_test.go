package state

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

func newCourtesyEnv(t *testing.T, ct time.Duration) *env {
	e := &env{clk: &fakeClock{t: time.Unix(5_000_000, 0)}}
	e.m = NewManager(Config{LeaseTime: lease, Clock: e.clk, CourtesyTime: ct})
	return e
}

func TestCourtesyComesBack(t *testing.T) {
	e := newCourtesyEnv(t, time.Hour)
	a := e.client40(t, "a", "p", 1)
	_, sid := e.open40(t, a, "o", "f", nfs4.ShareAccessBoth, nfs4.ShareDenyWrite, "h")
	idle := e.client40(t, "idle", "p", 1) // no state: nothing to be courteous about
	e.clk.Advance(3 * lease)
	if gone := e.m.Reap(e.clk.Now()); !slices.Equal(gone, []uint64{idle}) {
		t.Fatalf("reaped %v, want only the stateless client %d", gone, idle)
	}
	// Another client's request that does not conflict leaves a alone.
	b := e.client40(t, "b", "p", 1)
	e.open40(t, b, "o", "g", nfs4.ShareAccessBoth, nfs4.ShareDenyBoth, nil)
	// a comes back and carries on.
	wantErr(t, "RENEW courtesy client", e.m.Renew(a), nil)
	if h, err := e.m.CheckIO(sid, "f", true, 0); err != nil || h != "h" {
		t.Fatalf("WRITE after coming back: %v %v", h, err)
	}
	// Its deny still holds against b.
	ob, _ := e.m.OpenOwner(b, []byte("o2"), 0)
	_, err := e.m.Open(OpenArgs{Owner: ob, FHKey: "f", Access: nfs4.ShareAccessWrite})
	wantErr(t, "OPEN against a live deny", err, nfs4.ErrShareDenied)
}

func TestCourtesyConflicts(t *testing.T) {
	e := newCourtesyEnv(t, time.Hour)
	a := e.client40(t, "a", "p", 1)
	_, sid := e.open40(t, a, "o", "f", nfs4.ShareAccessBoth, nfs4.ShareDenyWrite, "h")
	la, _ := e.m.LockOwner(a, []byte("L"), 0)
	lsid, err := e.m.Lock(LockArgs{StateID: sid, NewOwner: la, FHKey: "f", Type: nfs4.WriteLT, Length: 10})
	wantErr(t, "LOCK", err, nil)
	b := e.client40(t, "b", "p", 1)
	// While a's lease is valid: conflicts are conflicts.
	if err := e.m.LockT("f", b, []byte("LB"), nfs4.WriteLT, 0, 1); err == nil {
		t.Fatal("LOCKT against a live lock succeeded")
	}
	e.clk.Advance(2 * lease)
	e.m.Renew(b)
	if gone := e.m.Reap(e.clk.Now()); len(gone) != 0 {
		t.Fatalf("reaped %v, want a kept as a courtesy client", gone)
	}
	// b's LOCKT conflicts with the courtesy client's lock: a expires.
	wantErr(t, "LOCKT vs courtesy lock", e.m.LockT("f", b, []byte("LB"), nfs4.WriteLT, 0, 1), nil)
	wantErr(t, "RENEW after expiry", e.m.Renew(a), nfs4.ErrExpired)
	_, err = e.m.LockU(lsid, "f", nfs4.WriteLT, 0, 10, 0)
	wantErr(t, "LOCKU after expiry", err, nfs4.ErrExpired)

	// A share conflict expires a courtesy client too.
	c := e.client40(t, "c", "p", 1)
	_, csid := e.open40(t, c, "o", "g", nfs4.ShareAccessRead, nfs4.ShareDenyBoth, nil)
	e.clk.Advance(2 * lease)
	e.m.Renew(b)
	e.m.Reap(e.clk.Now())
	ob, _ := e.m.OpenOwner(b, []byte("o"), 0)
	_, err = e.m.Open(OpenArgs{Owner: ob, FHKey: "g", Access: nfs4.ShareAccessRead})
	wantErr(t, "OPEN vs courtesy deny", err, nil)
	_, err = e.m.Close(csid, 0)
	wantErr(t, "CLOSE after expiry", err, nfs4.ErrExpired)

	// A courtesy client's owner name may be taken by another principal.
	d := e.client40(t, "d", "p", 1)
	e.open40(t, d, "o", "k", nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	_, err = e.m.SetClientID(SetClientIDArgs{Name: []byte("d"), Verifier: verf(2), Principal: "other"})
	wantErr(t, "SETCLIENTID, live client", err, nfs4.ErrClidInUse)
	e.clk.Advance(2 * lease)
	_, err = e.m.SetClientID(SetClientIDArgs{Name: []byte("d"), Verifier: verf(2), Principal: "other"})
	wantErr(t, "SETCLIENTID, courtesy client", err, nil)
}

func TestCourtesyBounds(t *testing.T) {
	e := newCourtesyEnv(t, 5*lease)
	a := e.client40(t, "a", "p", 1)
	e.open40(t, a, "o", "f", nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	e.clk.Advance(4 * lease)
	if gone := e.m.Reap(e.clk.Now()); len(gone) != 0 {
		t.Fatalf("reaped %v within the courtesy time", gone)
	}
	e.clk.Advance(lease)
	if gone := e.m.Reap(e.clk.Now()); !slices.Equal(gone, []uint64{a}) {
		t.Fatalf("reaped %v after the courtesy time, want %d", gone, a)
	}

	// Count bound: the longest-silent go first.
	var ids []uint64
	for i := range MaxCourtesyClients + 2 {
		id := e.client40(t, fmt.Sprint("n", i), "p", 1)
		e.open40(t, id, "o", fmt.Sprint("f", i), nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
		ids = append(ids, id)
		if i < 2 {
			e.clk.Advance(time.Second)
		}
	}
	e.clk.Advance(2 * lease)
	gone := e.m.Reap(e.clk.Now())
	slices.Sort(gone)
	if !slices.Equal(gone, ids[:2]) {
		t.Fatalf("count bound reaped %v, want %v", gone, ids[:2])
	}
}

// Without CourtesyTime, state goes with the lease (the default).
func TestCourtesyOff(t *testing.T) {
	e := newCourtesyEnv(t, 0)
	a := e.client40(t, "a", "p", 1)
	e.open40(t, a, "o", "f", nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	e.clk.Advance(lease)
	if gone := e.m.Reap(e.clk.Now()); !slices.Equal(gone, []uint64{a}) {
		t.Fatalf("reaped %v, want %d", gone, a)
	}
}
