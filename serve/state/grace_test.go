package state

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

// newRecEnv starts a Manager on state directory dir (a "boot"), returning
// the env and the records the previous boot left.
func newRecEnv(t *testing.T, dir string, grace time.Duration, clk *fakeClock) (*env, []ClientRecord) {
	t.Helper()
	st, prev, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.OnError = func(err error) { t.Errorf("saving records: %v", err) }
	e := &env{clk: clk}
	e.m = NewManager(Config{LeaseTime: lease, Clock: clk, Store: st, PrevClients: prev, GraceTime: grace,
		OnRelease: func(r Released) {
			e.mu.Lock()
			e.released = append(e.released, r)
			e.mu.Unlock()
		}})
	return e, prev
}

func recordNames(recs []ClientRecord) string {
	var n []string
	for _, r := range recs {
		n = append(n, r.Name)
	}
	slices.Sort(n)
	return strings.Join(n, ",")
}

// loadRecords reads what is on disk now (a store copy without the lock).
func loadRecords(t *testing.T, dir string) []ClientRecord {
	t.Helper()
	recs, err := (&Store{dir: dir}).load()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// reclaimComplete41 registers a 4.1 client and sends RECLAIM_COMPLETE.
func (e *env) client41done(t *testing.T, name string) uint64 {
	t.Helper()
	id, _ := e.client41(t, name, new(int))
	wantErr(t, "RECLAIM_COMPLETE", e.m.ReclaimComplete(id), nil)
	return id
}

func TestGraceRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}

	// Boot 1: no records, no grace period.
	e, prev := newRecEnv(t, dir, 30*time.Second, clk)
	if len(prev) != 0 || e.m.InGrace() {
		t.Fatalf("first boot: %d records, grace %v", len(prev), e.m.InGrace())
	}
	a := e.client40(t, "a", "p", 1)
	_, _ = e.open40(t, a, "oa", "f1", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, nil)
	b := e.client41done(t, "b")
	ob, _ := e.m.OpenOwner(b, []byte("ob"), 1)
	rb, err := e.m.Open(OpenArgs{Owner: ob, FHKey: "f2", Access: nfs4.ShareAccessBoth, Deny: nfs4.ShareDenyWrite})
	wantErr(t, "OPEN b", err, nil)
	lob, _ := e.m.LockOwner(b, []byte("lb"), 1)
	_, err = e.m.Lock(LockArgs{StateID: rb.StateID, NewOwner: lob, FHKey: "f2", Type: nfs4.WriteLT, Length: 10, Minor: 1})
	wantErr(t, "LOCK b", err, nil)
	e.client41done(t, "nostate") // recorded at RECLAIM_COMPLETE
	// A reclaim with no grace period.
	_, err = e.m.Open(OpenArgs{Owner: ob, FHKey: "f3", Access: nfs4.ShareAccessRead, Reclaim: true})
	wantErr(t, "reclaim, first boot", err, nfs4.ErrNoGrace)
	if got := recordNames(loadRecords(t, dir)); got != "a,b,nostate" {
		t.Fatalf("records on disk %q, want a,b,nostate", got)
	}

	// "Crash" and boot 2: grace period for a, b and nostate.
	e.m.cfg.Store.Close()
	e, prev = newRecEnv(t, dir, 30*time.Second, clk)
	if recordNames(prev) != "a,b,nostate" || !e.m.InGrace() {
		t.Fatalf("second boot: records %q, grace %v", recordNames(prev), e.m.InGrace())
	}
	// A new 4.1 client: GRACE before and after its RECLAIM_COMPLETE, and
	// it may not reclaim (not recorded, then done).
	c, _ := e.client41(t, "c", new(int))
	wantErr(t, "c reclaim", e.m.CheckOpen(c, true), nfs4.ErrReclaimBad)
	wantErr(t, "c open before RC", e.m.CheckOpen(c, false), nfs4.ErrGrace)
	wantErr(t, "c RC", e.m.ReclaimComplete(c), nil)
	wantErr(t, "c open in grace", e.m.CheckOpen(c, false), nfs4.ErrGrace)
	wantErr(t, "c reclaim after RC", e.m.CheckOpen(c, true), nfs4.ErrNoGrace)

	// b (4.1) reclaims its open and lock; a new lock is refused.
	b, _ = e.client41(t, "b", new(int))
	wantErr(t, "b CheckOpen reclaim", e.m.CheckOpen(b, true), nil)
	ob, _ = e.m.OpenOwner(b, []byte("ob2"), 1)
	rb, err = e.m.Open(OpenArgs{Owner: ob, FHKey: "f2", Access: nfs4.ShareAccessBoth, Deny: nfs4.ShareDenyWrite, Reclaim: true})
	wantErr(t, "b reclaim open", err, nil)
	lob, _ = e.m.LockOwner(b, []byte("lb"), 1)
	lsid, err := e.m.Lock(LockArgs{StateID: rb.StateID, NewOwner: lob, FHKey: "f2", Type: nfs4.WriteLT, Length: 10, Minor: 1, Reclaim: true})
	wantErr(t, "b reclaim lock", err, nil)
	_, err = e.m.Lock(LockArgs{StateID: lsid, FHKey: "f2", Type: nfs4.WriteLT, Offset: 20, Length: 10, Minor: 1})
	wantErr(t, "b new lock in grace", err, nfs4.ErrGrace)

	// a (4.0) reclaims: no OPEN_CONFIRM needed; a reclaim conflicting with
	// b's reclaimed deny is RECLAIM_CONFLICT.
	a = e.client40(t, "a", "p", 1)
	oa, _ := e.m.OpenOwner(a, []byte("oa"), 0)
	ra, err := e.m.Open(OpenArgs{Owner: oa, FHKey: "f1", Access: nfs4.ShareAccessBoth, Reclaim: true})
	wantErr(t, "a reclaim open", err, nil)
	if ra.Flags&nfs4.OpenResultConfirm != 0 {
		t.Error("reclaimed 4.0 open asks for OPEN_CONFIRM")
	}
	if _, err := e.m.CheckIO(ra.StateID, "f1", true, 0); err != nil {
		t.Fatalf("WRITE with the reclaimed stateid: %v", err)
	}
	_, err = e.m.Open(OpenArgs{Owner: oa, FHKey: "f2", Access: nfs4.ShareAccessWrite, Reclaim: true})
	wantErr(t, "a conflicting reclaim", err, nfs4.ErrReclaimConflict)
	loa, _ := e.m.LockOwner(a, []byte("la"), 0)
	_, err = e.m.Lock(LockArgs{StateID: ra.StateID, NewOwner: loa, FHKey: "f1", Type: nfs4.ReadLT, Length: 5, Reclaim: true})
	wantErr(t, "a reclaim lock", err, nil)

	// b finishes; a is 4.0 (no RECLAIM_COMPLETE), so grace runs to its end.
	wantErr(t, "b RC", e.m.ReclaimComplete(b), nil)
	wantErr(t, "b reclaim after RC", e.m.CheckOpen(b, true), nfs4.ErrNoGrace)
	if !e.m.InGrace() {
		t.Fatal("grace ended early with a 4.0 client recorded")
	}
	clk.Advance(31 * time.Second)
	if e.m.InGrace() {
		t.Fatal("grace outlived GraceTime")
	}
	wantErr(t, "c open after grace", e.m.CheckOpen(c, false), nil)
	_, err = e.m.Open(OpenArgs{Owner: oa, FHKey: "f9", Access: nfs4.ShareAccessRead, Reclaim: true})
	wantErr(t, "a reclaim after grace", err, nfs4.ErrNoGrace)
	// nostate did not come back: dropped.
	if got := recordNames(loadRecords(t, dir)); got != "a,b,c" {
		t.Fatalf("records after grace %q, want a,b,c", got)
	}

	// a's lease runs out: its record goes.
	e.m.Renew(b)
	clk.Advance(lease - time.Second)
	e.m.Renew(b)
	clk.Advance(2 * time.Second)
	if gone := e.m.Reap(clk.Now()); !slices.Contains(gone, a) || slices.Contains(gone, b) {
		t.Fatalf("reaped %v, want a (%d) and not b", gone, a)
	}
	if got := recordNames(loadRecords(t, dir)); got != "b" { // c (stateless) went too
		t.Fatalf("records after a and c expired %q, want b", got)
	}
}

