package nfs4srv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsbridge/fsbridge/client/nfs4client"
	"github.com/fsbridge/fsbridge/fsadapters/dir"
	"github.com/fsbridge/fsbridge/proto/nfs4"
	"github.com/fsbridge/fsbridge/serve/rpcsrv"
)

// Server restart recovery (serve/state/grace.go) through whole COMPOUNDs:
// two Server instances over one dir export and one state directory.

type restartEnv struct {
	t        *testing.T
	export   string
	stateDir string
}

func newRestartEnv(t *testing.T) *restartEnv {
	return &restartEnv{t: t, export: t.TempDir(), stateDir: filepath.Join(t.TempDir(), "state")}
}

// boot starts a server instance.
func (r *restartEnv) boot(grace time.Duration) *stEnv {
	r.t.Helper()
	fs, err := dir.New(r.export, dir.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	s := New(Config{FS: fs, StateDir: r.stateDir, GraceTime: grace})
	r.t.Cleanup(s.Close)
	return &stEnv{t: r.t, s: s}
}

// crash stops an instance as a crash would: the state directory keeps what
// was written, and the backend files (and their OFD locks) are let go.
func crash(e *stEnv) {
	e.s.Close()
	e.s.state.Reap(time.Now().Add(24 * time.Hour))
}

// session41NoRC is session41 without the RECLAIM_COMPLETE.
func (e *stEnv) session41NoRC(name string, conn any) nfs4.SessionID {
	e.t.Helper()
	_, r := e.call(1, conn, stOp(nfs4.OpExchangeID, &nfs4.ExchangeIDArgs{
		ClientOwner:  nfs4.ClientOwner{Verifier: nfs4.Verifier{7}, OwnerID: []byte(name)},
		StateProtect: nfs4.StateProtectA{How: nfs4.SP4None}}))
	e.must(r, nfs4.OK, 1)
	x := r.Results[0].Res.(*nfs4.ExchangeIDRes)
	ch := nfs4.ChannelAttrs{MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20, MaxResponseSizeCached: 8192,
		MaxOperations: 16, MaxRequests: 4}
	_, r = e.call(1, conn, stOp(nfs4.OpCreateSession, &nfs4.CreateSessionArgs{ClientID: x.ClientID, Sequence: x.SequenceID,
		ForeChanAttrs: ch, BackChanAttrs: ch, CBProgram: 0x40000000}))
	e.must(r, nfs4.OK, 1)
	return r.Results[0].Res.(*nfs4.CreateSessionRes).SessionID
}

func reclaimOpen(seqid uint32, cid uint64, owner string, access uint32) nfs4.ArgOp {
	return stOp(nfs4.OpOpen, &nfs4.OpenArgs{SeqID: seqid, ShareAccess: access, ShareDeny: nfs4.ShareDenyNone,
		Owner: nfs4.OpenOwner{ClientID: cid, Owner: []byte(owner)},
		Claim: nfs4.OpenClaim{Claim: nfs4.ClaimPrevious, DelegateType: nfs4.DelegateNone}})
}

func reclaimLock(openSeq uint32, osid nfs4.StateID, cid uint64, owner string, typ uint32, off, n uint64) nfs4.ArgOp {
	op := lockNew(openSeq, osid, cid, owner, typ, off, n)
	op.Args.(*nfs4.LockArgs).Reclaim = true
	return op
}

func rcOp() nfs4.ArgOp { return stOp(nfs4.OpReclaimComplete, &nfs4.ReclaimCompleteArgs{}) }

// localLockHeld asks the kernel whether a write lock on [off, off+n) of
// path would conflict (the reclaimed lock is mirrored as an OFD lock).
func localLockHeld(t *testing.T, path string, off, n int64) bool {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: n}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		t.Fatal(err)
	}
	return lk.Type != unix.F_UNLCK
}

