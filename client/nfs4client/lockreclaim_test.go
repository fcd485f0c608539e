package nfs4client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fsbridge/fsbridge/internal/testbin"
	"github.com/fsbridge/fsbridge/proto/nfs4"
)

const eof = math.MaxUint64

// fmtRanges renders rs as "start-end{r|w} …" with "EOF" for the open end.
func fmtRanges(rs lockRanges) string {
	var b []string
	for _, r := range rs {
		end := fmt.Sprint(r.end)
		if r.end == eof {
			end = "EOF"
		}
		t := "r"
		if r.write {
			t = "w"
		}
		b = append(b, fmt.Sprintf("%d-%s%s", r.start, end, t))
	}
	return strings.Join(b, " ")
}

type rangeOp struct {
	unlock      bool
	off, length uint64
	write       bool
}

func lk(off, length uint64, write bool) rangeOp {
	return rangeOp{off: off, length: length, write: write}
}
func ulk(off, length uint64) rangeOp { return rangeOp{unlock: true, off: off, length: length} }

func TestLockRanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []rangeOp
		want string
	}{
		{"one", []rangeOp{lk(0, 10, true)}, "0-10w"},
		{"adjacent same type merge", []rangeOp{lk(0, 10, true), lk(10, 10, true)}, "0-20w"},
		{"adjacent merge, other order", []rangeOp{lk(10, 10, false), lk(0, 10, false)}, "0-20r"},
		{"adjacent other type stay apart", []rangeOp{lk(0, 10, true), lk(10, 10, false)}, "0-10w 10-20r"},
		{"overlap same type extends", []rangeOp{lk(0, 10, true), lk(5, 10, true)}, "0-15w"},
		{"write splits read", []rangeOp{lk(0, 30, false), lk(10, 10, true)}, "0-10r 10-20w 20-30r"},
		{"read over write downgrades", []rangeOp{lk(0, 30, true), lk(0, 30, false)}, "0-30r"},
		{"unlock middle splits", []rangeOp{lk(0, 30, true), ulk(10, 10)}, "0-10w 20-30w"},
		{"unlock all", []rangeOp{lk(0, 30, true), lk(40, 5, false), ulk(0, eof)}, ""},
		{"unlock nothing held", []rangeOp{lk(0, 10, true), ulk(20, 10)}, "0-10w"},
		{"unlock overlapping two", []rangeOp{lk(0, 10, true), lk(20, 10, false), ulk(5, 20)}, "0-5w 25-30r"},
		{"to EOF", []rangeOp{lk(5, eof, false)}, "5-EOFr"},
		{"unlock tail of EOF range", []rangeOp{lk(5, eof, false), ulk(10, eof)}, "5-10r"},
		{"unlock head of EOF range", []rangeOp{lk(5, eof, true), ulk(0, 10)}, "10-EOFw"},
		{"write inside EOF range", []rangeOp{lk(0, eof, false), lk(100, 1, true)}, "0-100r 100-101w 101-EOFr"},
		{"length past 2^64 is to EOF", []rangeOp{lk(eof-5, 10, true)}, fmt.Sprintf("%d-EOFw", uint64(eof-5))},
		{"bridge merges three", []rangeOp{lk(0, 5, false), lk(10, 5, true), lk(20, 5, false), lk(3, 19, false)}, "0-25r"},
		{"bridge stops at other type", []rangeOp{lk(0, 5, false), lk(30, 5, true), lk(5, 25, false)}, "0-30r 30-35w"},
		{"zero length ignored", []rangeOp{lk(0, 0, true), ulk(0, 0)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rs lockRanges
			for _, o := range tc.ops {
				if o.unlock {
					rs = rs.unlock(o.off, rangeEnd(o.off, o.length))
				} else {
					rs = rs.lock(o.off, rangeEnd(o.off, o.length), o.write)
				}
			}
			if got := fmtRanges(rs); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Random lock/unlock sequences over a small file agree with a byte-by-byte
// model, and the set stays sorted, disjoint and merged.
func TestLockRangesModel(t *testing.T) {
	const size = 48 // byte `size` and beyond stand for "to EOF"
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		var rs lockRanges
		var model [size + 1]byte // 0 none, 1 read, 2 write; model[size]: the tail
		for step := 0; step < 12; step++ {
			off := uint64(r.IntN(size))
			length := uint64(1 + r.IntN(size-int(off)))
			toEOF := r.IntN(5) == 0
			end := off + length
			if toEOF {
				length, end = eof, size+1
			}
			v := byte(0)
			if r.IntN(3) == 0 {
				rs = rs.unlock(off, rangeEnd(off, length))
			} else {
				v = byte(1 + r.IntN(2))
				rs = rs.lock(off, rangeEnd(off, length), v == 2)
			}
			for i := off; i < end; i++ {
				model[i] = v
			}
		}
		var got [size + 1]byte
		for i, x := range rs {
			if x.start >= x.end || (i > 0 && (rs[i-1].end > x.start || (rs[i-1].end == x.start && rs[i-1].write == x.write))) {
				t.Fatalf("not sorted/disjoint/merged: %s", fmtRanges(rs))
			}
			end := min(x.end, size+1)
			if x.end != eof && x.end > size {
				t.Fatalf("end beyond the test file: %s", fmtRanges(rs))
			}
			for b := x.start; b < end; b++ {
				got[b] = 1
				if x.write {
					got[b] = 2
				}
			}
		}
		// The tail byte is held iff some range reaches EOF.
		if got != model {
			t.Fatalf("ranges %s\ngot   %v\nmodel %v", fmtRanges(rs), got, model)
		}
	}
}

// pastBootSecond waits for the next second of the clock before a
// restart: fs_serv's boot epoch (the high half of its client IDs) is the
// Unix second it started, so an instance restarted within the second it
// first started in hands out the old instance's client IDs again, and a
// client's stale ID then names another client (CREATE_SESSION succeeds
// instead of NFS4ERR_STALE_CLIENTID; see the report: serve/state newEpoch).
func pastBootSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
}

// startLockServer runs fs_serv on a loopback port with a short lease and
// grace period; extra arguments go first.
func startLockServer(t *testing.T, port, export string, extra ...string) *testbin.Server {
	args := append(extra, "-p", port, "--listen", "127.0.0.1", "--lease", "2s", "--grace", "4s", export)
	return testbin.StartFsServ(t, args...)
}

// waitEpoch makes c notice the restart (any call does) and waits for its
// recovery.
func waitEpoch(t *testing.T, ctx context.Context, c *Client, root []byte, want uint64) {
	t.Helper()
	for c.Epoch() < want {
		if _, err := c.GetAttr(ctx, root, bitmap(nfs4.AttrType)); err != nil && ctx.Err() != nil {
			t.Fatalf("no recovery: %v", err)
		}
	}
}

// A client's byte-range locks survive a kill -9 and restart of fs_serv:
// recovery reclaims them, a second client is refused them, and the first
// unlocks them with the reclaimed lock stateid.
func TestLockReclaimAfterRestart(t *testing.T) {
	export := t.TempDir()
	srv := startLockServer(t, "0", export)
	_, port, _ := net.SplitHostPort(srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c1 := dial42(t, srv.Addr, 1)
	root, err := c1.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c1.Create(ctx, root, "locked", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	owner := []byte("owner-1")
	sid, err := c1.Lock(ctx, f.FH, f.SID(), nfs4.StateID{}, owner, nfs4.WriteLT, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	// Split: read in the middle of the write range; read to EOF from 1000.
	if sid, err = c1.Lock(ctx, f.FH, nfs4.StateID{}, sid, nil, nfs4.ReadLT, 40, 20); err != nil {
		t.Fatal(err)
	}
	if sid, err = c1.Lock(ctx, f.FH, nfs4.StateID{}, sid, nil, nfs4.ReadLT, 1000, eof); err != nil {
		t.Fatal(err)
	}
	if got, err := c1.LockStateID(f, owner); err != nil || got.Other != sid.Other {
		t.Fatalf("LockStateID before the restart: %v %v, want %v", got, err, sid)
	}

	pastBootSecond()
	srv.Kill()
	srv = startLockServer(t, port, export)
	waitEpoch(t, ctx, c1, root, 1)

	nsid, err := c1.LockStateID(f, owner)
	if err != nil || nsid == (nfs4.StateID{}) {
		t.Fatalf("LockStateID after recovery: %v %v", nsid, err)
	}
	c2 := dial42(t, srv.Addr, 1)
	test := func(typ uint32, off, length uint64) error {
		return c2.LockT(ctx, f.FH, []byte("owner-2"), typ, off, length)
	}
	var d *Denied
	for _, tc := range []struct {
		typ         uint32
		off, length uint64
		denied      bool
	}{
		{nfs4.WriteLT, 10, 1, true},     // write range reclaimed
		{nfs4.ReadLT, 10, 1, true},      // … as a write lock
		{nfs4.ReadLT, 45, 5, false},     // the read range in the middle
		{nfs4.WriteLT, 45, 5, true},     // … is still a read lock
		{nfs4.WriteLT, 70, 30, true},    // the write tail after the split
		{nfs4.WriteLT, 100, 900, false}, // never locked
		{nfs4.WriteLT, 5000, 1, true},   // read lock to EOF
		{nfs4.ReadLT, 5000, eof, false},
	} {
		err := test(tc.typ, tc.off, tc.length)
		if tc.denied != errors.As(err, &d) || (!tc.denied && err != nil) {
			t.Errorf("LOCKT type %d [%d,+%d) by another client after the restart: %v, denied want %v",
				tc.typ, tc.off, tc.length, err, tc.denied)
		}
	}
	// The holder unlocks everything with the reclaimed stateid.
	usid, err := c1.LockU(ctx, f.FH, nfs4.StateID{Other: nsid.Other}, nfs4.WriteLT, 0, eof)
	if err != nil {
		t.Fatalf("LOCKU with the reclaimed stateid: %v", err)
	}
	if err := test(nfs4.WriteLT, 0, eof); err != nil {
		t.Fatalf("LOCKT after the holder unlocked: %v", err)
	}
	if err := c1.FreeStateID(ctx, usid); err != nil {
		t.Fatalf("FREE_STATEID: %v", err)
	}
	if got, err := c1.LockStateID(f, owner); err != nil || got != (nfs4.StateID{}) {
		t.Fatalf("LockStateID after FREE_STATEID: %v %v", got, err)
	}
	if err := c1.CloseFile(ctx, f); err != nil {
		t.Fatalf("CLOSE after the reclaimed locks were released: %v", err)
	}
}

// A client that comes back only after the restarted server's grace period
// cannot reclaim: its locks are lost, LockStateID says so, and another
// client can take the range.
func TestLockLostAfterRestart(t *testing.T) {
	export := t.TempDir()
	srv := startLockServer(t, "0", export)
	_, port, _ := net.SplitHostPort(srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c1 := dial42(t, srv.Addr, 1)
	var reported []string
	c1.OnLockLost(func(fh, owner []byte, err error) { reported = append(reported, string(owner)) })
	root, err := c1.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c1.Create(ctx, root, "locked", CreateHow{Mode: nfs4.Unchecked4})
	if err != nil {
		t.Fatal(err)
	}
	owner := []byte("owner-1")
	if _, err := c1.Lock(ctx, f.FH, f.SID(), nfs4.StateID{}, owner, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}
	pastBootSecond()
	srv.Kill()
	srv = startLockServer(t, port, export)
	time.Sleep(5 * time.Second) // past the 4 s grace period
	waitEpoch(t, ctx, c1, root, 1)
	if _, err := c1.LockStateID(f, owner); !errors.Is(err, ErrLockLost) {
		t.Fatalf("LockStateID after an unreclaimable restart: %v, want ErrLockLost", err)
	}
	if len(reported) != 1 || reported[0] != string(owner) {
		t.Fatalf("OnLockLost reports: %q", reported)
	}
	c2 := dial42(t, srv.Addr, 1)
	if err := c2.LockT(ctx, f.FH, []byte("owner-2"), nfs4.WriteLT, 0, 100); err != nil {
		t.Fatalf("LOCKT by another client of the lost range: %v", err)
	}
	// The open itself was re-opened; the owner locks afresh, which
	// clears the loss.
	sid, err := c1.Lock(ctx, f.FH, f.SID(), nfs4.StateID{}, owner, nfs4.WriteLT, 0, 100)
	if err != nil {
		t.Fatalf("locking afresh after the loss: %v", err)
	}
	if got, err := c1.LockStateID(f, owner); err != nil || got.Other != sid.Other {
		t.Fatalf("LockStateID after locking afresh: %v %v", got, err)
	}
}