// A recorded client that does not come back loses its record at the end of
// grace, and so cannot reclaim after a later restart (RFC 8881 §8.4.3).
func TestGraceUnreclaimedDropped(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(2_000_000, 0)}
	e, _ := newRecEnv(t, dir, 0, clk)
	b := e.client41done(t, "b")
	ob, _ := e.m.OpenOwner(b, []byte("o"), 1)
	if _, err := e.m.Open(OpenArgs{Owner: ob, FHKey: "f", Access: nfs4.ShareAccessRead}); err != nil {
		t.Fatal(err)
	}
	e.m.cfg.Store.Close()

	// Boot 2 crashes during grace: b's record survives into boot 3.
	e, _ = newRecEnv(t, dir, 0, clk)
	if !e.m.InGrace() || e.m.GraceEnd() != clk.Now().Add(lease) {
		t.Fatalf("grace %v until %v, want the lease time", e.m.InGrace(), e.m.GraceEnd())
	}
	e.client41done(t, "other")
	e.m.cfg.Store.Close()
	e, prev := newRecEnv(t, dir, 0, clk)
	if recordNames(prev) != "b,other" {
		t.Fatalf("boot 3 records %q, want b,other", recordNames(prev))
	}
	// Grace ends without b.
	clk.Advance(lease + time.Second)
	e.m.Reap(clk.Now())
	if got := loadRecords(t, dir); len(got) != 0 {
		t.Fatalf("records after grace %+v, want none", got)
	}
	e.m.cfg.Store.Close()
	e, prev = newRecEnv(t, dir, 0, clk)
	if len(prev) != 0 || e.m.InGrace() {
		t.Fatalf("boot 4: records %+v, grace %v", prev, e.m.InGrace())
	}
	b, _ = e.client41(t, "b", new(int))
	wantErr(t, "b reclaim, boot 4", e.m.CheckOpen(b, true), nfs4.ErrNoGrace)
}