func TestRestartReclaim41(t *testing.T) {
	env := newRestartEnv(t)
	e := env.boot(time.Minute)
	if e.s.state.InGrace() {
		t.Fatal("first boot (no records) is in grace")
	}
	connA := new(int)
	_, sessA := e.session41("client-A", connA)
	raw, r := e.call(1, connA, seqOp(sessA, 1, 0), stPutRoot(),
		openOp(0, 0, "oa", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", guarded), stGetFH(),
		lockNew(0, nfs4.CurrentStateID, 0, "LA", nfs4.WriteLT, 0, 10))
	e.must(r, nfs4.OK, 5)
	fh := r0fh(t, raw)
	path := filepath.Join(env.export, "f")
	if !localLockHeld(t, path, 0, 10) {
		t.Fatal("lock not mirrored to the backend")
	}

	crash(e)
	if localLockHeld(t, path, 0, 10) {
		t.Fatal("lock survived the crash")
	}
	e = env.boot(time.Minute)
	if !e.s.state.InGrace() {
		t.Fatal("second boot (A recorded) is not in grace")
	}
	// A fresh client B: its opens and LOCKT wait for the grace period.
	connB := new(int)
	_, sessB := e.session41("client-B", connB)
	_, r = e.call(1, connB, seqOp(sessB, 1, 0), stPutRoot(),
		openOp(0, 0, "ob", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "g", guarded))
	e.must(r, nfs4.ErrGrace, 3)
	_, r = e.call(1, connB, seqOp(sessB, 2, 0), stPutFH(fh), stOp(nfs4.OpLockT, &nfs4.LockTArgs{
		LockType: nfs4.WriteLT, Offset: 0, Length: 1, Owner: nfs4.LockOwner{Owner: []byte("LB")}}))
	e.must(r, nfs4.ErrGrace, 3)
	// B held nothing before: it may not reclaim.
	_, r = e.call(1, connB, seqOp(sessB, 3, 0), stPutFH(fh), reclaimOpen(0, 0, "ob", nfs4.ShareAccessRead))
	e.must(r, nfs4.ErrNoGrace, 3) // B already sent RECLAIM_COMPLETE
	connZ := new(int)
	sessZ := e.session41NoRC("client-Z", connZ)
	_, r = e.call(1, connZ, seqOp(sessZ, 1, 0), stPutFH(fh), reclaimOpen(0, 0, "oz", nfs4.ShareAccessRead))
	e.must(r, nfs4.ErrReclaimBad, 3)

	// A comes back (same owner and verifier), reclaims its open and lock.
	sessA = e.session41NoRC("client-A", connA)
	_, r = e.call(1, connA, seqOp(sessA, 1, 0), stPutFH(fh), reclaimOpen(0, 0, "oa2", nfs4.ShareAccessBoth),
		reclaimLock(0, nfs4.CurrentStateID, 0, "LA", nfs4.WriteLT, 0, 10))
	e.must(r, nfs4.OK, 4)
	osid := r.Results[2].Res.(*nfs4.OpenRes).StateID
	if !localLockHeld(t, path, 0, 10) {
		t.Fatal("reclaimed lock not mirrored to the backend")
	}
	// I/O with the reclaimed stateid works during grace; a new lock not.
	_, r = e.call(1, connA, seqOp(sessA, 2, 0), stPutFH(fh),
		stOp(nfs4.OpWrite, &nfs4.WriteArgs{StateID: osid, Stable: nfs4.FileSync4, Data: []byte("hello")}),
		lockNew(0, osid, 0, "LA2", nfs4.WriteLT, 20, 10))
	e.must(r, nfs4.ErrGrace, 4)
	_, r = e.call(1, connA, seqOp(sessA, 3, 0), rcOp())
	e.must(r, nfs4.OK, 2)
	// A was the only recorded client: grace is over, B proceeds, and A's
	// reclaimed lock holds against it.
	if e.s.state.InGrace() {
		t.Fatal("grace goes on after the only recorded client finished")
	}
	_, r = e.call(1, connB, seqOp(sessB, 4, 0), stPutRoot(),
		openOp(0, 0, "ob", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "f", nil),
		lockNew(0, nfs4.CurrentStateID, 0, "LB", nfs4.WriteLT, 5, 1))
	e.must(r, nfs4.ErrDenied, 4)
	_, r = e.call(1, connA, seqOp(sessA, 4, 0), stPutFH(fh), reclaimOpen(0, 0, "oa3", nfs4.ShareAccessRead))
	e.must(r, nfs4.ErrNoGrace, 3)
	if b, err := os.ReadFile(path); err != nil || string(b) != "hello" {
		t.Fatalf("file %q %v", b, err)
	}

	// Third boot: A and B hold state, so both are recorded; B's
	// RECLAIM_COMPLETE alone does not end grace.
	crash(e)
	e = env.boot(time.Minute)
	sessB = e.session41NoRC("client-B", connB)
	_, r = e.call(1, connB, seqOp(sessB, 1, 0), rcOp())
	e.must(r, nfs4.OK, 2)
	if !e.s.state.InGrace() {
		t.Fatal("grace ended with A still to reclaim")
	}
}

// A 4.0 client reclaims (no OPEN_CONFIRM for a CLAIM_PREVIOUS owner); with
// a 4.0 client recorded the grace period runs for its whole time.
func TestRestartReclaim40(t *testing.T) {
	env := newRestartEnv(t)
	e := env.boot(0)
	c := e.client40("client-C")
	fh, sid := e.open40(c, "oc", nfs4.ShareAccessBoth, nfs4.ShareDenyNone, "g", guarded)
	_, r := e.call(0, nil, stPutFH(fh), lockNew(3, sid, c, "LC", nfs4.ReadLT, 0, 5))
	e.must(r, nfs4.OK, 2)

	crash(e)
	const grace = 300 * time.Millisecond
	e = env.boot(grace)
	start := time.Now()
	c = e.client40("client-C")
	_, r = e.call(0, nil, stPutFH(fh), reclaimOpen(1, c, "oc", nfs4.ShareAccessBoth))
	e.must(r, nfs4.OK, 2)
	o := r.Results[1].Res.(*nfs4.OpenRes)
	if o.RFlags&nfs4.OpenResultConfirm != 0 {
		t.Fatalf("reclaim asks for OPEN_CONFIRM: rflags %#x", o.RFlags)
	}
	_, r = e.call(0, nil, stPutFH(fh), reclaimLock(2, o.StateID, c, "LC", nfs4.ReadLT, 0, 5))
	e.must(r, nfs4.OK, 2)
	d := e.client40("client-D")
	_, r = e.call(0, nil, stPutRoot(), openOp(1, d, "od", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "g", nil))
	e.must(r, nfs4.ErrGrace, 2)
	if time.Since(start) < grace && !e.s.state.InGrace() {
		t.Fatal("grace ended early with a 4.0 client recorded")
	}
	// The reclaims just now stretch grace to its cap, twice GraceTime.
	time.Sleep(time.Until(start.Add(2*grace + 50*time.Millisecond)))
	// (GRACE advanced the owner's seqid: RFC 7530 §9.1.7.)
	_, r = e.call(0, nil, stPutRoot(), openOp(2, d, "od", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "g", nil))
	e.must(r, nfs4.OK, 2)
	_, r = e.call(0, nil, stPutFH(fh), reclaimOpen(3, c, "oc", nfs4.ShareAccessRead))
	e.must(r, nfs4.ErrNoGrace, 2)
}

// Without records (or without a state directory) there is no grace period.
func TestRestartNoRecords(t *testing.T) {
	env := newRestartEnv(t)
	e := env.boot(time.Minute)
	crash(e)
	e = env.boot(time.Minute)
	if e.s.state.InGrace() {
		t.Fatal("grace period with no client recorded")
	}
	c := e.client40("c")
	_, r := e.call(0, nil, stPutRoot(), openOp(1, c, "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "f", guarded))
	e.must(r, nfs4.OK, 2)
}

// The protocol client library (client/nfs4client recover.go) against a real
// restart over TCP: it reconnects, reclaims its open with CLAIM_PREVIOUS,
// sends RECLAIM_COMPLETE and its open file keeps working with the new
// stateid. A recorded 4.0 client keeps the grace period going, so only a
// reclaim (not a fresh open) can have given the file back.
func TestRestartClientLibraryRecovers(t *testing.T) {
	env := newRestartEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	serve := func(s *Server, addr string) (*rpcsrv.Server, string) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &rpcsrv.Server{Handler: s, Logf: func(string, ...any) {}}
		go r.Serve(l)
		return r, l.Addr().String()
	}
	e := env.boot(time.Minute)
	r1, addr := serve(e.s, "127.0.0.1:0")

	c, err := nfs4client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetupSession(ctx, 1); err != nil {
		t.Fatal(err)
	}
	root, err := c.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, root, "f", nfs4client.CreateHow{Mode: nfs4.Guarded4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, f.FH, f.SID(), 0, []byte("before"), nfs4.FileSync4); err != nil {
		t.Fatal(err)
	}
	e.open40(e.client40("other40"), "o", nfs4.ShareAccessRead, nfs4.ShareDenyNone, "g", guarded)

	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	r1.Shutdown(sctx)
	scancel()
	crash(e)
	e = env.boot(time.Minute)
	r2, _ := serve(e.s, addr)
	defer r2.Shutdown(ctx)
	if !e.s.state.InGrace() {
		t.Fatal("no grace period after the restart")
	}

	// The first call after the restart triggers recovery; a stateid
	// captured before it is stale, the file's current one works.
	for try := 0; ; try++ {
		_, err = c.Write(ctx, f.FH, f.SID(), 6, []byte(" after"), nfs4.FileSync4)
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil {
		t.Fatalf("WRITE after the restart: %v", err)
	}
	if c.Epoch() != 1 {
		t.Fatalf("client epoch %d, want 1 recovery", c.Epoch())
	}
	if !e.s.state.InGrace() {
		t.Fatal("grace period ended with a 4.0 client recorded")
	}
	if b, err := os.ReadFile(filepath.Join(env.export, "f")); err != nil || string(b) != "before after" {
		t.Fatalf("file %q %v", b, err)
	}
	if err := c.CloseFile(ctx, f); err != nil {
		t.Fatalf("CLOSE with the reclaimed stateid: %v", err)
	}
}
