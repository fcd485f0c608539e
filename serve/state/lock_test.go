package state

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/fsbridge/fsbridge/proto/nfs4"
)

func TestSetRange(t *testing.T) {
	const R, W = nfs4.ReadLT, nfs4.WriteLT
	const max = math.MaxUint64
	tests := []struct {
		name       string
		in         []lockRange
		start, end uint64
		typ        uint32
		want       []lockRange
	}{
		{"into empty", nil, 5, 9, R, []lockRange{{5, 9, R}}},
		{"merge adjacent", []lockRange{{0, 4, R}}, 5, 9, R, []lockRange{{0, 9, R}}},
		{"no merge of other type", []lockRange{{0, 4, W}}, 5, 9, R, []lockRange{{0, 4, W}, {5, 9, R}}},
		{"merge overlapping", []lockRange{{0, 6, R}, {8, 20, R}}, 5, 9, R, []lockRange{{0, 20, R}}},
		{"split by unlock", []lockRange{{0, max, W}}, 10, 19, 0, []lockRange{{0, 9, W}, {20, max, W}}},
		{"downgrade middle", []lockRange{{0, 99, W}}, 10, 19, R, []lockRange{{0, 9, W}, {10, 19, R}, {20, 99, W}}},
		{"unlock all", []lockRange{{0, 9, R}, {20, 29, W}}, 0, max, 0, []lockRange{}},
		{"unlock nothing held", []lockRange{{0, 9, R}}, 10, 19, 0, []lockRange{{0, 9, R}}},
		{"to EOF", []lockRange{{0, 9, R}}, 10, max, R, []lockRange{{0, max, R}}},
	}
	for _, tc := range tests {
		got := setRange(tc.in, tc.start, tc.end, tc.typ)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRangeOf(t *testing.T) {
	if _, _, err := rangeOf(0, 0); !errors.Is(err, nfs4.ErrInval) {
		t.Error("length 0 accepted")
	}
	if _, _, err := rangeOf(math.MaxUint64-1, 3); !errors.Is(err, nfs4.ErrInval) {
		t.Error("overflowing range accepted")
	}
	if s, e, err := rangeOf(math.MaxUint64-1, 2); err != nil || s != math.MaxUint64-1 || e != math.MaxUint64 {
		t.Errorf("range to 2^64-1: %d %d %v", s, e, err)
	}
	if _, e, err := rangeOf(7, math.MaxUint64); err != nil || e != math.MaxUint64 {
		t.Errorf("to EOF: %d %v", e, err)
	}
}

// recHook plays a backend: it applies each change as fcntl would and keeps
// the resulting ranges per file/owner in calls.
type recHook struct {
	calls map[string][]LockRange
	held  map[string][]lockRange
}

func (h *recHook) SetLock(fh string, open any, o *Owner, start, end uint64, typ uint32) error {
	k := fh + "/" + string(o.Name())
	if h.held == nil {
		h.held = map[string][]lockRange{}
	}
	h.held[k] = setRange(h.held[k], start, end, typ)
	h.calls[k] = exportRanges(h.held[k])
	return nil
}

func (h *recHook) Drop(fh string, o *Owner) {
	k := fh + "/" + string(o.Name())
	delete(h.held, k)
	h.calls[k] = []LockRange{}
}

func TestLocks(t *testing.T) {
	e := newEnv(t)
	hook := &recHook{calls: map[string][]LockRange{}}
	e.m.cfg.Locks = hook
	id := e.client40(t, "a", "p", 1)
	_, s1 := e.open40(t, id, "o1", "f", both, 0, "h1")
	_, s2 := e.open40(t, id, "o2", "f", both, 0, "h2")
	_, sr := e.open40(t, id, "o3", "f", rd, 0, nil)
	l1, _ := e.m.LockOwner(id, []byte("L1"), 0)
	l2, _ := e.m.LockOwner(id, []byte("L2"), 0)
	l3, _ := e.m.LockOwner(id, []byte("L3"), 0)

	// L1 write-locks [0,100).
	ls1, err := e.m.Lock(LockArgs{StateID: s1, NewOwner: l1, FHKey: "f", Type: nfs4.WriteLT, Offset: 0, Length: 100})
	wantErr(t, "LOCK L1", err, nil)
	if ls1.SeqID != 1 {
		t.Fatalf("new lock stateid seqid %d", ls1.SeqID)
	}
	if got := hook.calls["f/L1"]; len(got) != 1 || got[0] != (LockRange{0, 100, nfs4.WriteLT}) {
		t.Fatalf("hook saw %v", got)
	}
	// L2 read-lock overlapping: denied with L1's range.
	_, err = e.m.Lock(LockArgs{StateID: s2, NewOwner: l2, FHKey: "f", Type: nfs4.ReadLT, Offset: 50, Length: 10})
	var d *LockDenied
	if !errors.As(err, &d) || !errors.Is(err, nfs4.ErrDenied) {
		t.Fatalf("conflicting LOCK: %v", err)
	}
	if d.Offset != 0 || d.Length != 100 || d.Type != nfs4.WriteLT || string(d.Owner) != "L1" || d.ClientID != id {
		t.Fatalf("denied %+v", d)
	}
	// Denied new lock owner left no stateid behind.
	if len(l2.locks) != 0 {
		t.Fatal("failed LOCK left lock state")
	}
	// L2 beyond the range is fine.
	ls2, err := e.m.Lock(LockArgs{StateID: s2, NewOwner: l2, FHKey: "f", Type: nfs4.ReadLT, Offset: 100, Length: 10})
	wantErr(t, "LOCK L2 adjacent", err, nil)
	// LOCKT.
	wantErr(t, "LOCKT free range", e.m.LockT("f", id, []byte("L3"), nfs4.WriteLT, 200, 10), nil)
	err = e.m.LockT("f", id, []byte("L3"), nfs4.ReadLT, 105, 1)
	wantErr(t, "LOCKT read vs read", err, nil)
	err = e.m.LockT("f", id, []byte("L3"), nfs4.WriteLT, 105, 1)
	if !errors.As(err, &d) || d.Offset != 100 || string(d.Owner) != "L2" {
		t.Fatalf("LOCKT vs L2: %v", err)
	}
	wantErr(t, "LOCKT own range", e.m.LockT("f", id, []byte("L1"), nfs4.WriteLT, 0, 10), nil)
	wantErr(t, "LOCKT other file", e.m.LockT("g", id, []byte("L3"), nfs4.WriteLT, 0, 10), nil)

	// L1 unlocks the middle: split into [0,40) and [60,100).
	ls1b, err := e.m.LockU(ls1, "f", nfs4.WriteLT, 40, 20, 0)
	wantErr(t, "LOCKU", err, nil)
	if ls1b.SeqID != ls1.SeqID+1 || ls1b.Other != ls1.Other {
		t.Fatalf("LOCKU stateid %+v", ls1b)
	}
	if got := hook.calls["f/L1"]; len(got) != 2 || got[0] != (LockRange{0, 40, nfs4.WriteLT}) || got[1] != (LockRange{60, 40, nfs4.WriteLT}) {
		t.Fatalf("after split hook saw %v", got)
	}
	_, err = e.m.LockU(ls1, "f", nfs4.WriteLT, 0, 1, 0)
	wantErr(t, "LOCKU old stateid", err, nfs4.ErrOldStateID)
	// Now the hole is free for L2 (existing lock owner: lock stateid), merging with nothing.
	ls2b, err := e.m.Lock(LockArgs{StateID: ls2, FHKey: "f", Type: nfs4.ReadLT, Offset: 45, Length: 10})
	wantErr(t, "LOCK L2 in hole", err, nil)
	if ls2b.SeqID != ls2.SeqID+1 {
		t.Fatalf("existing lock stateid seqid %d", ls2b.SeqID)
	}
	// Merge: L1 relocks [40,60) but [45,55) is L2's read lock → denied.
	_, err = e.m.Lock(LockArgs{StateID: ls1b, FHKey: "f", Type: nfs4.WriteLT, Offset: 40, Length: 20})
	wantErr(t, "LOCK over L2 read", err, nfs4.ErrDenied)
	// L2 drops [45,55); L1 relocks and its ranges merge back into one.
	ls2c, err := e.m.LockU(ls2b, "f", nfs4.ReadLT, 45, 10, 0)
	wantErr(t, "LOCKU L2", err, nil)
	ls1c, err := e.m.Lock(LockArgs{StateID: ls1b, FHKey: "f", Type: nfs4.WriteLT, Offset: 40, Length: 20})
	wantErr(t, "LOCK merge", err, nil)
	if got := hook.calls["f/L1"]; len(got) != 1 || got[0] != (LockRange{0, 100, nfs4.WriteLT}) {
		t.Fatalf("after merge hook saw %v", got)
	}
	// Write lock through a read-only open.
	_, err = e.m.Lock(LockArgs{StateID: sr, NewOwner: l3, FHKey: "f", Type: nfs4.WriteLT, Offset: 500, Length: 1})
	wantErr(t, "write lock on read open", err, nfs4.ErrOpenMode)
	// Wrong file, bad ranges, bad type.
	_, err = e.m.Lock(LockArgs{StateID: ls1c, FHKey: "g", Type: nfs4.WriteLT, Offset: 0, Length: 1})
	wantErr(t, "wrong file", err, nfs4.ErrBadStateID)
	_, err = e.m.Lock(LockArgs{StateID: ls1c, FHKey: "f", Type: nfs4.WriteLT, Offset: 0, Length: 0})
	wantErr(t, "zero length", err, nfs4.ErrInval)
	_, err = e.m.Lock(LockArgs{StateID: ls1c, FHKey: "f", Type: 9, Offset: 0, Length: 1})
	wantErr(t, "bad type", err, nfs4.ErrInval)

	// RELEASE_LOCKOWNER while the owner holds locks.
	wantErr(t, "RELEASE_LOCKOWNER L1", e.m.ReleaseLockOwner(id, []byte("L1")), nfs4.ErrLocksHeld)
	_, err = e.m.LockU(ls1c, "f", nfs4.WriteLT, 0, math.MaxUint64, 0)
	wantErr(t, "LOCKU all", err, nil)
	wantErr(t, "RELEASE_LOCKOWNER L1", e.m.ReleaseLockOwner(id, []byte("L1")), nil)
	_, err = e.m.LookupStateID(ls1c, 0)
	wantErr(t, "released lock stateid", err, nfs4.ErrBadStateID)
	wantErr(t, "RELEASE_LOCKOWNER unknown", e.m.ReleaseLockOwner(id, []byte("nope")), nil)
	_, err = e.m.Close(s1, 0)
	wantErr(t, "CLOSE after release", err, nil)
	// L2 still holds [100,110): CLOSE releases it with the open
	// (RFC 7530 §16.2.4 lets the server free the locks), drops the lock
	// stateid, and another owner may then lock the range.
	_, err = e.m.Close(s2, 0)
	wantErr(t, "CLOSE s2 with locks", err, nil)
	_, err = e.m.LookupStateID(ls2c, 0)
	wantErr(t, "lock stateid after its open closed", err, nfs4.ErrBadStateID)
	if got, ok := hook.calls["f/L2"]; !ok || len(got) != 0 {
		t.Fatalf("CLOSE did not release L2's backend locks: %v", got)
	}
	wantErr(t, "LOCKT after CLOSE released L2", e.m.LockT("f", id, []byte("L3"), nfs4.WriteLT, 100, 10), nil)
}

func TestLockStateReleasedOnExpiry(t *testing.T) {
	e := newEnv(t)
	hook := &recHook{calls: map[string][]LockRange{}}
	e.m.cfg.Locks = hook
	a := e.client40(t, "a", "p", 1)
	b := e.client40(t, "b", "p", 1)
	_, sa := e.open40(t, a, "o", "f", both, 0, "ha")
	_, sb := e.open40(t, b, "o", "f", both, 0, "hb")
	la, _ := e.m.LockOwner(a, []byte("L"), 0)
	lb, _ := e.m.LockOwner(b, []byte("L"), 0)
	_, err := e.m.Lock(LockArgs{StateID: sa, NewOwner: la, FHKey: "f", Type: nfs4.WriteLT, Offset: 0, Length: math.MaxUint64})
	wantErr(t, "LOCK a", err, nil)
	_, err = e.m.Lock(LockArgs{StateID: sb, NewOwner: lb, FHKey: "f", Type: nfs4.ReadLT, Offset: 0, Length: 1})
	wantErr(t, "LOCK b (same owner name, other client)", err, nfs4.ErrDenied)
	e.clk.Advance(lease)
	e.m.Renew(b)
	e.m.Reap(e.clk.Now())
	if got, ok := hook.calls["f/L"]; !ok || len(got) != 0 {
		t.Fatalf("hook after expiry: %v %v", got, ok)
	}
	lb, _ = e.m.LockOwner(b, []byte("L"), 0)
	_, err = e.m.Lock(LockArgs{StateID: sb, NewOwner: lb, FHKey: "f", Type: nfs4.ReadLT, Offset: 0, Length: 1})
	wantErr(t, "LOCK b after a expired", err, nil)
}