// Grace ends as soon as every recorded (4.1) client sent RECLAIM_COMPLETE;
// DESTROY_CLIENTID removes a record.
func TestGraceEndsEarly(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(3_000_000, 0)}
	e, _ := newRecEnv(t, dir, time.Hour, clk)
	for _, n := range []string{"x", "y"} {
		id := e.client41done(t, n)
		o, _ := e.m.OpenOwner(id, []byte("o"), 1)
		if _, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f" + n, Access: nfs4.ShareAccessRead}); err != nil {
			t.Fatal(err)
		}
	}
	e.m.cfg.Store.Close()
	e, _ = newRecEnv(t, dir, time.Hour, clk)
	x := e.client41done(t, "x")
	if !e.m.InGrace() {
		t.Fatal("grace ended with y still to come")
	}
	y, sy := e.client41(t, "y", new(int))
	wantErr(t, "y RC", e.m.ReclaimComplete(y), nil)
	if e.m.InGrace() {
		t.Fatal("grace goes on after every recorded client finished")
	}
	wantErr(t, "x open", e.m.CheckOpen(x, false), nil)
	if got := recordNames(loadRecords(t, dir)); got != "x,y" {
		t.Fatalf("records %q, want x,y", got)
	}
	o, _ := e.m.OpenOwner(y, []byte("o"), 1)
	r, err := e.m.Open(OpenArgs{Owner: o, FHKey: "f", Access: nfs4.ShareAccessRead})
	wantErr(t, "y open", err, nil)

	if _, err := e.m.Close(r.StateID, 1); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DESTROY_SESSION", e.m.DestroySession(sy), nil)
	wantErr(t, "DESTROY_CLIENTID", e.m.DestroyClientID(y), nil)
	if got := recordNames(loadRecords(t, dir)); got != "x" {
		t.Fatalf("records after DESTROY_CLIENTID %q, want x", got)
	}
}

// Reclaims in progress stretch the grace period, up to twice GraceTime.
func TestGraceStretchedByReclaims(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{t: time.Unix(4_000_000, 0)}
	e, _ := newRecEnv(t, dir, 10*time.Second, clk)
	a := e.client40(t, "a", "p", 1)
	e.open40(t, a, "o", "f", nfs4.ShareAccessRead, nfs4.ShareDenyNone, nil)
	e.m.cfg.Store.Close()
	e, _ = newRecEnv(t, dir, 10*time.Second, clk)
	a = e.client40(t, "a", "p", 1)
	oa, _ := e.m.OpenOwner(a, []byte("o"), 0)
	reclaim := func(fh string) error {
		e.m.Renew(a)
		_, err := e.m.Open(OpenArgs{Owner: oa, FHKey: fh, Access: nfs4.ShareAccessRead, Reclaim: true})
		return err
	}
	clk.Advance(9 * time.Second)
	wantErr(t, "reclaim at 9s", reclaim("f"), nil)
	clk.Advance(1500 * time.Millisecond)
	if !e.m.InGrace() {
		t.Fatal("grace not stretched right after a reclaim")
	}
	for i := range 8 { // one reclaim a second: up to 18.5s
		wantErr(t, "reclaim while stretched", reclaim(fmt.Sprint("g", i)), nil)
		clk.Advance(time.Second)
	}
	clk.Advance(500 * time.Millisecond) // 19s: capped at 20s
	wantErr(t, "reclaim near the cap", reclaim("h"), nil)
	clk.Advance(1500 * time.Millisecond)
	if e.m.InGrace() {
		t.Fatal("grace stretched beyond twice GraceTime")
	}
	wantErr(t, "reclaim after grace", reclaim("k"), nfs4.ErrNoGrace)
}
